//! Asking the broker where a topic ends and how far a consumer group has
//! committed: what the lag metric and the healer's "has the consumer seen
//! everything written before then?" are made of. Blocking calls: run them
//! on a blocking thread.

use rdkafka::consumer::{Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::{Offset, TopicPartitionList};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(5);

/// `(low, high)` watermarks of each of `partitions` of `topic`.
pub fn watermarks<C: ConsumerContext>(
    client: &impl Consumer<C>,
    topic: &str,
    partitions: &[i32],
) -> KafkaResult<BTreeMap<i32, (i64, i64)>> {
    partitions
        .iter()
        .map(|&p| Ok((p, watermark(client, topic, p)?)))
        .collect()
}

/// `(low, high)` watermarks of one partition. A partition whose leader is
/// not known yet (a topic created a moment ago, a leader moving after a
/// broker left) is asked again until [`TIMEOUT`].
pub fn watermark<C: ConsumerContext>(
    client: &impl Consumer<C>,
    topic: &str,
    partition: i32,
) -> KafkaResult<(i64, i64)> {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        match client.fetch_watermarks(topic, partition, TIMEOUT) {
            Err(error) if is_leader_unsettled(&error) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(100));
            }
            answer => return answer,
        }
    }
}

fn is_leader_unsettled(error: &KafkaError) -> bool {
    matches!(
        error,
        KafkaError::MetadataFetch(
            RDKafkaErrorCode::NotLeaderForPartition
                | RDKafkaErrorCode::LeaderNotAvailable
                | RDKafkaErrorCode::UnknownTopicOrPartition
                | RDKafkaErrorCode::UnknownPartition
        )
    )
}

/// The partitions of `topic` (none when it does not exist).
pub fn partitions<C: ConsumerContext>(
    client: &impl Consumer<C>,
    topic: &str,
) -> KafkaResult<Vec<i32>> {
    let metadata = client.fetch_metadata(Some(topic), TIMEOUT)?;
    Ok(metadata
        .topics()
        .first()
        .filter(|t| t.error().is_none())
        .map(|t| t.partitions().iter().map(|p| p.id()).collect())
        .unwrap_or_default())
}

/// The offsets the client's group (its `group.id`) committed on each of
/// `partitions` of `topic`; a partition it never committed is absent.
pub fn committed<C: ConsumerContext>(
    client: &impl Consumer<C>,
    topic: &str,
    partitions: &[i32],
) -> KafkaResult<BTreeMap<i32, i64>> {
    let mut list = TopicPartitionList::new();
    for &p in partitions {
        list.add_partition(topic, p);
    }
    let committed = client.committed_offsets(list, TIMEOUT)?;
    Ok(committed
        .elements()
        .iter()
        .filter_map(|e| match e.offset() {
            Offset::Offset(offset) => Some((e.partition(), offset)),
            _ => None,
        })
        .collect())
}
