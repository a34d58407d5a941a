//! The shape every FCFS winner persister shares: seed 000's dual-try.
//!
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
use stampede_infra::kafka::consumer::{BatchError, BatchEventHandler, ConsumedEvent, HandlerError};
use stampede_infra::mysql::winners::{insert_winners, WinnerError, WinnerTable};
use std::marker::PhantomData;

pub struct PersistWinners<T> {
    name: &'static str,
    pool: sqlx::MySqlPool,
    table: PhantomData<T>,
}

impl<T> PersistWinners<T> {
    pub fn new(name: &'static str, pool: sqlx::MySqlPool) -> Self {
        Self {
            name,
            pool,
            table: PhantomData,
        }
    }
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
        let all: Vec<&T::Winner> = winners.iter().collect();
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
        for (index, winner) in all.iter().enumerate() {
            let inserted = self
                .in_one_transaction(std::slice::from_ref(winner))
                .await
                .map_err(|e| BatchError::at(index, handler_error(e)))?;
            self.count(inserted, 1);
        }
        Ok(())
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
