//! Rate limits shared by every instance: a user's allowance and the
//! service's global one are counted in Redis, so three instances behind a
//! load balancer let a user through once the limit, not three times.
//!
//! Both are GCRA (the generic cell rate algorithm, a token bucket kept as
//! one timestamp per key) and are checked and taken in one script call:
//! one round trip per request. The global limit is split into `shards`
//! buckets, each with its share of the rate; a user always counts against
//! the same shard, and its keys share that shard's hash tag, which is what
//! lets one script touch both on a Redis Cluster. With one shard every
//! limit key lives in one slot (one node of a cluster); more shards spread
//! them, each enforcing `global / shards`, exact while users spread evenly.

use super::RedisConnection;
use redis::{RedisError, Script};
use std::sync::LazyLock;
use std::time::Duration;

static CHECK: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/rate_limit.lua")));

/// One limit as GCRA parameters, in microseconds: requests are spaced
/// `interval` apart, and up to `burst / interval` more may come at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Gcra {
    interval_us: u64,
    burst_us: u64,
}

impl Gcra {
    /// `per_sec` requests a second, up to `per_sec` of them at once (the
    /// bucket holds one second's worth); None when `per_sec` is 0 (off).
    fn per_second(per_sec: f64) -> Option<Self> {
        if per_sec <= 0.0 {
            return None;
        }
        let interval_us = (1_000_000.0 / per_sec).round().max(1.0) as u64;
        let burst = per_sec.ceil().max(1.0) as u64;
        Some(Self {
            interval_us,
            burst_us: interval_us * (burst - 1),
        })
    }

    fn args(this: Option<Self>) -> (u64, u64) {
        this.map_or((0, 0), |g| (g.interval_us, g.burst_us))
    }
}

/// What the shared limits say about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateVerdict {
    Admitted,
    /// The user is over its limit; it may ask again after this long.
    UserOver(Duration),
    /// The service is over its global limit.
    GlobalOver(Duration),
}

#[derive(Clone)]
pub struct RateLimits {
    redis: RedisConnection,
    prefix: String,
    user: Option<Gcra>,
    global: Option<Gcra>,
    shards: u64,
}

impl RateLimits {
    /// Limits of `per_user_per_sec` per user and `global_per_sec` in all
    /// (0 turns one off), the global one split over `shards` buckets.
    pub fn new(
        redis: RedisConnection,
        prefix: &str,
        per_user_per_sec: u32,
        global_per_sec: u32,
        shards: u32,
    ) -> Self {
        let shards = u64::from(shards.max(1));
        Self {
            redis,
            prefix: prefix.to_owned(),
            user: Gcra::per_second(f64::from(per_user_per_sec)),
            global: Gcra::per_second(f64::from(global_per_sec) / shards as f64),
            shards,
        }
    }

    /// Whether any limit is on (when none is, nothing is asked of Redis).
    fn enabled(&self) -> bool {
        self.user.is_some() || self.global.is_some()
    }

    fn keys(&self, user_id: u64) -> (String, String) {
        let shard = user_id % self.shards;
        let tag = format!("{}{{limits:{shard}}}", self.prefix);
        (format!("{tag}:user:{user_id}"), format!("{tag}:global"))
    }

    /// Checks one request of `user_id` against both limits and, when
    /// admitted, counts it.
    pub async fn check(&self, user_id: u64) -> Result<RateVerdict, RedisError> {
        if !self.enabled() {
            return Ok(RateVerdict::Admitted);
        }
        let (user_key, global_key) = self.keys(user_id);
        let (user_interval, user_burst) = Gcra::args(self.user);
        let (global_interval, global_burst) = Gcra::args(self.global);
        let (which, wait_us): (u8, u64) = CHECK
            .key(user_key)
            .key(global_key)
            .arg(user_interval)
            .arg(user_burst)
            .arg(global_interval)
            .arg(global_burst)
            .invoke_async(&mut self.redis.clone())
            .await?;
        let wait = Duration::from_micros(wait_us);
        Ok(match which {
            1 => RateVerdict::UserOver(wait),
            2 => RateVerdict::GlobalOver(wait),
            _ => RateVerdict::Admitted,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_becomes_its_spacing_and_a_one_second_burst() {
        assert_eq!(
            Gcra::per_second(5.0),
            Some(Gcra {
                interval_us: 200_000,
                burst_us: 800_000
            })
        );
        assert_eq!(Gcra::per_second(0.0), None);
    }

    #[test]
    fn a_shard_share_below_one_a_second_still_admits_one_at_a_time() {
        let share = Gcra::per_second(0.5).unwrap();
        assert_eq!(share.interval_us, 2_000_000);
        assert_eq!(share.burst_us, 0);
    }
}
