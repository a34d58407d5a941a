//! The healer, inside `serve`: what a process killed mid-request leaves
//! behind is finished here, while the sale runs, without an operator.
//!
//! - **Claims** ([`claims`]): a unit taken by a request that died before its
//!   publish's outcome is given back once that is provably safe (the argument
//!   is in `stampede_core::fcfs`; the decision in `stampede_core::healing`).
//! - **Gates lost with Redis** ([`rebuild`]): an OPEN pool whose counter is
//!   gone is blocked (503 `GATE_REBUILDING`) and rebuilt from MariaDB once
//!   the persisting consumer has every winner that could be on its way.
//! - **Seat holds** ([`seat_holds`]): a hold whose reservation row was never
//!   written is freed within seconds instead of blocking the seat for its
//!   TTL; after Redis lost its data, live holds are restored from MariaDB.
//!
//! Every instance renews a heartbeat (which tells the healer whose claims
//! have no live owner); one instance at a time heals, under a Redis lease.

pub mod claims;
pub mod progress;
pub mod rebuild;
pub mod seat_holds;

use serde::Deserialize;
use stampede_core::healing::HealingBounds;
use stampede_infra::redis::{Instances, Lease};
use stampede_infra::Infra;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// `[healer]` settings.
#[derive(Debug, Clone, Deserialize)]
pub struct HealerSettings {
    /// Run the healer (and the heartbeat) inside `serve`.
    pub enabled: bool,
    /// How often the healer looks, and the instances renew their heartbeat.
    pub interval_ms: u64,
    /// An instance that has not renewed its heartbeat for this long is dead.
    pub heartbeat_ttl_ms: u64,
    /// A claim of a live instance still open after this long lost its
    /// request; it is healed too.
    pub live_claim_stuck_secs: u64,
    /// A seat hold pending (no reservation row) for this long is freed.
    pub hold_pending_secs: u64,
}

impl HealerSettings {
    pub fn validate(&self) -> Result<(), String> {
        if self.interval_ms == 0 || self.live_claim_stuck_secs == 0 || self.hold_pending_secs == 0 {
            return Err(
                "healer.interval_ms, live_claim_stuck_secs and hold_pending_secs must be positive"
                    .into(),
            );
        }
        if self.heartbeat_ttl_ms < 2 * self.interval_ms {
            return Err("healer.heartbeat_ttl_ms must be at least twice healer.interval_ms".into());
        }
        Ok(())
    }

    /// The bounds the claim verdict waits on: no publish is under way after
    /// the producer's delivery timeout (which also bounds its requests) and
    /// a margin for the broker's answer to travel.
    pub fn bounds(&self, delivery_timeout_ms: u64) -> HealingBounds {
        HealingBounds {
            publish_settled_ms: delivery_timeout_ms as i64 + 1_000,
            live_owner_stuck_ms: self.live_claim_stuck_secs as i64 * 1_000,
        }
    }
}

pub struct Healer {
    infra: Infra,
    settings: HealerSettings,
    instances: Instances,
    lease: Lease,
}

impl Healer {
    pub fn new(infra: Infra, settings: HealerSettings) -> Self {
        let prefix = infra.settings.redis.key_prefix.clone();
        Self {
            instances: Instances::new(infra.redis.clone(), &prefix),
            lease: Lease::new(infra.redis.clone(), &prefix, "healer"),
            infra,
            settings,
        }
    }

    /// Renews this instance's heartbeat and, while holding the lease, heals,
    /// every interval until `stop`.
    pub async fn run(self, stop: CancellationToken) {
        let interval = Duration::from_millis(self.settings.interval_ms);
        let ttl = Duration::from_millis(self.settings.heartbeat_ttl_ms);
        let me = self.infra.instance.clone();
        let bounds = self
            .settings
            .bounds(self.infra.kafka().producer.delivery_timeout_ms);
        let claims = claims::ClaimHealer::new(&self.infra, bounds);
        let mut progress = progress::PersistProgress::new(&self.infra);
        let mut rebuilds = rebuild::Rebuilds::new(&self.infra, bounds);
        let holds = seat_holds::HoldHealer::new(
            &self.infra,
            Duration::from_secs(self.settings.hold_pending_secs),
        );
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = ticks.tick() => {}
            }
            if let Err(error) = self.instances.heartbeat(&me, ttl).await {
                tracing::warn!(%error, "heartbeat not renewed");
                continue;
            }
            match self.lease.hold(&me, ttl).await {
                Ok(true) => {}
                Ok(false) => continue,
                Err(error) => {
                    tracing::warn!(%error, "healer lease unavailable");
                    continue;
                }
            }
            let now = now_ms();
            let passed = progress.observe(now).await;
            // Each part on its own: one that fails (a broker away) does not stop the others.
            if let Err(error) = rebuilds.step(&passed, now).await {
                tracing::warn!(error = format!("{error:#}"), "gate rebuild step failed");
            }
            if let Err(error) = claims.step(&self.instances, &passed, now).await {
                tracing::warn!(error = format!("{error:#}"), "claim healing step failed");
            }
            if let Err(error) = holds.step(now).await {
                tracing::warn!(
                    error = format!("{error:#}"),
                    "seat hold healing step failed"
                );
            }
        }
    }
}

/// Milliseconds since the epoch, the unit of claim and sample times.
pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
