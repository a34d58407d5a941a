//! What coupon policies and campaigns share as FCFS pools: the lifecycle
//! (DRAFT → OPEN → CLOSED), a stock, an issue window, the rules every new
//! pool meets, and the one check whether a pool takes a request.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

crate::status_enum! {
    /// The lifecycle of a pool: DRAFT → OPEN → CLOSED; CLOSED is terminal.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
    pub enum PoolStatus {
        Draft = "DRAFT",
        Open = "OPEN",
        Closed = "CLOSED",
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    #[error("{0}")]
    Invalid(String),
    #[error("a {from:?} pool cannot be {action}")]
    Transition {
        from: PoolStatus,
        action: &'static str,
    },
}

impl PoolStatus {
    /// Opening initialises the gate's counter; only a draft can be opened.
    pub fn open(self) -> Result<Self, PoolError> {
        match self {
            Self::Draft => Ok(Self::Open),
            from => Err(PoolError::Transition {
                from,
                action: "opened",
            }),
        }
    }

    /// Closing stops issuance for good.
    pub fn close(self) -> Result<Self, PoolError> {
        match self {
            Self::Draft | Self::Open => Ok(Self::Closed),
            from => Err(PoolError::Transition {
                from,
                action: "closed",
            }),
        }
    }
}

/// When requests are accepted: `opens_at <= now < closes_at`. Built only by
/// [`IssueWindow::new`], so every window, sent by a client or read from
/// storage, closes after it opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IssueWindow {
    opens_at: DateTime<Utc>,
    closes_at: DateTime<Utc>,
}

impl IssueWindow {
    pub fn new(opens_at: DateTime<Utc>, closes_at: DateTime<Utc>) -> Result<Self, PoolError> {
        if closes_at <= opens_at {
            return Err(PoolError::Invalid(
                "the window must close after it opens (closes_at > opens_at)".into(),
            ));
        }
        Ok(Self {
            opens_at,
            closes_at,
        })
    }

    pub fn opens_at(&self) -> DateTime<Utc> {
        self.opens_at
    }

    pub fn closes_at(&self) -> DateTime<Utc> {
        self.closes_at
    }

    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        self.opens_at <= at && at < self.closes_at
    }
}

#[cfg(test)]
impl IssueWindow {
    /// From now for an hour: a window open right now, for tests.
    pub(crate) fn the_next_hour() -> Self {
        let now = Utc::now();
        Self::new(now, now + chrono::Duration::hours(1)).unwrap()
    }
}

/// The largest stock a pool may have: the gate's counter and the SQL
/// columns stay comfortably in range.
const MAX_STOCK: u64 = 100_000_000;

/// What every new pool is made of, validated: a name, a stock of units and
/// an issue window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPool {
    name: String,
    stock: u64,
    window: IssueWindow,
}

impl NewPool {
    /// `stock_field` is what the request calls the stock (`total_stock`,
    /// `total_slots`), so a refusal names the field the client sent.
    pub fn parse(
        name: &str,
        stock: u64,
        stock_field: &str,
        window: IssueWindow,
    ) -> Result<Self, PoolError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(PoolError::Invalid("name must be 1-200 characters".into()));
        }
        if !(1..=MAX_STOCK).contains(&stock) {
            return Err(PoolError::Invalid(format!(
                "{stock_field} must be between 1 and {MAX_STOCK}"
            )));
        }
        Ok(Self {
            name: name.to_owned(),
            stock,
            window,
        })
    }

    /// Trimmed.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn stock(&self) -> u64 {
        self.stock
    }

    pub fn window(&self) -> IssueWindow {
        self.window
    }
}

/// A pool as stored: its status, the units whose winners are not rows yet
/// subtracted from its stock, and its window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolState {
    pub status: PoolStatus,
    pub remaining: u64,
    pub window: IssueWindow,
}

/// Why a pool does not take a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotAdmitted {
    /// A draft: never opened.
    NotOpened,
    /// Closed by an admin, for good.
    Closed,
    /// Open, but the request was made outside the issue window.
    OutsideWindow,
}

impl PoolState {
    /// The one rule for whether a pool takes a request made at `at`: it is
    /// OPEN and `at` lies in its window. Stock and per-user limits are the
    /// gate's (or the row lock's) to decide, atomically with the take.
    pub fn admits(&self, at: DateTime<Utc>) -> Result<(), NotAdmitted> {
        match self.status {
            PoolStatus::Draft => Err(NotAdmitted::NotOpened),
            PoolStatus::Closed => Err(NotAdmitted::Closed),
            PoolStatus::Open if !self.window.contains(at) => Err(NotAdmitted::OutsideWindow),
            PoolStatus::Open => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window() -> IssueWindow {
        IssueWindow::the_next_hour()
    }

    #[test]
    fn closed_is_terminal_and_only_drafts_open() {
        assert_eq!(PoolStatus::Draft.open(), Ok(PoolStatus::Open));
        assert!(PoolStatus::Open.open().is_err());
        assert_eq!(PoolStatus::Open.close(), Ok(PoolStatus::Closed));
        assert!(PoolStatus::Closed.close().is_err());
        assert!(PoolStatus::Closed.open().is_err());
    }

    #[test]
    fn windows_are_half_open_and_close_after_they_open() {
        let w = window();
        assert!(w.contains(w.opens_at()));
        assert!(!w.contains(w.closes_at()));
        assert!(IssueWindow::new(w.opens_at(), w.opens_at()).is_err());
    }

    #[test]
    fn new_pools_need_a_name_and_a_stock_in_range() {
        let parse = |name, stock| NewPool::parse(name, stock, "total_slots", window());
        assert_eq!(parse("  p ", 1).unwrap().name(), "p");
        assert!(parse(" ", 1).is_err());
        let long = "x".repeat(201);
        assert!(parse(&long, 1).is_err());
        assert_eq!(
            parse("p", 0),
            Err(PoolError::Invalid(
                "total_slots must be between 1 and 100000000".into()
            ))
        );
        assert!(parse("p", MAX_STOCK).is_ok());
        assert!(parse("p", MAX_STOCK + 1).is_err());
    }

    #[test]
    fn only_an_open_pool_inside_its_window_admits() {
        let window = window();
        let state = |status| PoolState {
            status,
            remaining: 1,
            window,
        };
        let inside = window.opens_at();
        assert_eq!(state(PoolStatus::Open).admits(inside), Ok(()));
        assert_eq!(
            state(PoolStatus::Open).admits(window.closes_at()),
            Err(NotAdmitted::OutsideWindow)
        );
        assert_eq!(
            state(PoolStatus::Draft).admits(inside),
            Err(NotAdmitted::NotOpened)
        );
        assert_eq!(
            state(PoolStatus::Closed).admits(inside),
            Err(NotAdmitted::Closed)
        );
    }
}
