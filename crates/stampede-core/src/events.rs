//! Domain events and the envelope they travel in.
//!
//! Every event leaves the service inside an [`EventEnvelope`]: the same JSON
//! shape on every topic, so a consumer can decode the envelope first and the
//! payload second, and an operator can read any dead letter without knowing
//! its type.
//!
//! # Format
//!
//! ```json
//! {
//!   "event_id": "0192f7c4-…",          // UUID v7: unique, time-ordered
//!   "event_type": "payment.success",   // also the topic name
//!   "occurred_at": "2026-11-24T10:00:00Z",
//!   "aggregate_type": "order",
//!   "aggregate_id": "42",              // also the Kafka key
//!   "schema_version": 1,
//!   "payload": { … }
//! }
//! ```

use chrono::{DateTime, Utc};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use uuid::Uuid;

/// The wire form of every event Stampede publishes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventEnvelope {
    pub event_id: Uuid,
    pub event_type: String,
    pub occurred_at: DateTime<Utc>,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub schema_version: u32,
    pub payload: serde_json::Value,
}

/// A domain event: a payload type that knows its name and its aggregate.
///
/// Implementing this is all a new event needs; [`EventEnvelope::wrap`] does
/// the rest.
pub trait DomainEvent: Serialize + DeserializeOwned {
    /// The event type, which is also the logical topic name (`payment.success`).
    const EVENT_TYPE: &'static str;
    /// Bumped when the payload changes incompatibly.
    const SCHEMA_VERSION: u32 = 1;

    /// The kind of aggregate the event belongs to (`order`, `coupon_policy`).
    /// A method, not a constant: a payment belongs to an order or to a
    /// reservation, depending on what it paid for.
    fn aggregate_type(&self) -> &'static str;

    /// The aggregate instance: events of one aggregate stay in order.
    fn aggregate_id(&self) -> String;
}

/// Why a payload could not be read as the event a consumer expected.
#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    #[error("expected event type `{expected}`, got `{actual}`")]
    WrongType {
        expected: &'static str,
        actual: String,
    },
    #[error("payload of `{event_type}` does not match its schema: {source}")]
    Schema {
        event_type: String,
        #[source]
        source: serde_json::Error,
    },
}

impl EventEnvelope {
    /// Wraps a domain event in a fresh envelope (new UUID v7, now).
    pub fn wrap<E: DomainEvent>(event: &E) -> Self {
        Self {
            event_id: Uuid::now_v7(),
            event_type: E::EVENT_TYPE.to_owned(),
            occurred_at: Utc::now(),
            aggregate_type: event.aggregate_type().to_owned(),
            aggregate_id: event.aggregate_id(),
            schema_version: E::SCHEMA_VERSION,
            payload: serde_json::to_value(event).expect("domain events serialise to JSON"),
        }
    }

    /// Reads the payload as `E`, checking the event type first.
    pub fn payload_as<E: DomainEvent>(&self) -> Result<E, PayloadError> {
        if self.event_type != E::EVENT_TYPE {
            return Err(PayloadError::WrongType {
                expected: E::EVENT_TYPE,
                actual: self.event_type.clone(),
            });
        }
        serde_json::from_value(self.payload.clone()).map_err(|source| PayloadError::Schema {
            event_type: self.event_type.clone(),
            source,
        })
    }
}

/// The topics Stampede knows, by logical name. The physical name may carry a
/// prefix (see the `kafka.topic_prefix` setting) so tests can share a broker.
pub mod topics {
    pub const COUPON_ISSUE_REQUESTED: &str = "coupon.issue.requested";
    pub const COUPON_ISSUED: &str = "coupon.issued";
    pub const CAMPAIGN_ENTRY_SUCCEEDED: &str = "campaign.entry.succeeded";
    pub const ORDER_CREATED: &str = "order.created";
    pub const PAYMENT_SUCCESS: &str = "payment.success";
    pub const PAYMENT_FAILED: &str = "payment.failed";
    pub const PAYMENT_REFUNDED: &str = "payment.refunded";
    pub const RESERVATION_CREATED: &str = "reservation.created";
    pub const POINTS_CREDITED: &str = "points.credited";

    /// Every topic above: what a deployment creates before anything writes.
    pub const ALL: [&str; 9] = [
        COUPON_ISSUE_REQUESTED,
        COUPON_ISSUED,
        CAMPAIGN_ENTRY_SUCCEEDED,
        ORDER_CREATED,
        PAYMENT_SUCCESS,
        PAYMENT_FAILED,
        PAYMENT_REFUNDED,
        RESERVATION_CREATED,
        POINTS_CREDITED,
    ];

    /// Suffix of a topic's dead-letter topic, as Spring Kafka names it.
    pub const DEAD_LETTER_SUFFIX: &str = ".DLT";

    /// The dead-letter topic of `topic`.
    pub fn dead_letter_of(topic: &str) -> String {
        format!("{topic}{DEAD_LETTER_SUFFIX}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Pinged {
        id: u64,
    }

    impl DomainEvent for Pinged {
        const EVENT_TYPE: &'static str = "test.pinged";
        fn aggregate_type(&self) -> &'static str {
            "probe"
        }
        fn aggregate_id(&self) -> String {
            self.id.to_string()
        }
    }

    #[test]
    fn wrap_fills_the_envelope_and_payload_round_trips() {
        let envelope = EventEnvelope::wrap(&Pinged { id: 7 });
        assert_eq!(envelope.event_type, "test.pinged");
        assert_eq!(envelope.aggregate_type, "probe");
        assert_eq!(envelope.aggregate_id, "7");
        assert_eq!(envelope.event_id.get_version_num(), 7);
        let json = serde_json::to_string(&envelope).unwrap();
        let back: EventEnvelope = serde_json::from_str(&json).unwrap();
        assert_eq!(back.payload_as::<Pinged>().unwrap(), Pinged { id: 7 });
    }

    #[test]
    fn payload_of_another_type_is_refused() {
        let mut envelope = EventEnvelope::wrap(&Pinged { id: 7 });
        envelope.event_type = "test.other".into();
        assert!(matches!(
            envelope.payload_as::<Pinged>(),
            Err(PayloadError::WrongType { .. })
        ));
    }

    #[test]
    fn dead_letter_topic_uses_spring_suffix() {
        assert_eq!(
            topics::dead_letter_of("payment.success"),
            "payment.success.DLT"
        );
    }
}
