//! Seat holds in Redis: the fast, self-expiring guard in front of the
//! database's reservation (seed 003's temporary seat hold).
//!
//! `<prefix>seat-hold:<schedule>:<seat>` holds the reservation's hold id and
//! expires with the hold. `SET NX` makes the second buyer of a seat lose at
//! once, without touching MariaDB; the database's unique live reservation
//! per seat stays the final word.

use super::ConnectionManager;
use chrono::{DateTime, Utc};
use redis::{AsyncCommands, RedisError, Script};
use std::sync::LazyLock;
use std::time::Duration;
use uuid::Uuid;

static CONFIRM: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/seat_hold_confirm.lua")));
static RELEASE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/seat_hold_release.lua")));

/// What confirming a hold found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldConfirmation {
    /// The hold was there and now lasts until the reservation's expiry.
    Extended,
    /// No hold: released (the payment was decided), expired, or lost with
    /// Redis. Not written again; the database still guards the seat.
    Gone,
    /// Another hold id owns the key: this reservation lost the seat in Redis.
    HeldByOther,
    /// The reservation's hold time is over: nothing to hold.
    Over,
}

#[derive(Clone)]
pub struct SeatHolds {
    redis: ConnectionManager,
    prefix: String,
}

impl SeatHolds {
    pub fn new(redis: ConnectionManager, prefix: &str) -> Self {
        Self {
            redis,
            prefix: prefix.to_owned(),
        }
    }

    fn key(&self, schedule_id: u64, seat_id: u64) -> String {
        format!("{}seat-hold:{schedule_id}:{seat_id}", self.prefix)
    }

    /// Takes the seat for `ttl` unless someone holds it; true when taken.
    pub async fn hold(
        &self,
        schedule_id: u64,
        seat_id: u64,
        hold_id: Uuid,
        ttl: Duration,
    ) -> Result<bool, RedisError> {
        let taken: Option<String> = redis::cmd("SET")
            .arg(self.key(schedule_id, seat_id))
            .arg(hold_id.to_string())
            .arg("NX")
            .arg("PX")
            .arg(ttl.as_millis().max(1) as u64)
            .query_async(&mut self.redis.clone())
            .await?;
        Ok(taken.is_some())
    }

    /// The hold id on the seat, if it is held.
    pub async fn holder(&self, schedule_id: u64, seat_id: u64) -> Result<Option<Uuid>, RedisError> {
        let value: Option<String> = self
            .redis
            .clone()
            .get(self.key(schedule_id, seat_id))
            .await?;
        Ok(value.and_then(|v| Uuid::parse_str(&v).ok()))
    }

    /// Extends `hold_id`'s hold of the seat until `expires_at`, if it still holds it.
    pub async fn confirm(
        &self,
        schedule_id: u64,
        seat_id: u64,
        hold_id: Uuid,
        expires_at: DateTime<Utc>,
    ) -> Result<HoldConfirmation, RedisError> {
        if expires_at <= Utc::now() {
            return Ok(HoldConfirmation::Over);
        }
        let code: i64 = CONFIRM
            .key(self.key(schedule_id, seat_id))
            .arg(hold_id.to_string())
            .arg(expires_at.timestamp_millis())
            .invoke_async(&mut self.redis.clone())
            .await?;
        Ok(match code {
            1 => HoldConfirmation::Extended,
            0 => HoldConfirmation::Gone,
            _ => HoldConfirmation::HeldByOther,
        })
    }

    /// Releases the seat if `hold_id` still holds it; true when released.
    pub async fn release(
        &self,
        schedule_id: u64,
        seat_id: u64,
        hold_id: Uuid,
    ) -> Result<bool, RedisError> {
        let released: i64 = RELEASE
            .key(self.key(schedule_id, seat_id))
            .arg(hold_id.to_string())
            .invoke_async(&mut self.redis.clone())
            .await?;
        Ok(released == 1)
    }
}
