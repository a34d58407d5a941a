//! The waiting queue's admission scheduler (inside `serve`).
//!
//! Every `concert.admit_interval_ms`, each concert's queue is swept
//! (abandoned waiting tokens and no-shows lose their places), its pre-queue
//! drawn once the opening has come, and then waiting tokens, longest-waiting
//! first, become ACTIVE for `concert.active_ttl_secs`: as many as the
//! concert's rules allow (its rate, its active cap, none while paused; see
//! `AdmissionRules`). With several `serve` instances only the first to
//! take the interval's slot (on Redis's clock) admits in it, so the rate
//! stays the configured one; each instance asks twice per interval, so a
//! tick late by less than half an interval still finds its slot, and the admit script refuses a decision made on a stale active
//! count, so the cap holds even if two ever overlap.
//!
//! A Redis outage fails closed: a step that cannot reach Redis admits
//! nobody (and the door check refuses with 503), it never lets fans in
//! unchecked.
//!
//! Exposes `stampede_queue_waiting`, `stampede_queue_active` and
//! `stampede_queue_pre_queued` per concert, and `stampede_queue_admitted_total`,
//! `stampede_queue_dropped_total` (stopped polling) and
//! `stampede_queue_no_shows_total`.

use chrono::{DateTime, Utc};
use stampede_core::concert::fair_opening::draw_due;
use stampede_infra::redis::{Admission, Draw, WaitingQueue};
use stampede_infra::ConcertSettings;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub struct QueueAdmission {
    queue: WaitingQueue,
    settings: ConcertSettings,
}

/// What one step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdmissionStep {
    /// This instance admitted, in total over every concert.
    Admitted(Admission),
    /// This interval was admitted already (by another instance, or by an
    /// earlier ask of this one).
    NotLeader,
}

impl QueueAdmission {
    pub fn new(queue: WaitingQueue, settings: ConcertSettings) -> Self {
        Self { queue, settings }
    }

    /// One admission round over every concert with a queue.
    pub async fn try_step(&self) -> Result<AdmissionStep, redis::RedisError> {
        let interval = self.settings.admit_interval();
        if !self.queue.lead_admission(interval).await? {
            return Ok(AdmissionStep::NotLeader);
        }
        let mut total = Admission::default();
        for concert_id in self.queue.concerts().await? {
            let step = self.step_concert(concert_id).await?;
            total.admitted += step.admitted;
            total.waiting += step.waiting;
            total.active += step.active;
        }
        Ok(AdmissionStep::Admitted(total))
    }

    /// Sweep, draw when due, decide, admit: one concert's share of a step.
    async fn step_concert(&self, concert_id: u64) -> Result<Admission, redis::RedisError> {
        let concert = concert_id.to_string();
        let mut swept = self.queue.sweep(concert_id).await?;
        metrics::counter!("stampede_queue_dropped_total", "concert" => concert.clone())
            .increment(swept.dropped);
        metrics::counter!("stampede_queue_no_shows_total", "concert" => concert.clone())
            .increment(swept.no_shows);
        let opens_at = swept.opens_at_ms.and_then(DateTime::from_timestamp_millis);
        if draw_due(opens_at, Utc::now(), swept.drawn) {
            if let Draw::Drawn { count } = self.queue.draw(concert_id).await? {
                tracing::info!(concert_id, count, "pre-queue drawn at the opening");
            }
            swept = self.queue.sweep(concert_id).await?;
        }
        let count = swept.rules.admit_count(swept.active, swept.waiting);
        let step = self
            .queue
            .admit_decided(concert_id, &swept, count)
            .await?
            // Someone changed the active set since the sweep: admit nobody now.
            .unwrap_or(Admission {
                admitted: 0,
                waiting: swept.waiting,
                active: swept.active,
            });
        metrics::gauge!("stampede_queue_waiting", "concert" => concert.clone())
            .set(step.waiting as f64);
        metrics::gauge!("stampede_queue_active", "concert" => concert.clone())
            .set(step.active as f64);
        metrics::gauge!("stampede_queue_pre_queued", "concert" => concert.clone())
            .set(swept.pre_queued as f64);
        metrics::counter!("stampede_queue_admitted_total", "concert" => concert)
            .increment(step.admitted);
        Ok(step)
    }

    /// Asks for a step twice per interval until `shutdown`; at most one of
    /// the asks in an interval admits.
    pub async fn run(self, shutdown: CancellationToken) {
        let ask_every = (self.settings.admit_interval() / 2).max(Duration::from_millis(1));
        let mut ticks =
            tokio::time::interval_at(tokio::time::Instant::now() + ask_every, ask_every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = ticks.tick() => {}
            }
            if let Err(error) = self.try_step().await {
                tracing::warn!(%error, "queue admission step failed; retrying next interval");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}
