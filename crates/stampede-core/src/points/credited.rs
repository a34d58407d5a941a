//! `points.credited`: points reached a user's balance, from a paid top-up or
//! an admin's grant. Written through the outbox in the transaction that
//! credits them, so every credited point has its event and no event names
//! points that were not credited. The transaction-history consumer makes a
//! user's history of it.
//!
//! # Format
//!
//! ```json
//! { "user_id": 7, "amount": 5000,
//!   "source": { "kind": "TOP_UP", "top_up_id": 12 } }
//! { "user_id": 7, "amount": 300,
//!   "source": { "kind": "GRANT", "grant_id": 3, "granted_by": "1", "reason": "goodwill" } }
//! ```

use crate::events::{topics, DomainEvent};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PointsCredited {
    pub user_id: u64,
    pub amount: u64,
    pub source: CreditSource,
}

/// Where credited points came from: each source is credited once, so
/// (kind, id) names one credit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CreditSource {
    /// A card top-up the PG confirmed.
    TopUp { top_up_id: u64 },
    /// Support's grant: who granted it, and why.
    Grant {
        grant_id: u64,
        granted_by: String,
        reason: String,
    },
}

impl CreditSource {
    /// The source's kind as stored beside its id.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::TopUp { .. } => "TOP_UP",
            Self::Grant { .. } => "GRANT",
        }
    }

    /// The top-up's or the grant's id.
    pub fn id(&self) -> u64 {
        match self {
            Self::TopUp { top_up_id } => *top_up_id,
            Self::Grant { grant_id, .. } => *grant_id,
        }
    }
}

impl DomainEvent for PointsCredited {
    const EVENT_TYPE: &'static str = topics::POINTS_CREDITED;
    /// One aggregate per balance: a user's credits stay in order.
    fn aggregate_type(&self) -> &'static str {
        "user_points"
    }
    fn aggregate_id(&self) -> String {
        self.user_id.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::EventEnvelope;

    #[test]
    fn a_credit_travels_keyed_by_its_user_and_names_its_source() {
        let credited = PointsCredited {
            user_id: 7,
            amount: 300,
            source: CreditSource::Grant {
                grant_id: 3,
                granted_by: "1".into(),
                reason: "goodwill".into(),
            },
        };
        let envelope = EventEnvelope::wrap(&credited);
        assert_eq!(envelope.event_type, "points.credited");
        assert_eq!(
            (
                envelope.aggregate_type.as_str(),
                envelope.aggregate_id.as_str()
            ),
            ("user_points", "7")
        );
        assert_eq!(envelope.payload["source"]["kind"], "GRANT");
        assert_eq!(envelope.payload_as::<PointsCredited>().unwrap(), credited);
        let top_up = CreditSource::TopUp { top_up_id: 12 };
        assert_eq!((top_up.kind(), top_up.id()), ("TOP_UP", 12));
    }
}
