//! How many waiting tokens a concert's queue admits at a step, and when a
//! waiting token has lost its place.
//!
//! An admission step admits at most `per_interval` tokens (the rate), never
//! so many that more than `active_cap` tokens are ACTIVE at once, and none
//! while an operator has paused intake. Tokens that stopped polling and
//! admitted no-shows are swept before the count is taken, so the capacity
//! they held goes to the next fans instead of standing idle.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A concert's admission rules, as an operator sets them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdmissionRules {
    /// At most this many tokens become ACTIVE per admission interval.
    pub per_interval: u64,
    /// At most this many tokens are ACTIVE at once (`None`: no cap).
    pub active_cap: Option<u64>,
    /// While paused, nobody is admitted (fans keep their places).
    pub paused: bool,
}

/// Why a set of rules is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdmissionRulesError {
    #[error("admit_per_interval must be between 1 and {max}")]
    Rate { max: u64 },
    #[error("active_cap must be between 1 and {max} (omit it for no cap)")]
    Cap { max: u64 },
}

impl AdmissionRules {
    pub const MAX_PER_INTERVAL: u64 = 100_000;
    pub const MAX_ACTIVE_CAP: u64 = 10_000_000;

    /// Rules with a rate and an optional cap, not paused.
    pub fn parse(per_interval: u64, active_cap: Option<u64>) -> Result<Self, AdmissionRulesError> {
        if per_interval == 0 || per_interval > Self::MAX_PER_INTERVAL {
            return Err(AdmissionRulesError::Rate {
                max: Self::MAX_PER_INTERVAL,
            });
        }
        if active_cap.is_some_and(|cap| cap == 0 || cap > Self::MAX_ACTIVE_CAP) {
            return Err(AdmissionRulesError::Cap {
                max: Self::MAX_ACTIVE_CAP,
            });
        }
        Ok(Self {
            per_interval,
            active_cap,
            paused: false,
        })
    }

    /// How many of `waiting` tokens to admit now, with `active` already
    /// ACTIVE: the rate, less whatever would break the cap, none if paused.
    pub fn admit_count(&self, active: u64, waiting: u64) -> u64 {
        if self.paused {
            return 0;
        }
        let room = self
            .active_cap
            .map_or(u64::MAX, |cap| cap.saturating_sub(active));
        self.per_interval.min(room).min(waiting)
    }
}

/// A waiting token last seen before this instant (ms) has lost its place:
/// its holder stopped polling `keepalive` ago.
pub fn abandoned_before(now_ms: i64, keepalive: Duration) -> i64 {
    now_ms - keepalive.as_millis() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_the_cap_and_the_queue_bound_an_admission() {
        let rules = AdmissionRules::parse(10, Some(25)).unwrap();
        assert_eq!(rules.admit_count(0, 100), 10);
        assert_eq!(rules.admit_count(20, 100), 5);
        assert_eq!(rules.admit_count(25, 100), 0);
        assert_eq!(rules.admit_count(30, 100), 0, "over the cap admits nobody");
        assert_eq!(rules.admit_count(0, 3), 3);
        let uncapped = AdmissionRules::parse(10, None).unwrap();
        assert_eq!(uncapped.admit_count(1_000_000, 100), 10);
    }

    #[test]
    fn paused_intake_admits_nobody() {
        let rules = AdmissionRules {
            paused: true,
            ..AdmissionRules::parse(10, None).unwrap()
        };
        assert_eq!(rules.admit_count(0, 100), 0);
    }

    #[test]
    fn a_rate_or_cap_of_zero_or_beyond_the_bound_is_refused() {
        assert!(matches!(
            AdmissionRules::parse(0, None),
            Err(AdmissionRulesError::Rate { .. })
        ));
        assert!(AdmissionRules::parse(AdmissionRules::MAX_PER_INTERVAL + 1, None).is_err());
        assert!(matches!(
            AdmissionRules::parse(1, Some(0)),
            Err(AdmissionRulesError::Cap { .. })
        ));
    }

    #[test]
    fn a_token_unseen_for_the_keepalive_is_abandoned() {
        assert_eq!(abandoned_before(100_000, Duration::from_secs(30)), 70_000);
    }
}
