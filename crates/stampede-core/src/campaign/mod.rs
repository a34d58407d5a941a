//! Campaigns: a limited number of winning entries, first come,
//! first served, through the same gate as coupons. A winning entry lets its
//! user buy the campaign's product (verified by payments).

use crate::events::{topics, DomainEvent};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A winning entry, published before the user hears "won"; persisted as a
/// `campaign_entries` row by a batch consumer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CampaignEntrySucceeded {
    pub entry_id: Uuid,
    pub campaign_id: u64,
    pub user_id: u64,
    pub created_at: DateTime<Utc>,
}

impl DomainEvent for CampaignEntrySucceeded {
    const EVENT_TYPE: &'static str = topics::CAMPAIGN_ENTRY_SUCCEEDED;
    fn aggregate_type(&self) -> &'static str {
        "campaign"
    }
    fn aggregate_id(&self) -> String {
        self.campaign_id.to_string()
    }
}
