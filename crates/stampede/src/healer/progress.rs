//! How far each persisting consumer has read its winners' topic: what the
//! claim verdict and the gate rebuild wait on.

use stampede_core::events::topics;
use stampede_core::fcfs::{PoolKind, PoolRef};
use stampede_infra::kafka::GroupProgress;
use stampede_infra::mysql::pools;
use stampede_infra::redis::PoolTruth;
use stampede_infra::Infra;
use std::collections::HashMap;

/// The pool kinds with a gate, and who persists their winners from where.
pub const KINDS: [(PoolKind, &str, &str); 2] = [
    (
        PoolKind::Coupon,
        stampede_consumers::coupon_persist::GROUP,
        topics::COUPON_ISSUED,
    ),
    (
        PoolKind::Campaign,
        stampede_consumers::campaign_entry_persist::GROUP,
        topics::CAMPAIGN_ENTRY_SUCCEEDED,
    ),
];

/// `coupon` or `campaign`: the `pool_kind` metric label.
pub fn label(kind: PoolKind) -> &'static str {
    match kind {
        PoolKind::Coupon => "coupon",
        PoolKind::Campaign => "campaign",
    }
}

/// One [`GroupProgress`] per pool kind, made on first use.
pub struct PersistProgress {
    infra: Infra,
    groups: HashMap<PoolKind, GroupProgress>,
}

impl PersistProgress {
    pub fn new(infra: &Infra) -> Self {
        Self {
            infra: infra.clone(),
            groups: HashMap::new(),
        }
    }

    /// For each kind, the latest moment (ms) whose topic ends its persisting
    /// consumer has committed past; absent when the broker did not answer.
    pub async fn observe(&mut self, now_ms: i64) -> HashMap<PoolKind, i64> {
        let mut passed = HashMap::new();
        for (kind, group, topic) in KINDS {
            if !self.groups.contains_key(&kind) {
                match GroupProgress::new(self.infra.kafka(), group, topic) {
                    Ok(progress) => {
                        self.groups.insert(kind, progress);
                    }
                    Err(error) => {
                        tracing::warn!(%error, group, "cannot follow a persisting consumer");
                        continue;
                    }
                }
            }
            let progress = self.groups.get_mut(&kind).expect("made above");
            match progress.observe(now_ms).await {
                Ok(Some(at)) => {
                    passed.insert(kind, at);
                }
                Ok(None) => {}
                Err(error) => tracing::warn!(%error, group, "offsets not read"),
            }
        }
        passed
    }
}

/// The OPEN pools of `kind`.
pub async fn open_pools(infra: &Infra, kind: PoolKind) -> Result<Vec<PoolRef>, sqlx::Error> {
    pools::open_pools(&infra.pool, kind).await
}

/// What the database says of `pool`.
pub async fn truth(infra: &Infra, pool: PoolRef) -> Result<Option<PoolTruth>, sqlx::Error> {
    pools::truth(&infra.pool, pool).await
}
