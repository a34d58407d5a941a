//! Appending events to the outbox inside a domain transaction.

use sqlx::{MySql, MySqlConnection, Transaction};
use stampede_core::events::EventEnvelope;
use std::sync::Arc;
use tokio::sync::Notify;

/// Writes outbox rows and wakes the relay once they are committed.
#[derive(Clone, Default)]
pub struct OutboxWriter {
    wake: Arc<Notify>,
}

impl OutboxWriter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Inserts `envelope` on `conn`, which must be the domain transaction's
    /// connection: the row commits or rolls back with the state change.
    pub async fn append(
        &self,
        conn: &mut MySqlConnection,
        envelope: &EventEnvelope,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO outbox (id, aggregatetype, aggregateid, type, schema_version, payload, created_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(envelope.event_id.to_string())
        .bind(&envelope.aggregate_type)
        .bind(&envelope.aggregate_id)
        .bind(&envelope.event_type)
        .bind(envelope.schema_version)
        .bind(envelope.payload.to_string())
        .bind(envelope.occurred_at.naive_utc())
        .execute(conn)
        .await?;
        Ok(())
    }

    /// Commits the domain transaction, then wakes the relay (the fast path):
    /// the events go out right away instead of at the next poll.
    pub async fn commit(&self, tx: Transaction<'_, MySql>) -> Result<(), sqlx::Error> {
        tx.commit().await?;
        self.wake.notify_one();
        Ok(())
    }

    /// The signal the relay waits on.
    pub(crate) fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }
}
