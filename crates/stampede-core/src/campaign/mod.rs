//! Campaigns: a limited number of winning entries, first come,
//! first served, through the same gate as coupons. A winning entry lets its
//! user buy the campaign's product (verified by payments).

use crate::events::{topics, DomainEvent};
use crate::fcfs::{IssueWindow, NewPool, PoolError, PoolKind, PoolRef, PoolState, Winner};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// How many winning entries of one campaign a user may hold.
pub const ENTRIES_PER_USER: u32 = 1;

/// A validated request to create a campaign: a pool whose stock is its
/// winning slots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCampaign(NewPool);

impl NewCampaign {
    pub fn parse(name: &str, total_slots: u64, window: IssueWindow) -> Result<Self, PoolError> {
        NewPool::parse(name, total_slots, "total_slots", window).map(Self)
    }

    /// The name, slots and window.
    pub fn pool(&self) -> &NewPool {
        &self.0
    }
}

/// A stored campaign.
#[derive(Debug, Clone, PartialEq)]
pub struct Campaign {
    pub id: u64,
    pub name: String,
    pub total_slots: u64,
    /// Status, slots not yet persisted as entries, and window.
    pub pool: PoolState,
}

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

impl Winner for CampaignEntrySucceeded {
    fn pool(&self) -> PoolRef {
        PoolRef {
            kind: PoolKind::Campaign,
            id: self.campaign_id,
        }
    }

    fn claim(&self) -> Uuid {
        self.entry_id
    }
}
