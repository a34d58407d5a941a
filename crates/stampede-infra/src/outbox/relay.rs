//! The relay: outbox rows → Kafka, in order per aggregate, at least once.
//!
//! One step ([`OutboxRelay::try_step`]) claims a batch with
//! `SELECT … FOR UPDATE SKIP LOCKED`, so several `serve` instances split the
//! work without waiting on each other; publishes it; and marks the
//! acknowledged rows published in the same transaction. The loop
//! ([`OutboxRelay::run`]) repeats steps when the writer wakes it after a
//! commit (the fast path) and every `poll_interval_ms` otherwise (which
//! catches rows written by other processes or left by a crash).
//!
//! Ordering: rows of one aggregate are published in `seq` order. A claimed
//! row is held back when an earlier unpublished row of its aggregate is not
//! in this batch (another relay holds it); when a send fails, the later rows
//! of that aggregate stay unpublished too and are re-sent after it.

use crate::kafka::{EventProducer, OutgoingRecord, PublishError, TopicNames};
use crate::outbox::OutboxWriter;
use chrono::{NaiveDateTime, TimeZone, Utc};
use futures::future::join_all;
use serde::Deserialize;
use sqlx::{MySqlConnection, MySqlPool, QueryBuilder};
use stampede_core::events::EventEnvelope;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// `[outbox]` settings.
#[derive(Debug, Clone, Deserialize)]
pub struct OutboxSettings {
    /// The polling path's period.
    pub poll_interval_ms: u64,
    /// Rows claimed per step.
    pub batch_size: u32,
    /// Published rows older than this are purged.
    pub retention_secs: u64,
    pub purge_interval_secs: u64,
}

impl OutboxSettings {
    pub fn validate(&self) -> Result<(), String> {
        if self.poll_interval_ms == 0 {
            return Err("outbox.poll_interval_ms must be positive".into());
        }
        if !(1..=10_000).contains(&self.batch_size) {
            return Err("outbox.batch_size must be between 1 and 10000".into());
        }
        if self.purge_interval_secs == 0 {
            return Err("outbox.purge_interval_secs must be positive".into());
        }
        Ok(())
    }
}

/// One outbox row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OutboxRow {
    pub seq: u64,
    pub id: String,
    pub aggregatetype: String,
    pub aggregateid: String,
    #[sqlx(rename = "type")]
    pub event_type: String,
    pub schema_version: u32,
    pub payload: String,
    pub created_at: NaiveDateTime,
}

impl OutboxRow {
    /// Rebuilds the envelope the domain wrote.
    pub fn envelope(&self) -> Result<EventEnvelope, anyhow::Error> {
        Ok(EventEnvelope {
            event_id: Uuid::parse_str(&self.id)?,
            event_type: self.event_type.clone(),
            occurred_at: Utc.from_utc_datetime(&self.created_at),
            aggregate_type: self.aggregatetype.clone(),
            aggregate_id: self.aggregateid.clone(),
            schema_version: self.schema_version,
            payload: serde_json::from_str(&self.payload)?,
        })
    }

    fn aggregate(&self) -> (&str, &str) {
        (&self.aggregatetype, &self.aggregateid)
    }
}

/// What one step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayStep {
    /// Nothing was waiting.
    Empty,
    /// Rows were claimed; some went out, some failed, some were held back for ordering.
    Worked {
        published: usize,
        failed: usize,
        held_back: usize,
    },
}

/// Unpublished rows: how many, and how old the oldest is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PendingStats {
    pub count: i64,
    pub oldest_age_secs: f64,
}

#[derive(Clone)]
pub struct OutboxRelay {
    pool: MySqlPool,
    producer: EventProducer,
    names: TopicNames,
    settings: OutboxSettings,
    wake: Arc<Notify>,
}

impl OutboxRelay {
    pub fn new(
        pool: MySqlPool,
        producer: EventProducer,
        names: TopicNames,
        settings: OutboxSettings,
        writer: &OutboxWriter,
    ) -> Self {
        Self {
            pool,
            producer,
            names,
            settings,
            wake: writer.waker(),
        }
    }

    /// Claims up to `batch_size` unpublished rows on `conn` (an open
    /// transaction), skipping rows other relays hold, and drops the rows
    /// whose aggregate has an earlier unpublished row outside the claim.
    pub async fn claim(
        &self,
        conn: &mut MySqlConnection,
    ) -> Result<(Vec<OutboxRow>, usize), sqlx::Error> {
        let claimed: Vec<OutboxRow> = sqlx::query_as(
            "SELECT seq, id, aggregatetype, aggregateid, type, schema_version, payload, created_at \
             FROM outbox WHERE published_at IS NULL ORDER BY seq LIMIT ? FOR UPDATE SKIP LOCKED",
        )
        .bind(self.settings.batch_size)
        .fetch_all(&mut *conn)
        .await?;
        let Some(last_seq) = claimed.last().map(|row| row.seq) else {
            return Ok((claimed, 0));
        };
        // An earlier unpublished row of a claimed aggregate can only be
        // missing from the claim if another relay holds it (SKIP LOCKED
        // passed it by). When the claim is every unpublished row up to its
        // last, nothing was passed by and the (costly) check below is moot.
        let unpublished: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM outbox WHERE published_at IS NULL AND seq <= ?",
        )
        .bind(last_seq)
        .fetch_one(&mut *conn)
        .await?;
        if unpublished == claimed.len() as i64 {
            return Ok((claimed, 0));
        }
        let aggregates: HashSet<(&str, &str)> = claimed.iter().map(OutboxRow::aggregate).collect();
        let mut earlier = QueryBuilder::new(
            "SELECT seq, aggregatetype, aggregateid FROM outbox WHERE published_at IS NULL AND seq <= ",
        );
        earlier
            .push_bind(last_seq)
            .push(" AND (aggregatetype, aggregateid) IN (");
        let mut list = earlier.separated(", ");
        for (kind, id) in &aggregates {
            list.push("(")
                .push_bind_unseparated(*kind)
                .push_unseparated(", ");
            list.push_bind_unseparated(*id).push_unseparated(")");
        }
        earlier.push(") ORDER BY seq");
        let pending: Vec<(u64, String, String)> =
            earlier.build_query_as().fetch_all(&mut *conn).await?;

        let ours: HashSet<u64> = claimed.iter().map(|row| row.seq).collect();
        let mut blocked: HashSet<(String, String)> = HashSet::new();
        let mut publishable: HashSet<u64> = HashSet::new();
        for (seq, kind, id) in pending {
            let aggregate = (kind, id);
            if blocked.contains(&aggregate) {
                continue;
            }
            if ours.contains(&seq) {
                publishable.insert(seq);
            } else {
                blocked.insert(aggregate);
            }
        }
        let total = claimed.len();
        let rows: Vec<OutboxRow> = claimed
            .into_iter()
            .filter(|row| publishable.contains(&row.seq))
            .collect();
        let held_back = total - rows.len();
        Ok((rows, held_back))
    }

    /// Sends `rows` concurrently (in seq order per partition, which the
    /// idempotent producer preserves) and returns one result per row.
    pub async fn publish(&self, rows: &[OutboxRow]) -> Vec<Result<(), anyhow::Error>> {
        let sends = rows.iter().map(|row| async move {
            let envelope = row.envelope()?;
            let record = OutgoingRecord::event(self.names.physical(&row.event_type), &envelope);
            self.producer
                .send(&record)
                .await
                .map_err(|e: PublishError| anyhow::Error::new(e))?;
            Ok(())
        });
        join_all(sends).await
    }

    /// Marks the acknowledged rows published; a failed row and the later
    /// rows of its aggregate stay unpublished. Returns (published, failed).
    pub async fn mark(
        &self,
        conn: &mut MySqlConnection,
        rows: &[OutboxRow],
        results: &[Result<(), anyhow::Error>],
    ) -> Result<(usize, usize), sqlx::Error> {
        let mut failed_aggregates: HashSet<(&str, &str)> = HashSet::new();
        let mut published = Vec::new();
        let mut failures = Vec::new();
        for (row, result) in rows.iter().zip(results) {
            match result {
                Ok(()) if !failed_aggregates.contains(&row.aggregate()) => published.push(row),
                Ok(()) => {}
                Err(error) => {
                    failed_aggregates.insert(row.aggregate());
                    failures.push((row.seq, format!("{error:#}")));
                }
            }
        }
        if !published.is_empty() {
            let mut update = QueryBuilder::new(
                "UPDATE outbox SET published_at = UTC_TIMESTAMP(6), attempts = attempts + 1 WHERE seq IN (",
            );
            let mut seqs = update.separated(", ");
            for row in &published {
                seqs.push_bind(row.seq);
            }
            update.push(")");
            update.build().execute(&mut *conn).await?;
        }
        for (seq, error) in &failures {
            sqlx::query("UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE seq = ?")
                .bind(error)
                .bind(seq)
                .execute(&mut *conn)
                .await?;
        }
        let now = Utc::now().naive_utc();
        for row in &published {
            let delay = (now - row.created_at)
                .num_microseconds()
                .unwrap_or(0)
                .max(0) as f64
                / 1e6;
            metrics::histogram!("stampede_outbox_publish_delay_seconds").record(delay);
        }
        metrics::counter!("stampede_outbox_published_total").increment(published.len() as u64);
        metrics::counter!("stampede_outbox_publish_failures_total")
            .increment(failures.len() as u64);
        Ok((published.len(), failures.len()))
    }

    /// One claim → publish → mark → commit cycle.
    pub async fn try_step(&self) -> Result<RelayStep, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let (rows, held_back) = self.claim(&mut tx).await?;
        if rows.is_empty() && held_back == 0 {
            tx.rollback().await?;
            return Ok(RelayStep::Empty);
        }
        let results = self.publish(&rows).await;
        let (published, failed) = self.mark(&mut tx, &rows, &results).await?;
        tx.commit().await?;
        if failed > 0 {
            tracing::warn!(
                failed,
                "outbox rows failed to publish; they will be retried"
            );
        }
        Ok(RelayStep::Worked {
            published,
            failed,
            held_back,
        })
    }

    /// Deletes published rows older than the retention, in chunks.
    pub async fn purge(&self) -> Result<u64, sqlx::Error> {
        let mut purged = 0;
        loop {
            let deleted = sqlx::query(
                "DELETE FROM outbox WHERE published_at IS NOT NULL \
                 AND published_at < UTC_TIMESTAMP(6) - INTERVAL ? SECOND LIMIT 5000",
            )
            .bind(self.settings.retention_secs)
            .execute(&self.pool)
            .await?
            .rows_affected();
            purged += deleted;
            if deleted < 5000 {
                return Ok(purged);
            }
        }
    }

    /// How far behind the relay is.
    pub async fn pending_stats(&self) -> Result<PendingStats, sqlx::Error> {
        let (count, oldest_us): (i64, Option<i64>) = sqlx::query_as(
            "SELECT COUNT(*), TIMESTAMPDIFF(MICROSECOND, MIN(created_at), UTC_TIMESTAMP(6)) \
             FROM outbox WHERE published_at IS NULL",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(PendingStats {
            count,
            oldest_age_secs: oldest_us.unwrap_or(0).max(0) as f64 / 1e6,
        })
    }

    /// Steps until the outbox is drained, a step makes no progress, or it fails.
    async fn drain(&self) {
        loop {
            match self.try_step().await {
                Ok(RelayStep::Worked {
                    published,
                    failed: 0,
                    ..
                }) if published > 0 => continue,
                Ok(_) => return,
                Err(error) => {
                    tracing::warn!(%error, "outbox relay step failed");
                    return;
                }
            }
        }
    }

    /// Runs the relay until `shutdown`: drains on every wake-up and poll,
    /// refreshes the lag gauges, and purges old rows.
    pub async fn run(self, shutdown: CancellationToken) {
        let poll = Duration::from_millis(self.settings.poll_interval_ms);
        let purge_every = Duration::from_secs(self.settings.purge_interval_secs);
        let mut last_purge = Instant::now();
        let mut last_stats = Instant::now() - Duration::from_secs(1);
        loop {
            self.drain().await;
            if last_stats.elapsed() >= Duration::from_secs(1) {
                last_stats = Instant::now();
                if let Ok(stats) = self.pending_stats().await {
                    metrics::gauge!("stampede_outbox_pending_events").set(stats.count as f64);
                    metrics::gauge!("stampede_outbox_oldest_pending_age_seconds")
                        .set(stats.oldest_age_secs);
                }
            }
            if last_purge.elapsed() >= purge_every {
                last_purge = Instant::now();
                match self.purge().await {
                    Ok(purged) if purged > 0 => {
                        tracing::info!(purged, "purged published outbox rows")
                    }
                    Ok(_) => {}
                    Err(error) => tracing::warn!(%error, "outbox purge failed"),
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(poll) => {}
            }
        }
        // Whatever was committed before the shutdown still goes out.
        self.drain().await;
        self.producer.flush(Duration::from_secs(5));
    }
}
