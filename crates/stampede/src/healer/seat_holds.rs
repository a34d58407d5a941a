//! Healing seat holds: a hold whose reservation row was never written (its
//! request died between the Redis hold and the database transaction) is
//! freed within seconds instead of blocking the seat for its whole TTL; and
//! after Redis lost its data, the holds of live reservations are restored
//! from MariaDB, so the seat map and the fast refusal of a second buyer
//! come back (the database's unique live reservation per seat guarded the
//! seat meanwhile).

use redis::AsyncCommands;
use stampede_infra::mysql::reservations;
use stampede_infra::Infra;
use std::time::Duration;

pub struct HoldHealer {
    infra: Infra,
    pending_for: Duration,
    epoch_key: String,
}

impl HoldHealer {
    pub fn new(infra: &Infra, pending_for: Duration) -> Self {
        Self {
            epoch_key: format!("{}epoch", infra.settings.redis.key_prefix),
            infra: infra.clone(),
            pending_for,
        }
    }

    pub async fn step(&self, now_ms: i64) -> anyhow::Result<()> {
        self.restore_after_loss().await?;
        let holds = &self.infra.seat_holds;
        let before = now_ms - self.pending_for.as_millis() as i64;
        for schedule in holds.schedules().await? {
            for pending in holds.pending_before(schedule, before).await? {
                if reservations::hold_was_written(&self.infra.pool, pending.hold_id).await? {
                    holds
                        .written(schedule, pending.seat_id, pending.hold_id)
                        .await?;
                    continue;
                }
                if holds
                    .release(schedule, pending.seat_id, pending.hold_id)
                    .await?
                {
                    tracing::info!(schedule, seat = pending.seat_id, hold = %pending.hold_id,
                        "healer freed a seat hold whose reservation was never written");
                    metrics::counter!("stampede_healer_returned_total", "pool_kind" => "seat_hold")
                        .increment(1);
                }
            }
        }
        Ok(())
    }

    /// A Redis without this deployment's epoch key is new or lost its data:
    /// the live holds are written back from the database, then the key.
    async fn restore_after_loss(&self) -> anyhow::Result<()> {
        let mut redis = self.infra.redis.clone();
        if redis.exists(&self.epoch_key).await? {
            return Ok(());
        }
        let live = reservations::live_holds(&self.infra.pool).await?;
        let mut restored = 0;
        for r in &live {
            restored += u32::from(
                self.infra
                    .seat_holds
                    .restore(r.schedule_id, r.seat_id, r.hold_id, r.hold_expires_at)
                    .await?,
            );
        }
        if restored > 0 {
            tracing::warn!(
                restored,
                "Redis had lost its data: live seat holds restored from the database"
            );
        }
        redis
            .set::<_, _, ()>(&self.epoch_key, chrono::Utc::now().timestamp_millis())
            .await?;
        Ok(())
    }
}
