//! What librdkafka tells a consumer outside its records: which partitions
//! its rebalances leave it ([`Assignment`], for the lag sampler and for what
//! it may commit) and what the broker confirmed of its offset commits
//! ([`Commits`]).
//!
//! Commits are asynchronous, so a batch does not wait a round trip for its
//! commit; their outcome arrives later, in the commit callback. A failed one
//! (the coordinator moving, a request timing out on a loaded broker) would
//! otherwise be silent, and if it carried the last batch before a quiet
//! spell the group would stay behind its real position: lag that never
//! drains, records redelivered after a restart. The runtime therefore
//! commits again, when idle, every held position the broker has not
//! confirmed.

use super::lag::Assignment;
use super::plan::unconfirmed;
use rdkafka::consumer::{BaseConsumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaResult;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Per partition, the next offset the runtime asked to commit and the next
/// offset the broker confirmed. A revoked partition is forgotten: what this
/// instance handled there is another member's to commit now, and a late
/// commit from here could move the group back behind that member.
#[derive(Clone, Default)]
pub struct Commits(Arc<Mutex<Ledger>>);

#[derive(Default)]
struct Ledger {
    asked: BTreeMap<(String, i32), i64>,
    confirmed: BTreeMap<(String, i32), i64>,
}

impl Commits {
    /// Records that `next` was asked to be committed on a partition.
    pub(super) fn ask(&self, topic: &str, partition: i32, next: i64) {
        let mut ledger = self.0.lock().unwrap();
        ledger.asked.insert((topic.to_owned(), partition), next);
    }

    /// Every position asked on a partition still held.
    pub(super) fn asked(&self) -> BTreeMap<(String, i32), i64> {
        self.0.lock().unwrap().asked.clone()
    }

    /// The positions the broker has not confirmed yet.
    pub(super) fn unconfirmed(&self) -> BTreeMap<(String, i32), i64> {
        let ledger = self.0.lock().unwrap();
        unconfirmed(&ledger.asked, &ledger.confirmed)
    }

    fn confirm(&self, offsets: &TopicPartitionList) {
        let mut ledger = self.0.lock().unwrap();
        for element in offsets.elements() {
            if let (Ok(()), Offset::Offset(next)) = (element.error(), element.offset()) {
                let at = ledger
                    .confirmed
                    .entry((element.topic().to_owned(), element.partition()))
                    .or_insert(next);
                *at = (*at).max(next);
            }
        }
    }

    fn forget(&self, revoked: &TopicPartitionList) {
        let mut ledger = self.0.lock().unwrap();
        for element in revoked.elements() {
            let key = (element.topic().to_owned(), element.partition());
            ledger.asked.remove(&key);
            ledger.confirmed.remove(&key);
        }
    }
}

/// The librdkafka context of one consumer.
#[derive(Clone)]
pub struct GroupContext {
    pub consumer: String,
    pub assignment: Assignment,
    pub commits: Commits,
}

impl ClientContext for GroupContext {}

impl ConsumerContext for GroupContext {
    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        self.assignment.apply(rebalance);
        if let Rebalance::Revoke(revoked) = rebalance {
            self.commits.forget(revoked);
        }
    }

    fn commit_callback(&self, result: KafkaResult<()>, offsets: &TopicPartitionList) {
        match result {
            Ok(()) => self.commits.confirm(offsets),
            Err(error) => {
                metrics::counter!("stampede_consumer_commit_failures_total", "consumer" => self.consumer.clone())
                    .increment(1);
                tracing::warn!(consumer = %self.consumer, %error, "offset commit failed; committing again when idle");
            }
        }
    }
}
