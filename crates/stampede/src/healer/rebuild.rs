//! Rebuilding a pool's gate from MariaDB, the truth, while the sale runs:
//! after Redis lost it (restarted empty, `FLUSHALL`), or on an operator's
//! `stampede audit coupons --repair`.
//!
//! 1. The pool is blocked: takes answer 503 `GATE_REBUILDING` and take
//!    nothing (a pool whose keys are gone answers so already: its database
//!    status says OPEN). Only a gate found missing on two looks in a row is
//!    blocked: opening a pool writes its OPEN status a moment before its
//!    gate, and a pool caught in between is not lost.
//! 2. The rebuild waits until no publish of a winner taken before the block
//!    can still be under way, and the persisting consumer has committed past
//!    a moment after that: every acknowledged winner is then a row (or a
//!    claim still open, which the gate keeps).
//! 3. The counter becomes the database's `remaining` minus the open claims,
//!    the marks the holders plus the open claims' users, the window and the
//!    closed flag the database's; the pool is unblocked.

use super::progress::{label, open_pools, truth, PersistProgress, KINDS};
use anyhow::Context;
use stampede_core::fcfs::{PoolKind, PoolRef};
use stampede_core::healing::HealingBounds;
use stampede_infra::Infra;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

/// Blocked pools and since when (ms).
pub struct Rebuilds {
    infra: Infra,
    bounds: HealingBounds,
    blocked: HashMap<PoolRef, i64>,
    /// Open pools whose gate was missing at the previous look.
    missing: HashSet<PoolRef>,
}

impl Rebuilds {
    pub fn new(infra: &Infra, bounds: HealingBounds) -> Self {
        Self {
            infra: infra.clone(),
            bounds,
            blocked: HashMap::new(),
            missing: HashSet::new(),
        }
    }

    /// Blocks the OPEN pools whose gate is gone (at this look and the one
    /// before); rebuilds the blocked ones whose wait is over.
    pub async fn step(
        &mut self,
        passed: &HashMap<PoolKind, i64>,
        now_ms: i64,
    ) -> anyhow::Result<()> {
        let mut missing = HashSet::new();
        for (kind, _, _) in KINDS {
            for pool in open_pools(&self.infra, kind).await? {
                if self.blocked.contains_key(&pool)
                    || self.infra.gate.snapshot_stock(pool).await?.is_some()
                {
                    continue;
                }
                missing.insert(pool);
                if !self.missing.contains(&pool) {
                    continue;
                }
                tracing::warn!(%pool, "the gate of an open pool is gone (Redis lost it); rebuilding from the database");
                self.infra.gate.block(pool).await?;
                self.blocked.insert(pool, now_ms);
            }
        }
        self.missing = missing;
        let ready: Vec<PoolRef> = self
            .blocked
            .iter()
            .filter(|(pool, since)| {
                passed
                    .get(&pool.kind)
                    .is_some_and(|&at| at >= **since + self.bounds.publish_settled_ms)
            })
            .map(|(pool, _)| *pool)
            .collect();
        for pool in ready {
            let stock = rewrite(&self.infra, pool).await?;
            self.blocked.remove(&pool);
            tracing::info!(%pool, stock, "gate rebuilt from the database");
        }
        Ok(())
    }
}

async fn rewrite(infra: &Infra, pool: PoolRef) -> anyhow::Result<i64> {
    let truth = truth(infra, pool)
        .await?
        .with_context(|| format!("{pool} vanished from the database"))?;
    let stock = infra.gate.rebuild(pool, &truth).await?;
    metrics::counter!("stampede_gate_rebuilds_total", "pool_kind" => label(pool.kind)).increment(1);
    Ok(stock)
}

/// Rebuilds `pool` now (blocking it meanwhile) and returns its new stock:
/// `stampede audit coupons --repair`. Fails after `timeout` if the
/// persisting consumer does not catch up (then the pool stays blocked until
/// the healer of a running `serve` finishes the job).
pub async fn rebuild_now(
    infra: &Infra,
    pool: PoolRef,
    bounds: HealingBounds,
    timeout: Duration,
) -> anyhow::Result<i64> {
    infra.gate.block(pool).await?;
    let since = super::now_ms();
    let deadline = tokio::time::Instant::now() + timeout;
    let mut progress = PersistProgress::new(infra);
    loop {
        let passed = progress.observe(super::now_ms()).await;
        if passed
            .get(&pool.kind)
            .is_some_and(|&at| at >= since + bounds.publish_settled_ms)
        {
            return rewrite(infra, pool).await;
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "the persisting consumer did not catch up within {timeout:?}; {pool} stays blocked until a running serve rebuilds it"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
