//! Per-user and global rate limits on the issue endpoints, shared by every
//! instance; over a limit the caller gets 429 `RATE_LIMITED` with
//! `Retry-After` (whole seconds, at least 1).
//!
//! Two layers, both with the same limits:
//! - a **local shield** (token buckets from `governor`, in this process):
//!   a flood from one user, or more than the global rate reaching this one
//!   instance, is turned away without a Redis round trip. It sees only this
//!   instance's share of the requests, so it never refuses one the shared
//!   count would admit;
//! - the **shared count** in Redis ([`RateLimits`]), which every instance
//!   asks: a user at the limit is refused by all of them.
//!
//! When Redis does not answer, the shared count is skipped (the local shield
//! still holds, and the gate behind it answers 503 without Redis anyway):
//! a limit protects capacity, it must not turn an outage into more errors.

use crate::error::{ApiError, ErrorCode};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota};
use serde::Deserialize;
use stampede_infra::redis::{RateLimits, RateVerdict, RedisConnection};
use std::num::NonZeroU32;
use std::time::Duration;

/// `[rate_limit]` settings; 0 disables a limit.
#[derive(Debug, Clone, Deserialize)]
pub struct RateLimitSettings {
    pub per_user_per_sec: u32,
    pub global_per_sec: u32,
    /// Buckets the global limit is split into (each with its share), so its
    /// keys spread over a Redis Cluster's nodes; 1 on a single Redis.
    pub global_shards: u32,
}

impl RateLimitSettings {
    pub fn validate(&self) -> Result<(), String> {
        if self.global_shards == 0 {
            return Err("rate_limit.global_shards must be at least 1".into());
        }
        if self.global_per_sec > 0 && self.global_shards > self.global_per_sec {
            return Err(format!(
                "rate_limit.global_shards ({}) must not exceed rate_limit.global_per_sec ({}): each shard needs at least one request a second",
                self.global_shards, self.global_per_sec
            ));
        }
        Ok(())
    }
}

pub struct IssueLimits {
    per_user: Option<DefaultKeyedRateLimiter<u64>>,
    global: Option<DefaultDirectRateLimiter>,
    /// Made once: creating a clock calibrates it (CPUID), which costs more
    /// than the whole rest of a rate-limit check.
    clock: DefaultClock,
    shared: RateLimits,
}

const USER_OVER: &str = "too many requests from this user";
const GLOBAL_OVER: &str = "the service is at its request limit";

impl IssueLimits {
    pub fn new(settings: &RateLimitSettings, redis: RedisConnection, key_prefix: &str) -> Self {
        Self {
            per_user: NonZeroU32::new(settings.per_user_per_sec)
                .map(|n| DefaultKeyedRateLimiter::keyed(Quota::per_second(n))),
            global: NonZeroU32::new(settings.global_per_sec)
                .map(|n| DefaultDirectRateLimiter::direct(Quota::per_second(n))),
            clock: DefaultClock::default(),
            shared: RateLimits::new(
                redis,
                key_prefix,
                settings.per_user_per_sec,
                settings.global_per_sec,
                settings.global_shards,
            ),
        }
    }

    /// Admits one request of `user_id` or says when to retry.
    pub async fn check(&self, user_id: u64) -> Result<(), ApiError> {
        self.check_local(user_id)?;
        match self.shared.check(user_id).await {
            Ok(RateVerdict::Admitted) => Ok(()),
            Ok(RateVerdict::UserOver(wait)) => Err(rate_limited(USER_OVER, wait)),
            Ok(RateVerdict::GlobalOver(wait)) => Err(rate_limited(GLOBAL_OVER, wait)),
            Err(error) => {
                metrics::counter!("stampede_rate_limit_unshared_total").increment(1);
                tracing::debug!(%error, "the shared rate limits did not answer; the local ones decided");
                Ok(())
            }
        }
    }

    /// This instance's shield.
    fn check_local(&self, user_id: u64) -> Result<(), ApiError> {
        let now = || self.clock.now();
        if let Some(Err(not_until)) = self.per_user.as_ref().map(|l| l.check_key(&user_id)) {
            return Err(rate_limited(USER_OVER, not_until.wait_time_from(now())));
        }
        if let Some(Err(not_until)) = self.global.as_ref().map(|l| l.check()) {
            return Err(rate_limited(GLOBAL_OVER, not_until.wait_time_from(now())));
        }
        Ok(())
    }
}

fn rate_limited(message: &str, wait: Duration) -> ApiError {
    let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
    ApiError::new(
        axum::http::StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::RateLimited,
        message,
    )
    .with_header(axum::http::header::RETRY_AFTER, seconds.to_string())
}
