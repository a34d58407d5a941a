//! Opening and closing FCFS pools, coupon policies and campaigns alike: the
//! one path both admin routes take. Core decides the transition on the
//! loaded status; the status moves in MariaDB by a conditional update from
//! that status, and the gate in Redis follows. If the gate cannot be opened,
//! the status goes back, so opening can be retried.

use crate::mysql::pools;
use crate::redis::FcfsGate;
use crate::Infra;
use redis::RedisError;
use sqlx::MySqlPool;
use stampede_core::fcfs::{PoolError, PoolRef, PoolState};

/// Why a pool was not opened or closed.
#[derive(Debug, thiserror::Error)]
pub enum PoolChangeError {
    #[error("no {0}")]
    NotFound(PoolRef),
    /// Core refused the transition from the pool's status.
    #[error(transparent)]
    Refused(#[from] PoolError),
    /// Someone moved the pool between reading and writing its status.
    #[error("{0} changed meanwhile")]
    ChangedMeanwhile(PoolRef),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Gate(#[from] RedisError),
}

/// The lifecycle of FCFS pools, across MariaDB (the truth) and the gate.
pub struct FcfsPools<'a> {
    db: &'a MySqlPool,
    gate: &'a FcfsGate,
}

impl<'a> FcfsPools<'a> {
    pub fn new(infra: &'a Infra) -> Self {
        Self {
            db: &infra.pool,
            gate: &infra.gate,
        }
    }

    async fn current(&self, pool: PoolRef) -> Result<PoolState, PoolChangeError> {
        pools::pool_state(self.db, pool)
            .await?
            .ok_or(PoolChangeError::NotFound(pool))
    }

    /// DRAFT → OPEN, then the gate's counter is set to the pool's remaining
    /// stock and its window; if that fails, back to DRAFT.
    pub async fn open(&self, pool: PoolRef) -> Result<(), PoolChangeError> {
        let current = self.current(pool).await?;
        let opened = current.status.open()?;
        if !pools::set_status(self.db, pool, current.status, opened).await? {
            return Err(PoolChangeError::ChangedMeanwhile(pool));
        }
        if let Err(error) = self
            .gate
            .open(pool, current.remaining, current.window)
            .await
        {
            pools::set_status(self.db, pool, opened, current.status).await?;
            return Err(error.into());
        }
        Ok(())
    }

    /// Closes a pool for good. Closing twice is harmless: the gate is told
    /// again, so a close whose gate step failed can be repeated.
    pub async fn close(&self, pool: PoolRef) -> Result<(), PoolChangeError> {
        let current = self.current(pool).await?;
        if let Ok(closed) = current.status.close() {
            pools::set_status(self.db, pool, current.status, closed).await?;
        }
        self.gate.close(pool).await?;
        Ok(())
    }
}
