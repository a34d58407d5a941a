//! The consumer runtime: declare a consumer, the runtime does the rest.
//!
//! A consumer is a [`ConsumerSpec`]: a name, a group id, the topics it reads
//! and a handler, either per record ([`EventHandler`]) or per batch
//! ([`BatchEventHandler`]). The runtime ([`run_consumer`]) gives each consumer
//! its own Kafka client and task, so one consumer's failure or slowness never
//! holds up another, and guarantees:
//!
//! - offsets are committed manually, only after a record was handled or
//!   dead-lettered (at-least-once; pair with [`crate::mysql::ProcessedEvents`]);
//! - a failed record is retried with a fixed back-off (default 1 s × 3, as
//!   Spring's `FixedBackOff(1000, 3)`), then published to `<topic>.DLT` with
//!   Spring Kafka's `kafka_dlt-*` headers ([`dead_letter`]);
//! - an outage (MariaDB or Redis unreachable) is retried until it ends, never dead-lettered;
//! - a record that is not a valid [`EventEnvelope`](stampede_core::events::EventEnvelope),
//!   or a [`HandlerError::fatal`], goes to the DLT at once, without retries;
//! - a batch handler can name the failing record ([`BatchError::at`]) so the
//!   records before it are kept and only it is retried and, in the end,
//!   dead-lettered;
//! - a commit the broker did not confirm is sent again when the consumer is
//!   idle, so a quiet partition never stays behind (`context.rs`);
//! - on shutdown the batch in hand is finished and its offsets committed;
//! - its lag is sampled beside it, so a stuck consumer still reports it ([`lag`]).
//!
//! The retry rule, the batch plan and the offsets to commit are pure
//! decisions in `plan.rs`; `runtime.rs` carries them out.

mod context;
pub mod dead_letter;
mod handler;
pub mod lag;
mod plan;
mod runtime;

pub use handler::{BatchError, BatchEventHandler, ConsumedEvent, EventHandler, HandlerError};
pub use runtime::run_consumer;

use std::sync::Arc;

/// How a consumer wants its records.
#[derive(Clone)]
pub enum Handler {
    PerRecord(Arc<dyn EventHandler>),
    Batch(Arc<dyn BatchEventHandler>),
}

/// Everything the runtime needs to run one consumer.
#[derive(Clone)]
pub struct ConsumerSpec {
    /// Used in logs, metrics labels and `processed_events.consumer`.
    pub name: String,
    /// Logical group id (the configured group prefix is added).
    pub group_id: String,
    /// Logical topic names (the configured topic prefix is added).
    pub topics: Vec<String>,
    pub handler: Handler,
}

impl ConsumerSpec {
    pub fn per_record(
        name: impl Into<String>,
        group_id: impl Into<String>,
        topics: &[&str],
        handler: impl EventHandler,
    ) -> Self {
        Self::new(
            name,
            group_id,
            topics,
            Handler::PerRecord(Arc::new(handler)),
        )
    }

    pub fn batch(
        name: impl Into<String>,
        group_id: impl Into<String>,
        topics: &[&str],
        handler: impl BatchEventHandler,
    ) -> Self {
        Self::new(name, group_id, topics, Handler::Batch(Arc::new(handler)))
    }

    fn new(
        name: impl Into<String>,
        group_id: impl Into<String>,
        topics: &[&str],
        handler: Handler,
    ) -> Self {
        Self {
            name: name.into(),
            group_id: group_id.into(),
            topics: topics.iter().map(|t| t.to_string()).collect(),
            handler,
        }
    }
}
