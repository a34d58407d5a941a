//! Healing claims: a unit whose request died between the take and its
//! publish's outcome goes back to the gate once no acknowledged winner can
//! be behind it (`stampede_core::healing::claim_verdict`).

use super::progress::{label, open_pools, KINDS};
use stampede_core::fcfs::{Gate, PoolKind, Revocation};
use stampede_core::healing::{claim_verdict, ClaimVerdict, HealingBounds, OpenClaimFacts};
use stampede_infra::redis::Instances;
use stampede_infra::Infra;
use std::collections::{HashMap, HashSet};

/// Claims looked at per pool and step.
const PER_STEP: usize = 1000;

pub struct ClaimHealer {
    infra: Infra,
    bounds: HealingBounds,
}

impl ClaimHealer {
    pub fn new(infra: &Infra, bounds: HealingBounds) -> Self {
        Self {
            infra: infra.clone(),
            bounds,
        }
    }

    /// Revokes what may be revoked; reports the open claims and the age of
    /// the oldest per pool kind. `passed` is [`super::progress::PersistProgress::observe`]'s.
    pub async fn step(
        &self,
        instances: &Instances,
        passed: &HashMap<PoolKind, i64>,
        now_ms: i64,
    ) -> anyhow::Result<()> {
        let gate = &self.infra.gate;
        for (kind, _, _) in KINDS {
            let (mut open, mut oldest) = (0, None::<i64>);
            for pool in open_pools(&self.infra, kind).await? {
                let stats = gate.ledger_stats(pool).await?;
                open += stats.open;
                oldest = match (oldest, stats.oldest_taken_at_ms) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                if stats.open == 0 {
                    continue;
                }
                let before = now_ms - self.bounds.publish_settled_ms;
                let claims = gate.open_claims_before(pool, before, PER_STEP).await?;
                let owners: Vec<String> = claims
                    .iter()
                    .map(|c| c.instance.clone())
                    .collect::<HashSet<_>>()
                    .into_iter()
                    .collect();
                let alive: HashSet<String> = owners
                    .iter()
                    .cloned()
                    .zip(instances.alive(&owners).await?)
                    .filter_map(|(owner, alive)| alive.then_some(owner))
                    .collect();
                for claim in claims {
                    let facts = OpenClaimFacts {
                        taken_at_ms: claim.taken_at_ms,
                        owner_alive: alive.contains(&claim.instance),
                    };
                    if claim_verdict(facts, self.bounds, passed.get(&kind).copied())
                        != ClaimVerdict::Revoke
                    {
                        continue;
                    }
                    if gate.revoke(pool, claim.claim, claim.user_id).await? == Revocation::GivenBack
                    {
                        tracing::info!(%pool, claim = %claim.claim, user = claim.user_id, owner = %claim.instance,
                            "healer gave back the unit of a claim whose request died");
                        metrics::counter!("stampede_healer_returned_total", "pool_kind" => label(kind))
                            .increment(1);
                    }
                }
            }
            let age = oldest.map_or(0.0, |at| (now_ms - at).max(0) as f64 / 1000.0);
            metrics::gauge!("stampede_fcfs_open_claims", "pool_kind" => label(kind))
                .set(open as f64);
            metrics::gauge!("stampede_fcfs_oldest_open_claim_seconds", "pool_kind" => label(kind))
                .set(age);
        }
        Ok(())
    }
}
