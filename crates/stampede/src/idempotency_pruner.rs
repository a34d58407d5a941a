//! The idempotency-key pruner: forgets `Idempotency-Key`s older than
//! `idempotency.retention_hours`.
//!
//! A key is honoured for `payments.idempotency_ttl_secs`; after that it only
//! takes space. Every `prune_interval_secs` the pruner deletes keys created
//! before now − retention in batches of `prune_batch_size` (one short
//! `DELETE … LIMIT` each), until a batch comes back short. Several `serve`
//! instances may prune at once: each `DELETE` takes whatever old rows are
//! left, so they only share the work.

use serde::Deserialize;
use sqlx::MySqlPool;
use stampede_infra::mysql::idempotency;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// `[idempotency]` settings.
#[derive(Debug, Clone, Deserialize)]
pub struct IdempotencySettings {
    /// Keys older than this are deleted.
    pub retention_hours: u64,
    pub prune_interval_secs: u64,
    /// Keys deleted per statement.
    pub prune_batch_size: u32,
}

impl IdempotencySettings {
    /// `key_ttl_secs` is how long a key is honoured: pruning one earlier
    /// would let a retried payment run twice.
    pub fn validate(&self, key_ttl_secs: u64) -> Result<(), String> {
        if self.retention_hours == 0 || self.prune_interval_secs == 0 || self.prune_batch_size == 0
        {
            return Err(
                "idempotency.retention_hours, prune_interval_secs and prune_batch_size must be positive"
                    .into(),
            );
        }
        if self.retention_hours * 3600 < key_ttl_secs {
            return Err(format!(
                "idempotency.retention_hours ({}) must cover payments.idempotency_ttl_secs ({key_ttl_secs})",
                self.retention_hours
            ));
        }
        Ok(())
    }
}

/// What one step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PruneOutcome {
    /// A full batch went: more old keys may be left.
    Pruned(u64),
    /// Fewer than a batch went (maybe none): nothing old is left.
    Done(u64),
}

pub struct IdempotencyPruner {
    pool: MySqlPool,
    settings: IdempotencySettings,
}

impl IdempotencyPruner {
    pub fn new(pool: MySqlPool, settings: IdempotencySettings) -> Self {
        Self { pool, settings }
    }

    /// Deletes one batch of keys past the retention.
    pub async fn try_step(&self) -> Result<PruneOutcome, sqlx::Error> {
        let retention = chrono::Duration::hours(self.settings.retention_hours as i64);
        let cutoff = chrono::Utc::now() - retention;
        let batch = self.settings.prune_batch_size;
        let pruned = idempotency::prune_created_before(&self.pool, cutoff, batch).await?;
        metrics::counter!("stampede_idempotency_keys_pruned_total").increment(pruned);
        Ok(if pruned == u64::from(batch) {
            PruneOutcome::Pruned(pruned)
        } else {
            PruneOutcome::Done(pruned)
        })
    }

    /// Steps until nothing old is left; returns how many keys went.
    pub async fn prune_all(&self, shutdown: &CancellationToken) -> Result<u64, sqlx::Error> {
        let mut total = 0;
        while !shutdown.is_cancelled() {
            match self.try_step().await? {
                PruneOutcome::Pruned(n) => total += n,
                PruneOutcome::Done(n) => return Ok(total + n),
            }
        }
        Ok(total)
    }

    /// The job inside `serve`.
    pub async fn run(self, shutdown: CancellationToken) {
        let interval = Duration::from_secs(self.settings.prune_interval_secs);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(interval) => {}
            }
            match self.prune_all(&shutdown).await {
                Ok(0) => {}
                Ok(pruned) => tracing::info!(pruned, "idempotency keys pruned"),
                Err(error) => tracing::warn!(%error, "pruning idempotency keys failed"),
            }
        }
    }
}
