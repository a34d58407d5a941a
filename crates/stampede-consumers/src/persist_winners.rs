//! The shape every FCFS winner persister shares: settle the claims, then
//! the dual-try.
//!
//! 0. The gate's claims on the winners' units are settled first
//!    ([`WinnerLedger::settle`]): a winner whose claim was revoked (its unit
//!    went back to the gate because its publish was reported failed, or its
//!    request died) is skipped, so a unit is never issued twice.
//! 1. Bulk: the whole batch in one transaction (`INSERT IGNORE` of every row,
//!    the pool's `remaining` lowered by the rows inserted).
//! 2. On failure, row by row, each in its own transaction.
//! 3. A row that still fails is named to the runtime ([`BatchError::at`]):
//!    the rows before it are kept, it is retried and finally dead-lettered.
//!
//! Duplicates (redeliveries) are ignored by the unique keys, so replaying a
//! batch any number of times leaves the same rows.

use async_trait::async_trait;
use stampede_core::events::DomainEvent;
use stampede_core::fcfs::{PoolRef, Winner, WinnerLedger};
use stampede_infra::kafka::consumer::{
    BatchError, BatchEventHandler, ConsumedEvent, ConsumerSpec, HandlerError,
};
use stampede_infra::mysql::winners::{insert_winners, WinnerError, WinnerTable};
use stampede_infra::redis::FcfsGate;
use stampede_infra::Infra;
use std::collections::BTreeMap;
use std::marker::PhantomData;
use uuid::Uuid;

struct PersistWinners<T> {
    name: &'static str,
    pool: sqlx::MySqlPool,
    ledger: FcfsGate,
    table: PhantomData<T>,
}

/// The batch consumer `name` (in `group`) persisting the winners of `T`
/// from their event's topic.
pub fn spec<T>(name: &'static str, group: &str, infra: &Infra) -> ConsumerSpec
where
    T: WinnerTable + 'static,
    T::Winner: DomainEvent,
{
    let handler = PersistWinners::<T> {
        name,
        pool: infra.pool.clone(),
        ledger: infra.gate.clone(),
        table: PhantomData,
    };
    ConsumerSpec::batch(name, group, &[T::Winner::EVENT_TYPE], handler)
}

fn handler_error(error: WinnerError) -> HandlerError {
    match error {
        WinnerError::Database(db) => db.into(),
        // No retry creates a missing policy or campaign.
        unknown @ WinnerError::UnknownPool { .. } => HandlerError::fatal(unknown),
        over @ WinnerError::OverIssue { .. } => over.into(),
    }
}

impl<T: WinnerTable> PersistWinners<T> {
    async fn in_one_transaction(&self, winners: &[&T::Winner]) -> Result<u64, WinnerError> {
        let mut tx = self.pool.begin().await?;
        let inserted = insert_winners::<T>(&mut tx, winners).await?;
        tx.commit().await?;
        Ok(inserted)
    }
}

#[async_trait]
impl<T> BatchEventHandler for PersistWinners<T>
where
    T: WinnerTable + 'static,
    T::Winner: DomainEvent,
{
    async fn handle_batch(&self, events: &[ConsumedEvent]) -> Result<(), BatchError> {
        let mut winners = Vec::with_capacity(events.len());
        for (index, event) in events.iter().enumerate() {
            winners.push(
                event
                    .payload::<T::Winner>()
                    .map_err(|e| BatchError::at(index, e))?,
            );
        }
        let to_write = self.settle(&winners).await.map_err(BatchError::whole)?;
        // (index in the batch, winner) of the winners to write.
        let kept: Vec<(usize, &T::Winner)> = winners
            .iter()
            .enumerate()
            .filter(|(index, _)| to_write[*index])
            .collect();
        let skipped = winners.len() - kept.len();
        if skipped > 0 {
            tracing::warn!(
                consumer = self.name,
                skipped,
                "winners of revoked claims skipped"
            );
            metrics::counter!("stampede_winners_revoked_skipped_total", "consumer" => self.name)
                .increment(skipped as u64);
        }
        let all: Vec<&T::Winner> = kept.iter().map(|(_, w)| *w).collect();
        let error = match self.in_one_transaction(&all).await {
            Ok(inserted) => {
                self.count(inserted, all.len());
                return Ok(());
            }
            Err(error) => handler_error(error),
        };
        if error.is_unavailable() {
            return Err(BatchError::whole(error));
        }
        tracing::warn!(consumer = self.name, %error, "bulk insert failed; inserting row by row");
        for (index, winner) in kept {
            let inserted = self
                .in_one_transaction(&[winner])
                .await
                .map_err(|e| BatchError::at(index, handler_error(e)))?;
            self.count(inserted, 1);
        }
        Ok(())
    }
}

impl<T: WinnerTable> PersistWinners<T> {
    /// Settles the winners' claims, pool by pool; true: write the winner.
    async fn settle(&self, winners: &[T::Winner]) -> Result<Vec<bool>, HandlerError> {
        let mut by_pool: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
        for (index, winner) in winners.iter().enumerate() {
            by_pool.entry(winner.pool().id).or_default().push(index);
        }
        let mut to_write = vec![false; winners.len()];
        for (id, indices) in by_pool {
            let pool = PoolRef { kind: T::KIND, id };
            let claims: Vec<Uuid> = indices.iter().map(|&i| winners[i].claim()).collect();
            let answers = self.ledger.settle(pool, &claims).await?;
            for (index, write) in indices.into_iter().zip(answers) {
                to_write[index] = write;
            }
        }
        Ok(to_write)
    }
}

impl<T> PersistWinners<T> {
    fn count(&self, inserted: u64, received: usize) {
        metrics::counter!("stampede_winners_persisted_total", "consumer" => self.name)
            .increment(inserted);
        metrics::counter!("stampede_winners_duplicate_total", "consumer" => self.name)
            .increment(received as u64 - inserted);
    }
}
