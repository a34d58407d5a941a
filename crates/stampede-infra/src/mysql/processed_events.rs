//! The idempotent-consumer helper.
//!
//! At-least-once delivery means a handler sees some events twice. A handler
//! whose effects live in MariaDB makes that harmless by recording the event
//! id in `processed_events` *in the same transaction* as its own changes:
//!
//! ```ignore
//! let Some(mut tx) = ProcessedEvents::begin(&pool, "transaction-history", event.event_id).await? else {
//!     return Ok(()); // seen before: nothing to do
//! };
//! sqlx::query("INSERT INTO …").execute(&mut *tx).await?;
//! tx.commit().await?;
//! ```
//!
//! A concurrent duplicate blocks on the primary key until the first commits,
//! then sees the row and backs off; if the first rolls back, the duplicate
//! proceeds. Either way the effects happen once.

use sqlx::{MySql, MySqlPool, Transaction};
use uuid::Uuid;

pub struct ProcessedEvents;

impl ProcessedEvents {
    /// Opens a transaction that has claimed `(consumer, event_id)`, or returns
    /// `None` when that event was already processed by that consumer.
    pub async fn begin(
        pool: &MySqlPool,
        consumer: &str,
        event_id: Uuid,
    ) -> Result<Option<Transaction<'static, MySql>>, sqlx::Error> {
        let mut tx = pool.begin().await?;
        let claimed =
            sqlx::query("INSERT IGNORE INTO processed_events (consumer, event_id) VALUES (?, ?)")
                .bind(consumer)
                .bind(event_id.to_string())
                .execute(&mut *tx)
                .await?
                .rows_affected()
                == 1;
        if claimed {
            Ok(Some(tx))
        } else {
            tx.rollback().await?;
            Ok(None)
        }
    }
}
