//! `stampede_consumer_lag{consumer, group, topic, partition}`: how many
//! records of each partition this instance holds are not committed yet.
//!
//! The lag is sampled beside the consumer, not from librdkafka's statistics:
//! those are delivered only while the consumer polls, so a consumer stuck
//! on a record — exactly when its lag matters — would keep reporting the
//! last value forever. [`LagSampler`] asks the broker itself every interval,
//! with a client of its own that never joins the group: the group's
//! committed offsets (OffsetFetch) and each partition's watermarks
//! (ListOffsets), for the partitions the consumer holds ([`Assignment`],
//! kept by its rebalance callbacks, `context.rs`). A partition this instance no longer
//! holds reads 0 here, so a sum over instances counts each backlog once.

use crate::kafka::{offsets, ClosingConsumer};
use rdkafka::consumer::{Rebalance, StreamConsumer};
use rdkafka::ClientConfig;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The partitions a consumer holds, as its rebalances leave them.
#[derive(Clone, Default)]
pub struct Assignment(Arc<Mutex<BTreeSet<(String, i32)>>>);

impl Assignment {
    fn snapshot(&self) -> BTreeSet<(String, i32)> {
        self.0.lock().unwrap().clone()
    }

    /// Takes in what a rebalance assigned or revoked.
    pub(super) fn apply(&self, rebalance: &Rebalance<'_>) {
        let mut held = self.0.lock().unwrap();
        match rebalance {
            Rebalance::Assign(list) => {
                for element in list.elements() {
                    held.insert((element.topic().to_owned(), element.partition()));
                }
            }
            Rebalance::Revoke(list) => {
                for element in list.elements() {
                    held.remove(&(element.topic().to_owned(), element.partition()));
                }
            }
            Rebalance::Error(_) => {}
        }
    }
}

/// Records of a partition the group has not committed past: the high
/// watermark minus the committed offset, or minus the log start when the
/// group has committed nothing there (it starts from the earliest record,
/// `auto.offset.reset=earliest`), and so also when retention removed what it
/// had committed.
pub fn partition_lag(low: i64, high: i64, committed: Option<i64>) -> i64 {
    let from = committed.filter(|&c| c >= low).unwrap_or(low);
    (high - from).max(0)
}

/// Samples one consumer's lag every `every` until stopped.
pub struct LagSampler {
    pub consumer: String,
    pub group: String,
    pub bootstrap_servers: String,
    pub assignment: Assignment,
    pub every: Duration,
}

impl LagSampler {
    pub async fn run(self, stop: CancellationToken) {
        let client = match ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap_servers)
            .set("group.id", &self.group)
            .set("enable.auto.commit", "false")
            .create::<StreamConsumer>()
        {
            Ok(client) => Arc::new(ClosingConsumer::new(client)),
            Err(error) => {
                tracing::warn!(consumer = %self.consumer, %error, "no lag sampler");
                return;
            }
        };
        let mut reported = BTreeSet::new();
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(self.every) => {}
            }
            let held = self.assignment.snapshot();
            let sampler = client.clone();
            let partitions = held.clone();
            let sampled = tokio::task::spawn_blocking(move || sample(&sampler, &partitions)).await;
            let Ok(Ok(lags)) = sampled else {
                // A broker that does not answer: keep the last values.
                continue;
            };
            for (topic, partition) in reported.difference(&held) {
                self.set(topic, *partition, 0);
            }
            for ((topic, partition), lag) in &lags {
                self.set(topic, *partition, *lag);
            }
            reported = held;
        }
    }

    fn set(&self, topic: &str, partition: i32, lag: i64) {
        metrics::gauge!(
            "stampede_consumer_lag",
            "consumer" => self.consumer.clone(),
            "group" => self.group.clone(),
            "topic" => topic.to_owned(),
            "partition" => partition.to_string()
        )
        .set(lag as f64);
    }
}

/// The lag of each held partition, asked of the broker (blocking).
fn sample(
    client: &StreamConsumer,
    held: &BTreeSet<(String, i32)>,
) -> rdkafka::error::KafkaResult<Vec<((String, i32), i64)>> {
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (topic, partition) in held {
        by_topic.entry(topic).or_default().push(*partition);
    }
    let mut lags = Vec::with_capacity(held.len());
    for (topic, partitions) in by_topic {
        let committed = offsets::committed(client, topic, &partitions)?;
        for (partition, (low, high)) in offsets::watermarks(client, topic, &partitions)? {
            let lag = partition_lag(low, high, committed.get(&partition).copied());
            lags.push(((topic.to_owned(), partition), lag));
        }
    }
    Ok(lags)
}

#[cfg(test)]
mod tests {
    use super::partition_lag;

    #[test]
    fn lag_is_the_high_watermark_minus_the_committed_offset() {
        assert_eq!(partition_lag(0, 300, Some(100)), 200);
        assert_eq!(partition_lag(0, 300, Some(300)), 0);
    }

    #[test]
    fn a_group_that_committed_nothing_lags_by_everything_kept() {
        assert_eq!(partition_lag(40, 300, None), 260);
        assert_eq!(partition_lag(0, 0, None), 0);
    }

    #[test]
    fn a_commit_that_retention_passed_counts_from_the_log_start() {
        assert_eq!(partition_lag(500, 800, Some(100)), 300);
    }
}
