//! Coupon events.

use crate::events::{topics, DomainEvent};
use crate::fcfs::{PoolKind, PoolRef, Winner};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A gate-mode winner, published before the winner hears "won"; the
/// persisting consumer turns it into a `user_coupons` row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CouponIssued {
    pub issue_id: Uuid,
    pub policy_id: u64,
    pub user_id: u64,
    pub ordinal: u32,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl DomainEvent for CouponIssued {
    const EVENT_TYPE: &'static str = topics::COUPON_ISSUED;
    fn aggregate_type(&self) -> &'static str {
        "coupon_policy"
    }
    fn aggregate_id(&self) -> String {
        self.policy_id.to_string()
    }
}

impl Winner for CouponIssued {
    fn pool(&self) -> PoolRef {
        PoolRef {
            kind: PoolKind::Coupon,
            id: self.policy_id,
        }
    }

    fn claim(&self) -> Uuid {
        self.issue_id
    }
}

/// A queue-mode request. Keyed by
/// policy, so one policy's requests stay on one partition: first come,
/// first served, in arrival order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CouponIssueRequested {
    pub request_id: Uuid,
    pub policy_id: u64,
    pub user_id: u64,
    pub requested_at: DateTime<Utc>,
}

impl DomainEvent for CouponIssueRequested {
    const EVENT_TYPE: &'static str = topics::COUPON_ISSUE_REQUESTED;
    fn aggregate_type(&self) -> &'static str {
        "coupon_policy"
    }
    fn aggregate_id(&self) -> String {
        self.policy_id.to_string()
    }
}
