//! The runtime's decisions, apart from the I/O that carries them out: what
//! follows a failed handler call, which offsets a handled batch commits, and
//! which commits to send again.
//! They are pure, so each branch has a unit test below; `runtime.rs` only
//! polls, calls handlers, pauses, dead-letters and commits as told.

use std::collections::BTreeMap;
use std::ops::Range;

/// What kind of failure a handler reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FailureKind {
    /// MariaDB or Redis unreachable: not the record's fault.
    Unavailable,
    /// The record can never be handled (a bug, a poison record).
    Fatal,
    /// Worth another try after a back-off.
    Retryable,
}

/// What to do with the record whose handling just failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NextStep {
    /// Wait out the outage and try again; the attempt does not count, so an
    /// outage of any length never dead-letters a good record.
    WaitOutOutage,
    /// Back off and try again; this will be retry number `attempt`.
    Retry { attempt: u32 },
    /// Park the record in the dead-letter topic so the partition moves on.
    DeadLetter,
}

/// The retry rule: fatal failures and records out of retries are
/// dead-lettered, outages are waited out, the rest retried after a back-off.
pub(super) fn after_failure(
    kind: FailureKind,
    retries_so_far: u32,
    retry_attempts: u32,
) -> NextStep {
    match kind {
        FailureKind::Unavailable => NextStep::WaitOutOutage,
        FailureKind::Fatal => NextStep::DeadLetter,
        FailureKind::Retryable if retries_so_far >= retry_attempts => NextStep::DeadLetter,
        FailureKind::Retryable => NextStep::Retry {
            attempt: retries_so_far + 1,
        },
    }
}

/// A batch handler's way through its records, with Spring Kafka's batch
/// semantics: a failure naming record `i` keeps the records before it,
/// retries from `i`, and finally dead-letters `i` alone; a failure naming
/// none retries the whole rest, then dead-letters it all.
#[derive(Debug)]
pub(super) struct BatchProgress {
    start: usize,
    retries: u32,
    len: usize,
    retry_attempts: u32,
}

/// The answer to a failed handler call on the rest of a batch.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct BatchStep {
    /// Records the call handled before the one that failed (count them,
    /// mark them done).
    pub handled: Range<usize>,
    pub next: BatchNext,
}

/// What the runtime does after a [`BatchStep`]'s handled records.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum BatchNext {
    /// Pause (outage or back-off; `retry` is for the log), then call the
    /// handler again on what is left.
    Pause { retry: u32 },
    /// Dead-letter these records, then go on after them.
    DeadLetter(Range<usize>),
}

impl BatchProgress {
    pub(super) fn new(len: usize, retry_attempts: u32) -> Self {
        Self {
            start: 0,
            retries: 0,
            len,
            retry_attempts,
        }
    }

    /// The records still to hand to the handler, if any.
    pub(super) fn pending(&self) -> Option<Range<usize>> {
        (self.start < self.len).then_some(self.start..self.len)
    }

    /// The handler took everything that was pending: these records.
    pub(super) fn succeeded(&mut self) -> Range<usize> {
        let handled = self.start..self.len;
        self.start = self.len;
        handled
    }

    /// The handler failed on the pending records; `index` (relative to the
    /// pending slice) names the failing record when the handler knows it.
    pub(super) fn failed(&mut self, index: Option<usize>, kind: FailureKind) -> BatchStep {
        let failed_at = index.map(|i| self.start + i).filter(|&i| i < self.len);
        let mut handled = self.start..self.start;
        if let Some(failed) = failed_at.filter(|&failed| failed > self.start) {
            handled = self.start..failed;
            self.start = failed;
            self.retries = 0;
        }
        let next = match after_failure(kind, self.retries, self.retry_attempts) {
            NextStep::WaitOutOutage => BatchNext::Pause {
                retry: self.retries,
            },
            NextStep::Retry { attempt } => {
                self.retries = attempt;
                BatchNext::Pause { retry: attempt }
            }
            NextStep::DeadLetter => {
                let end = failed_at.map_or(self.len, |failed| failed + 1);
                let parked = self.start..end;
                self.start = end;
                self.retries = 0;
                BatchNext::DeadLetter(parked)
            }
        };
        BatchStep { handled, next }
    }
}

/// The offset to commit on each partition: one past the longest run of
/// finished records from the batch's start on that partition. A partition
/// whose first record is unfinished commits nothing, so that record is
/// redelivered. `records` come in poll order: `(topic, partition, offset,
/// finished)`.
pub(super) fn commit_offsets<'a>(
    records: impl IntoIterator<Item = (&'a str, i32, i64, bool)>,
) -> BTreeMap<(&'a str, i32), i64> {
    let mut runs: BTreeMap<(&str, i32), (Option<i64>, bool)> = BTreeMap::new();
    for (topic, partition, offset, finished) in records {
        let (next, blocked) = runs.entry((topic, partition)).or_default();
        if !finished {
            *blocked = true;
        } else if !*blocked {
            *next = Some(offset + 1);
        }
    }
    runs.into_iter()
        .filter_map(|(key, (next, _))| next.map(|next| (key, next)))
        .collect()
}

/// The positions to commit again: those asked on a partition where the
/// broker confirmed nothing, or less. Committing a position twice is
/// harmless; a position never confirmed leaves the group behind.
pub(super) fn unconfirmed(
    asked: &BTreeMap<(String, i32), i64>,
    confirmed: &BTreeMap<(String, i32), i64>,
) -> BTreeMap<(String, i32), i64> {
    asked
        .iter()
        .filter(|(key, &next)| confirmed.get(*key).is_none_or(|&at| at < next))
        .map(|(key, &next)| (key.clone(), next))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outages_are_waited_out_however_long() {
        assert_eq!(
            after_failure(FailureKind::Unavailable, 99, 3),
            NextStep::WaitOutOutage
        );
    }

    #[test]
    fn fatal_failures_are_dead_lettered_at_once() {
        assert_eq!(
            after_failure(FailureKind::Fatal, 0, 3),
            NextStep::DeadLetter
        );
    }

    #[test]
    fn retryable_failures_are_retried_then_dead_lettered() {
        assert_eq!(
            after_failure(FailureKind::Retryable, 0, 3),
            NextStep::Retry { attempt: 1 }
        );
        assert_eq!(
            after_failure(FailureKind::Retryable, 2, 3),
            NextStep::Retry { attempt: 3 }
        );
        assert_eq!(
            after_failure(FailureKind::Retryable, 3, 3),
            NextStep::DeadLetter
        );
        assert_eq!(
            after_failure(FailureKind::Retryable, 0, 0),
            NextStep::DeadLetter
        );
    }

    #[test]
    fn a_batch_that_succeeds_is_handled_whole() {
        let mut progress = BatchProgress::new(4, 3);
        assert_eq!(progress.pending(), Some(0..4));
        assert_eq!(progress.succeeded(), 0..4);
        assert_eq!(progress.pending(), None);
    }

    #[test]
    fn a_named_failure_keeps_the_records_before_it_and_parks_it_alone() {
        let mut progress = BatchProgress::new(5, 1);
        let first = progress.failed(Some(2), FailureKind::Retryable);
        assert_eq!(first.handled, 0..2);
        assert_eq!(first.next, BatchNext::Pause { retry: 1 });
        assert_eq!(progress.pending(), Some(2..5));
        // The same record (now index 0 of the rest) fails again: out of retries.
        let second = progress.failed(Some(0), FailureKind::Retryable);
        assert_eq!(second.handled, 2..2);
        assert_eq!(second.next, BatchNext::DeadLetter(2..3));
        assert_eq!(progress.pending(), Some(3..5));
        assert_eq!(progress.succeeded(), 3..5);
    }

    #[test]
    fn moving_past_a_record_resets_the_retries() {
        let mut progress = BatchProgress::new(3, 1);
        progress.failed(Some(0), FailureKind::Retryable);
        // A later record fails: it gets its own retries.
        let step = progress.failed(Some(1), FailureKind::Retryable);
        assert_eq!(step.handled, 0..1);
        assert_eq!(step.next, BatchNext::Pause { retry: 1 });
    }

    #[test]
    fn an_unnamed_failure_retries_then_parks_the_whole_rest() {
        let mut progress = BatchProgress::new(3, 1);
        assert_eq!(
            progress.failed(None, FailureKind::Retryable).next,
            BatchNext::Pause { retry: 1 }
        );
        assert_eq!(
            progress.failed(None, FailureKind::Retryable).next,
            BatchNext::DeadLetter(0..3)
        );
        assert_eq!(progress.pending(), None);
    }

    #[test]
    fn an_index_past_the_batch_counts_as_unnamed() {
        let mut progress = BatchProgress::new(2, 0);
        let step = progress.failed(Some(7), FailureKind::Fatal);
        assert_eq!(step.handled, 0..0);
        assert_eq!(step.next, BatchNext::DeadLetter(0..2));
    }

    #[test]
    fn an_outage_in_a_batch_keeps_its_retries() {
        let mut progress = BatchProgress::new(2, 1);
        progress.failed(None, FailureKind::Retryable);
        for _ in 0..5 {
            assert_eq!(
                progress.failed(None, FailureKind::Unavailable).next,
                BatchNext::Pause { retry: 1 }
            );
        }
        assert_eq!(
            progress.failed(None, FailureKind::Retryable).next,
            BatchNext::DeadLetter(0..2)
        );
    }

    #[test]
    fn commits_stop_at_the_first_unfinished_record_of_each_partition() {
        let records = [
            ("a", 0, 10, true),
            ("a", 1, 5, true),
            ("a", 0, 11, false),
            ("a", 0, 12, true),
            ("a", 1, 6, true),
            ("b", 0, 3, false),
        ];
        let offsets = commit_offsets(records);
        assert_eq!(offsets.get(&("a", 0)), Some(&11));
        assert_eq!(offsets.get(&("a", 1)), Some(&7));
        assert_eq!(offsets.get(&("b", 0)), None);
    }

    #[test]
    fn positions_the_broker_has_not_confirmed_are_committed_again() {
        let key = |p: i32| ("t".to_owned(), p);
        let asked = BTreeMap::from([(key(0), 10), (key(1), 20), (key(2), 30)]);
        let confirmed = BTreeMap::from([(key(0), 10), (key(1), 15)]);
        assert_eq!(
            unconfirmed(&asked, &confirmed),
            BTreeMap::from([(key(1), 20), (key(2), 30)])
        );
        assert!(unconfirmed(&asked, &asked).is_empty());
    }
}
