//! Per-user and global rate limits on the issue endpoints (per instance).
//!
//! Token buckets from `governor`; over the limit the caller gets 429
//! `RATE_LIMITED` with `Retry-After` (whole seconds, at least 1).

use crate::error::ApiError;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota};
use serde::Deserialize;
use std::num::NonZeroU32;

/// `[rate_limit]` settings; 0 disables a limit.
#[derive(Debug, Clone, Deserialize)]
pub struct RateLimitSettings {
    pub per_user_per_sec: u32,
    pub global_per_sec: u32,
}

pub struct IssueLimits {
    per_user: Option<DefaultKeyedRateLimiter<u64>>,
    global: Option<DefaultDirectRateLimiter>,
    /// Made once: creating a clock calibrates it (CPUID), which costs more
    /// than the whole rest of a rate-limit check.
    clock: DefaultClock,
}

impl IssueLimits {
    pub fn new(settings: &RateLimitSettings) -> Self {
        Self {
            per_user: NonZeroU32::new(settings.per_user_per_sec)
                .map(|n| DefaultKeyedRateLimiter::keyed(Quota::per_second(n))),
            global: NonZeroU32::new(settings.global_per_sec)
                .map(|n| DefaultDirectRateLimiter::direct(Quota::per_second(n))),
            clock: DefaultClock::default(),
        }
    }

    /// Admits one request of `user_id` or says when to retry.
    pub fn check(&self, user_id: u64) -> Result<(), ApiError> {
        let now = || self.clock.now();
        let wait =
            if let Some(Err(not_until)) = self.per_user.as_ref().map(|l| l.check_key(&user_id)) {
                Some((
                    "too many requests from this user",
                    not_until.wait_time_from(now()),
                ))
            } else if let Some(Err(not_until)) = self.global.as_ref().map(|l| l.check()) {
                Some((
                    "the service is at its request limit",
                    not_until.wait_time_from(now()),
                ))
            } else {
                None
            };
        match wait {
            None => Ok(()),
            Some((message, wait)) => {
                let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
                Err(ApiError::new(
                    axum::http::StatusCode::TOO_MANY_REQUESTS,
                    "RATE_LIMITED",
                    message,
                )
                .with_header(axum::http::header::RETRY_AFTER, seconds.to_string()))
            }
        }
    }
}
