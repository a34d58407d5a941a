//! Coupon policies and their rules.

use crate::fcfs::{IssueWindow, NewPool, NotAdmitted, PoolError, PoolState};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// What a coupon takes off a price.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Discount {
    /// A fixed amount.
    Fixed {
        #[cfg_attr(feature = "openapi", schema(minimum = 1))]
        amount: u64,
    },
    /// A percentage (1–100) of the price, at most `cap`.
    Percent {
        #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 100))]
        percent: u8,
        #[cfg_attr(feature = "openapi", schema(minimum = 1))]
        cap: u64,
    },
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

crate::status_enum! {
    /// How requests for a policy are served.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
    pub enum IssueMode {
        /// One Redis Lua script decides at once; winners are persisted by a batch consumer.
        Gate = "GATE",
        /// Requests are queued on Kafka (202) and decided in order by a consumer.
        Queue = "QUEUE",
        /// The naive baseline: a DB transaction with `SELECT … FOR UPDATE` on the
        /// stock row. Kept for benchmarks; it serialises every request.
        DbLock = "DB_LOCK",
    }
}

/// A validated request to create a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCouponPolicy {
    pool: NewPool,
    discount: Discount,
    per_user_limit: u32,
    valid_days: u32,
    mode: IssueMode,
}

/// Upper bounds that keep Redis marks and SQL columns comfortably in range.
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
        let pool = NewPool::parse(name, total_stock, "total_stock", window)?;
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
        if !(1..=MAX_PER_USER).contains(&per_user_limit) {
            return invalid("per_user_limit must be between 1 and 100");
        }
        if !(1..=MAX_VALID_DAYS).contains(&valid_days) {
            return invalid("valid_days must be between 1 and 3650");
        }
        Ok(Self {
            pool,
            discount,
            per_user_limit,
            valid_days,
            mode,
        })
    }

    /// The name, stock and window.
    pub fn pool(&self) -> &NewPool {
        &self.pool
    }

    pub fn discount(&self) -> Discount {
        self.discount
    }

    pub fn per_user_limit(&self) -> u32 {
        self.per_user_limit
    }

    pub fn valid_days(&self) -> u32 {
        self.valid_days
    }

    pub fn mode(&self) -> IssueMode {
        self.mode
    }
}

/// A stored coupon policy.
#[derive(Debug, Clone, PartialEq)]
pub struct CouponPolicy {
    pub id: u64,
    pub name: String,
    pub discount: Discount,
    pub total_stock: u64,
    pub per_user_limit: u32,
    pub valid_days: u32,
    pub mode: IssueMode,
    /// Status, remaining stock and window.
    pub pool: PoolState,
}

impl CouponPolicy {
    /// When a coupon issued at `at` stops being valid.
    pub fn expiry_for(&self, at: DateTime<Utc>) -> DateTime<Utc> {
        at + Duration::days(i64::from(self.valid_days))
    }

    /// Whether queue mode takes a request made at `at` into its queue:
    /// every request is queued unless the policy is closed. The queue's
    /// consumer then decides each one in arrival order with
    /// [`PoolState::admits`] at the time it was made (so a request queued
    /// outside the window, or while the policy was a draft, is rejected
    /// NOT_OPEN there, not here).
    pub fn queues(&self, at: DateTime<Utc>) -> Result<(), NotAdmitted> {
        match self.pool.admits(at) {
            Err(NotAdmitted::Closed) => Err(NotAdmitted::Closed),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fcfs::PoolStatus;

    fn window() -> IssueWindow {
        IssueWindow::the_next_hour()
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

    fn policy(status: PoolStatus) -> CouponPolicy {
        CouponPolicy {
            id: 1,
            name: "p".into(),
            discount: Discount::Fixed { amount: 1 },
            total_stock: 10,
            per_user_limit: 1,
            valid_days: 30,
            mode: IssueMode::Queue,
            pool: PoolState {
                status,
                remaining: 10,
                window: window(),
            },
        }
    }

    #[test]
    fn coupons_expire_valid_days_after_their_issue() {
        let at = Utc::now();
        assert_eq!(
            policy(PoolStatus::Open).expiry_for(at),
            at + Duration::days(30)
        );
    }

    #[test]
    fn queue_mode_queues_every_request_but_those_for_a_closed_policy() {
        let late = window().closes_at() + Duration::hours(1);
        assert_eq!(policy(PoolStatus::Open).queues(late), Ok(()));
        assert_eq!(policy(PoolStatus::Draft).queues(late), Ok(()));
        assert_eq!(
            policy(PoolStatus::Closed).queues(Utc::now()),
            Err(NotAdmitted::Closed)
        );
    }
}
