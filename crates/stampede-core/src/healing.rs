//! When the healer may give a claim's unit back: the decision, on what it
//! read (see `fcfs` for why these are the conditions).
//!
//! A claim may be revoked once no publish of its winner can still be under
//! way *and* the persisting consumer has committed past everything its topic
//! held at some moment after that. [`WatermarkLog`] remembers, for recent
//! moments, where the topic ended; [`WatermarkLog::passed_at`] tells the
//! latest moment whose ends the consumer has committed past.

use std::collections::{BTreeMap, VecDeque};

/// Where each partition of a topic ended (high watermark), at moments in time.
#[derive(Debug, Clone, Default)]
pub struct WatermarkLog {
    samples: VecDeque<(i64, BTreeMap<i32, i64>)>,
}

/// Samples kept: at one a second, a few minutes of history.
const KEPT: usize = 600;

impl WatermarkLog {
    /// Records that at `at_ms` partition `p` ended at `highs[p]`.
    pub fn push(&mut self, at_ms: i64, highs: BTreeMap<i32, i64>) {
        self.samples.push_back((at_ms, highs));
        while self.samples.len() > KEPT {
            self.samples.pop_front();
        }
    }

    /// The latest moment up to whose ends the group has committed, given its
    /// committed offsets (a partition it never committed counts as 0).
    pub fn passed_at(&self, committed: &BTreeMap<i32, i64>) -> Option<i64> {
        self.samples
            .iter()
            .rev()
            .find(|(_, highs)| {
                highs
                    .iter()
                    .all(|(p, high)| committed.get(p).copied().unwrap_or(0) >= *high)
            })
            .map(|(at, _)| *at)
    }
}

/// What the healer knows of one open claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenClaimFacts {
    pub taken_at_ms: i64,
    /// Whether the instance that took it still renews its heartbeat.
    pub owner_alive: bool,
}

/// How long the healer waits, and on what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealingBounds {
    /// After this long no publish of a claim's winner can still be under
    /// way (the producer's delivery timeout, plus a margin).
    pub publish_settled_ms: i64,
    /// A live owner resolves its claims itself; one still open after this
    /// long lost its request (a bug, a dropped task) and is healed too.
    pub live_owner_stuck_ms: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimVerdict {
    /// Give the unit back: no acknowledged winner can be behind it.
    Revoke,
    /// Not yet.
    Wait,
}

/// The verdict on one open claim, `consumer_passed_at_ms` being
/// [`WatermarkLog::passed_at`] for the persisting consumer.
pub fn claim_verdict(
    claim: OpenClaimFacts,
    bounds: HealingBounds,
    consumer_passed_at_ms: Option<i64>,
) -> ClaimVerdict {
    let wait = if claim.owner_alive {
        bounds.publish_settled_ms.max(bounds.live_owner_stuck_ms)
    } else {
        bounds.publish_settled_ms
    };
    let eligible_at = claim.taken_at_ms + wait;
    match consumer_passed_at_ms {
        Some(passed) if passed >= eligible_at => ClaimVerdict::Revoke,
        _ => ClaimVerdict::Wait,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOUNDS: HealingBounds = HealingBounds {
        publish_settled_ms: 5_000,
        live_owner_stuck_ms: 60_000,
    };

    fn highs(pairs: &[(i32, i64)]) -> BTreeMap<i32, i64> {
        pairs.iter().copied().collect()
    }

    #[test]
    fn the_consumer_passed_the_latest_moment_whose_ends_it_committed_past() {
        let mut log = WatermarkLog::default();
        log.push(1_000, highs(&[(0, 10), (1, 5)]));
        log.push(2_000, highs(&[(0, 20), (1, 5)]));
        log.push(3_000, highs(&[(0, 30), (1, 6)]));
        assert_eq!(log.passed_at(&highs(&[(0, 25), (1, 5)])), Some(2_000));
        assert_eq!(log.passed_at(&highs(&[(0, 30), (1, 6)])), Some(3_000));
        assert_eq!(log.passed_at(&highs(&[(0, 9), (1, 9)])), None);
        // A partition never committed counts from 0: only an empty one is passed.
        assert_eq!(log.passed_at(&highs(&[(0, 30)])), None);
        let mut empty = WatermarkLog::default();
        empty.push(500, highs(&[(0, 0)]));
        assert_eq!(empty.passed_at(&BTreeMap::new()), Some(500));
    }

    #[test]
    fn a_dead_owners_claim_is_revoked_once_the_consumer_passed_a_moment_after_the_publish_bound() {
        let dead = OpenClaimFacts {
            taken_at_ms: 10_000,
            owner_alive: false,
        };
        assert_eq!(
            claim_verdict(dead, BOUNDS, Some(14_999)),
            ClaimVerdict::Wait
        );
        assert_eq!(
            claim_verdict(dead, BOUNDS, Some(15_000)),
            ClaimVerdict::Revoke
        );
        assert_eq!(claim_verdict(dead, BOUNDS, None), ClaimVerdict::Wait);
    }

    #[test]
    fn a_live_owners_claim_waits_for_the_owner_unless_it_is_stuck() {
        let live = OpenClaimFacts {
            taken_at_ms: 10_000,
            owner_alive: true,
        };
        assert_eq!(
            claim_verdict(live, BOUNDS, Some(20_000)),
            ClaimVerdict::Wait
        );
        assert_eq!(
            claim_verdict(live, BOUNDS, Some(70_000)),
            ClaimVerdict::Revoke
        );
    }
}
