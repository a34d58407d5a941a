//! What the gate holds for one pool and one caller, read in one step, and
//! the refusals that read decides on its own.
//!
//! Most requests of a flash sale come after the stock ran out, and all of
//! them are refused. A refusal takes nothing, so it needs no atomic
//! script: one read of the pool's state (the stock, the window, whether it
//! is closed or being rebuilt, and the caller's wins) decides it, and only a
//! request that read does not refuse goes on to the take script, which
//! checks the same things again, in the same order, and takes atomically.
//! [`GateState::refusal`] is that order; the take script (`fcfs_take.lua`)
//! follows it line by line, and a test holds the two together.

use super::GateOutcome;

/// One pool's gate as one read saw it, with one caller's wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GateState {
    /// Units left; `None`: the gate does not know the pool (never opened,
    /// or lost with Redis).
    pub stock: Option<i64>,
    pub opens_ms: i64,
    pub closes_ms: i64,
    pub closed: bool,
    /// Being rewritten from the database: nothing may be taken meanwhile.
    pub rebuilding: bool,
    /// Wins the caller holds in this pool.
    pub held: u32,
}

impl GateState {
    /// The answer that refuses this caller at `now_ms` without taking
    /// anything, or `None` when a unit may be taken (the script decides).
    pub fn refusal(&self, now_ms: i64, per_user_limit: u32) -> Option<GateOutcome> {
        let Some(stock) = self.stock else {
            return Some(GateOutcome::Uninitialised);
        };
        if self.rebuilding {
            Some(GateOutcome::Rebuilding)
        } else if self.closed {
            Some(GateOutcome::Closed)
        } else if now_ms < self.opens_ms || now_ms >= self.closes_ms {
            Some(GateOutcome::NotOpen)
        } else if self.held >= per_user_limit {
            Some(GateOutcome::AlreadyIssued)
        } else if stock <= 0 {
            Some(GateOutcome::SoldOut)
        } else {
            None
        }
    }
}

impl GateOutcome {
    /// Whether this answer refuses every caller of the pool, not just this
    /// one: sold out, outside the window, closed, unknown or being rebuilt.
    /// (A pool answering so is worth a read before the script.)
    pub fn refuses_everyone(self) -> bool {
        match self {
            Self::SoldOut
            | Self::NotOpen
            | Self::Closed
            | Self::Uninitialised
            | Self::Rebuilding => true,
            Self::Won { .. } | Self::AlreadyIssued => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_000;

    fn open_with(stock: i64, held: u32) -> GateState {
        GateState {
            stock: Some(stock),
            opens_ms: 0,
            closes_ms: 2_000,
            closed: false,
            rebuilding: false,
            held,
        }
    }

    #[test]
    fn an_open_pool_with_stock_and_a_new_caller_is_left_to_the_script() {
        assert_eq!(open_with(3, 0).refusal(NOW, 1), None);
        assert_eq!(open_with(3, 1).refusal(NOW, 2), None);
    }

    #[test]
    fn each_refusal_in_the_scripts_order() {
        let unknown = GateState {
            stock: None,
            rebuilding: true,
            ..open_with(0, 9)
        };
        assert_eq!(unknown.refusal(NOW, 1), Some(GateOutcome::Uninitialised));
        let rebuilding = GateState {
            rebuilding: true,
            closed: true,
            ..open_with(0, 9)
        };
        assert_eq!(rebuilding.refusal(NOW, 1), Some(GateOutcome::Rebuilding));
        let closed = GateState {
            closed: true,
            ..open_with(0, 9)
        };
        assert_eq!(closed.refusal(NOW, 1), Some(GateOutcome::Closed));
        assert_eq!(
            open_with(0, 9).refusal(2_000, 1),
            Some(GateOutcome::NotOpen),
            "the window closes at closes_ms"
        );
        assert_eq!(open_with(0, 9).refusal(-1, 1), Some(GateOutcome::NotOpen));
        assert_eq!(
            open_with(0, 1).refusal(NOW, 1),
            Some(GateOutcome::AlreadyIssued),
            "a holder hears that he holds it, sold out or not"
        );
        assert_eq!(open_with(0, 0).refusal(NOW, 1), Some(GateOutcome::SoldOut));
        assert_eq!(open_with(-1, 0).refusal(NOW, 1), Some(GateOutcome::SoldOut));
    }

    #[test]
    fn only_pool_wide_answers_refuse_everyone() {
        for everyone in [
            GateOutcome::SoldOut,
            GateOutcome::NotOpen,
            GateOutcome::Closed,
            GateOutcome::Uninitialised,
            GateOutcome::Rebuilding,
        ] {
            assert!(everyone.refuses_everyone(), "{everyone:?}");
        }
        let won = GateOutcome::Won {
            ordinal: 1,
            remaining: 0,
        };
        assert!(!won.refuses_everyone());
        assert!(!GateOutcome::AlreadyIssued.refuses_everyone());
    }
}
