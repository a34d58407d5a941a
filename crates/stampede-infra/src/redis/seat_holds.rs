//! Seat holds in Redis: the fast, self-expiring guard in front of the
//! database's reservation (a temporary seat hold).
//!
//! `<prefix>{seat-hold:<schedule>}:<seat>` holds the reservation's hold id and
//! expires with the hold. `SET NX` makes the second buyer of a seat lose at
//! once, without touching MariaDB; the database's unique live reservation
//! per seat stays the final word.
//!
//! A hold is *pending* from the take until its reservation row is written
//! (`…:pending`, a sorted set by time, same hash tag as the schedule's holds).
//! A process killed in between would block the seat for the hold's whole
//! TTL; the healer instead frees a pending hold that has no row after a few
//! seconds ([`SeatHolds::pending_before`]). Schedules that ever had a hold
//! are listed in `<prefix>seat-holds:schedules` for it.

use super::RedisConnection;
use chrono::{DateTime, Utc};
use redis::{AsyncCommands, RedisError, Script};
use std::collections::HashSet;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;
use uuid::Uuid;

static CONFIRM: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/seat_hold_confirm.lua")));
static TAKE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/seat_hold_take.lua")));
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

/// A hold taken whose reservation row was not (yet) seen written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingHold {
    pub seat_id: u64,
    pub hold_id: Uuid,
    pub taken_at_ms: i64,
}

#[derive(Clone)]
pub struct SeatHolds {
    redis: RedisConnection,
    prefix: String,
    /// Schedules this process already listed (one SADD per schedule).
    listed: Arc<Mutex<HashSet<u64>>>,
}

fn member(seat_id: u64, hold_id: Uuid) -> String {
    format!("{seat_id}|{hold_id}")
}

impl SeatHolds {
    pub fn new(redis: RedisConnection, prefix: &str) -> Self {
        Self {
            redis,
            prefix: prefix.to_owned(),
            listed: Arc::default(),
        }
    }

    fn key(&self, schedule_id: u64, seat_id: u64) -> String {
        format!("{}{{seat-hold:{schedule_id}}}:{seat_id}", self.prefix)
    }

    fn pending_key(&self, schedule_id: u64) -> String {
        format!("{}{{seat-hold:{schedule_id}}}:pending", self.prefix)
    }

    fn schedules_key(&self) -> String {
        format!("{}seat-holds:schedules", self.prefix)
    }

    /// Takes the seat for `ttl` unless someone holds it; true when taken.
    /// The hold is pending until [`SeatHolds::written`].
    pub async fn hold(
        &self,
        schedule_id: u64,
        seat_id: u64,
        hold_id: Uuid,
        ttl: Duration,
    ) -> Result<bool, RedisError> {
        if !self.listed.lock().unwrap().contains(&schedule_id) {
            self.redis
                .clone()
                .sadd::<_, _, ()>(self.schedules_key(), schedule_id)
                .await?;
            self.listed.lock().unwrap().insert(schedule_id);
        }
        let taken: i64 = TAKE
            .key(self.key(schedule_id, seat_id))
            .key(self.pending_key(schedule_id))
            .arg(hold_id.to_string())
            .arg(ttl.as_millis().max(1) as u64)
            .arg(Utc::now().timestamp_millis())
            .arg(member(seat_id, hold_id))
            .invoke_async(&mut self.redis.clone())
            .await?;
        Ok(taken == 1)
    }

    /// The hold's reservation row is written: it is no longer pending.
    pub async fn written(
        &self,
        schedule_id: u64,
        seat_id: u64,
        hold_id: Uuid,
    ) -> Result<(), RedisError> {
        self.redis
            .clone()
            .zrem(self.pending_key(schedule_id), member(seat_id, hold_id))
            .await
    }

    /// Schedules that ever had a hold.
    pub async fn schedules(&self) -> Result<Vec<u64>, RedisError> {
        self.redis.clone().smembers(self.schedules_key()).await
    }

    /// Holds of `schedule_id` pending since before `before_ms`.
    pub async fn pending_before(
        &self,
        schedule_id: u64,
        before_ms: i64,
    ) -> Result<Vec<PendingHold>, RedisError> {
        let entries: Vec<(String, f64)> = self
            .redis
            .clone()
            .zrangebyscore_withscores(
                self.pending_key(schedule_id),
                "-inf",
                format!("({before_ms}"),
            )
            .await?;
        Ok(entries
            .into_iter()
            .filter_map(|(member, at)| {
                let (seat, hold) = member.split_once('|')?;
                Some(PendingHold {
                    seat_id: seat.parse().ok()?,
                    hold_id: Uuid::parse_str(hold).ok()?,
                    taken_at_ms: at as i64,
                })
            })
            .collect())
    }

    /// Puts back the hold of a live reservation (after Redis lost it), unless
    /// the seat is held; true when written.
    pub async fn restore(
        &self,
        schedule_id: u64,
        seat_id: u64,
        hold_id: Uuid,
        expires_at: DateTime<Utc>,
    ) -> Result<bool, RedisError> {
        let left = (expires_at - Utc::now()).num_milliseconds();
        if left <= 0 {
            return Ok(false);
        }
        let written: Option<String> = redis::cmd("SET")
            .arg(self.key(schedule_id, seat_id))
            .arg(hold_id.to_string())
            .arg("NX")
            .arg("PX")
            .arg(left)
            .query_async(&mut self.redis.clone())
            .await?;
        Ok(written.is_some())
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
            .key(self.pending_key(schedule_id))
            .arg(hold_id.to_string())
            .arg(member(seat_id, hold_id))
            .invoke_async(&mut self.redis.clone())
            .await?;
        Ok(released == 1)
    }
}
