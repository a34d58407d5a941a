//! The transactional outbox: events are rows first, Kafka records second.
//!
//! Domain code appends an event with [`OutboxWriter::append`] inside the
//! same MariaDB transaction as its state change and commits with
//! [`OutboxWriter::commit`], which also wakes the relay. Either both the
//! change and the event are durable, or neither is. The [`OutboxRelay`] then
//! publishes the rows with the idempotent producer and marks them published
//! only after the broker acknowledged: a crash in between re-publishes (at
//! least once), never loses.

mod relay;
mod writer;

pub use relay::{OutboxRelay, OutboxRow, OutboxSettings, PendingStats, RelayStep};
pub use writer::OutboxWriter;
