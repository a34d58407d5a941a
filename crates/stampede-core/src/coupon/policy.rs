//! Coupon policies and their rules.

use crate::fcfs::{IssueWindow, PoolError};
use serde::{Deserialize, Serialize};

/// What a coupon takes off a price.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Discount {
    /// A fixed amount.
    Fixed { amount: u64 },
    /// A percentage (1–100) of the price, at most `cap`.
    Percent { percent: u8, cap: u64 },
}

impl Discount {
    /// The discount on `price` (never more than the price: the total stays ≥ 0).
    pub fn on(&self, price: u64) -> u64 {
        let discount = match *self {
            Self::Fixed { amount } => amount,
            Self::Percent { percent, cap } => (price * u64::from(percent) / 100).min(cap),
        };
        discount.min(price)
    }
}

/// How requests for a policy are served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum IssueMode {
    /// One Redis Lua script decides at once; winners are persisted by a batch consumer.
    Gate,
    /// Requests are queued on Kafka (202) and decided in order by a consumer.
    Queue,
    /// The naive baseline: a DB transaction with `SELECT … FOR UPDATE` on the
    /// stock row. Kept for benchmarks; it serialises every request.
    DbLock,
}

impl IssueMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Gate => "GATE",
            Self::Queue => "QUEUE",
            Self::DbLock => "DB_LOCK",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "GATE" => Some(Self::Gate),
            "QUEUE" => Some(Self::Queue),
            "DB_LOCK" => Some(Self::DbLock),
            _ => None,
        }
    }
}

/// A validated request to create a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCouponPolicy {
    pub name: String,
    pub discount: Discount,
    pub total_stock: u64,
    pub per_user_limit: u32,
    pub window: IssueWindow,
    pub valid_days: u32,
    pub mode: IssueMode,
}

/// Upper bounds that keep Redis counters and SQL columns comfortably in range.
const MAX_STOCK: u64 = 100_000_000;
const MAX_PER_USER: u32 = 100;
const MAX_VALID_DAYS: u32 = 3650;

impl NewCouponPolicy {
    #[allow(clippy::too_many_arguments)]
    pub fn parse(
        name: &str,
        discount: Discount,
        total_stock: u64,
        per_user_limit: u32,
        window: IssueWindow,
        valid_days: u32,
        mode: IssueMode,
    ) -> Result<Self, PoolError> {
        let invalid = |m: &str| Err(PoolError::Invalid(m.to_owned()));
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return invalid("name must be 1-200 characters");
        }
        match discount {
            Discount::Fixed { amount: 0 } => return invalid("a fixed discount must be positive"),
            Discount::Percent { percent, .. } if !(1..=100).contains(&percent) => {
                return invalid("a percent discount must be between 1 and 100")
            }
            Discount::Percent { cap: 0, .. } => {
                return invalid("a percent discount needs a positive cap")
            }
            _ => {}
        }
        if !(1..=MAX_STOCK).contains(&total_stock) {
            return invalid("total_stock must be between 1 and 100000000");
        }
        if !(1..=MAX_PER_USER).contains(&per_user_limit) {
            return invalid("per_user_limit must be between 1 and 100");
        }
        if !(1..=MAX_VALID_DAYS).contains(&valid_days) {
            return invalid("valid_days must be between 1 and 3650");
        }
        Ok(Self {
            name: name.to_owned(),
            discount,
            total_stock,
            per_user_limit,
            window,
            valid_days,
            mode,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, Utc};

    fn window() -> IssueWindow {
        let now = Utc::now();
        IssueWindow::new(now, now + Duration::hours(1)).unwrap()
    }

    #[test]
    fn percent_discounts_are_capped_and_never_exceed_the_price() {
        let d = Discount::Percent {
            percent: 50,
            cap: 3000,
        };
        assert_eq!(d.on(4000), 2000);
        assert_eq!(d.on(10_000), 3000);
        assert_eq!(Discount::Fixed { amount: 5000 }.on(3000), 3000);
    }

    #[test]
    fn invalid_policies_are_refused() {
        let ok = |stock, limit| {
            NewCouponPolicy::parse(
                "p",
                Discount::Fixed { amount: 1 },
                stock,
                limit,
                window(),
                30,
                IssueMode::Gate,
            )
        };
        assert!(ok(10, 1).is_ok());
        assert!(ok(0, 1).is_err());
        assert!(ok(10, 0).is_err());
        let now = Utc::now();
        assert!(IssueWindow::new(now, now).is_err());
        let bad = Discount::Percent {
            percent: 0,
            cap: 10,
        };
        assert!(NewCouponPolicy::parse("p", bad, 1, 1, window(), 30, IssueMode::Gate).is_err());
    }
}
