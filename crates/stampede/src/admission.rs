//! The waiting queue's admission scheduler (inside `serve`).
//!
//! Every `concert.admit_interval_ms`, up to `concert.admit_per_interval`
//! waiting tokens of each concert, longest-waiting first, become ACTIVE for
//! `concert.active_ttl_secs`. With several `serve` instances only the one
//! that takes the interval's Redis lock admits, so the rate stays the
//! configured one. Exposes `stampede_queue_waiting` and
//! `stampede_queue_active` per concert and `stampede_queue_admitted_total`.

use stampede_infra::redis::{Admission, WaitingQueue};
use stampede_infra::ConcertSettings;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub struct QueueAdmission {
    queue: WaitingQueue,
    settings: ConcertSettings,
    instance: Uuid,
}

/// What one step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdmissionStep {
    /// This instance admitted, in total over every concert.
    Admitted(Admission),
    /// Another instance holds this interval.
    NotLeader,
}

impl QueueAdmission {
    pub fn new(queue: WaitingQueue, settings: ConcertSettings) -> Self {
        Self {
            queue,
            settings,
            instance: Uuid::new_v4(),
        }
    }

    /// One admission round over every concert with a queue.
    pub async fn try_step(&self) -> Result<AdmissionStep, redis::RedisError> {
        let interval = self.settings.admit_interval();
        if !self.queue.lead_admission(self.instance, interval).await? {
            return Ok(AdmissionStep::NotLeader);
        }
        let mut total = Admission::default();
        for concert_id in self.queue.concerts().await? {
            let step = self
                .queue
                .admit(concert_id, self.settings.admit_per_interval)
                .await?;
            let concert = concert_id.to_string();
            metrics::gauge!("stampede_queue_waiting", "concert" => concert.clone())
                .set(step.waiting as f64);
            metrics::gauge!("stampede_queue_active", "concert" => concert.clone())
                .set(step.active as f64);
            metrics::counter!("stampede_queue_admitted_total", "concert" => concert)
                .increment(step.admitted);
            total.admitted += step.admitted;
            total.waiting += step.waiting;
            total.active += step.active;
        }
        Ok(AdmissionStep::Admitted(total))
    }

    /// Runs a step every interval until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        let interval = self.settings.admit_interval();
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
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
