//! Persists campaign winners (`campaign.entry.succeeded`) into
//! `campaign_entries`, in batches.

use crate::persist_winners;
use stampede_infra::kafka::consumer::ConsumerSpec;
use stampede_infra::mysql::campaigns::CampaignEntries;
use stampede_infra::Infra;

pub const NAME: &str = "campaign-entry-persist";
/// Its consumer group (the healer waits on how far it has read).
pub const GROUP: &str = "campaign-entry-persist-group";

pub fn spec(infra: &Infra) -> ConsumerSpec {
    persist_winners::spec::<CampaignEntries>(NAME, GROUP, infra)
}
