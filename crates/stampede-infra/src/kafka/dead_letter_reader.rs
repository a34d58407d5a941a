//! Reading dead letters back, for operators (`stampede dlt`) and audits.
//!
//! A DLT is read as a snapshot: its partitions' watermarks are taken first,
//! then a consumer *assigned* to them (no group: nothing is committed, no
//! rebalance to wait for) reads each from its low watermark up to the high
//! one. Letters that arrive meanwhile are left for the next read, so a read
//! ends as soon as it has what was there, never waiting for quiet.

use super::consumer::dead_letter::{
    decode_be_number, FailedRecord, EXCEPTION_FQCN, EXCEPTION_MESSAGE, EXCEPTION_STACKTRACE,
    ORIGINAL_CONSUMER_GROUP, ORIGINAL_OFFSET, ORIGINAL_PARTITION, ORIGINAL_TIMESTAMP,
    ORIGINAL_TOPIC,
};
use super::{offsets, ClosingConsumer, KafkaSettings, OutgoingRecord, TopicNames};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use std::collections::BTreeMap;
use std::time::Duration;

/// Marks a replayed record with the dead letter it came from
/// (`<dlt topic>/<partition>/<offset>`).
pub const REPLAYED_FROM: &str = "stampede-replayed-from";

/// One record of a `<topic>.DLT`, read as the runtime reads any record
/// (its timestamp is when it was dead-lettered).
pub type DeadLetter = FailedRecord;

impl DeadLetter {
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    }

    fn text(&self, name: &str) -> Option<String> {
        self.header(name)
            .map(|v| String::from_utf8_lossy(v).into_owned())
    }

    fn number(&self, name: &str) -> Option<i64> {
        self.header(name).and_then(decode_be_number)
    }

    pub fn original_topic(&self) -> Option<String> {
        self.text(ORIGINAL_TOPIC)
    }

    pub fn original_partition(&self) -> Option<i64> {
        self.number(ORIGINAL_PARTITION)
    }

    pub fn original_offset(&self) -> Option<i64> {
        self.number(ORIGINAL_OFFSET)
    }

    pub fn original_timestamp_ms(&self) -> Option<i64> {
        self.number(ORIGINAL_TIMESTAMP)
    }

    /// The consumer group that gave up on the record.
    pub fn consumer_group(&self) -> Option<String> {
        self.text(ORIGINAL_CONSUMER_GROUP)
    }

    pub fn exception(&self) -> (Option<String>, Option<String>, Option<String>) {
        (
            self.text(EXCEPTION_FQCN),
            self.text(EXCEPTION_MESSAGE),
            self.text(EXCEPTION_STACKTRACE),
        )
    }

    /// `<topic>/<partition>/<offset>`: how a replay names its source.
    pub fn position(&self) -> String {
        format!("{}/{}/{}", self.topic, self.partition, self.offset)
    }

    /// The record to publish to the original topic again: the original key,
    /// value and headers, without the `kafka_dlt-*` ones, marked with
    /// [`REPLAYED_FROM`]. `None` when the letter names no original topic.
    pub fn replay_record(&self) -> Option<OutgoingRecord> {
        let topic = self.original_topic()?;
        let mut headers: Vec<(String, Vec<u8>)> = self
            .headers
            .iter()
            .filter(|(name, _)| !name.starts_with("kafka_dlt-") && name != REPLAYED_FROM)
            .cloned()
            .collect();
        headers.push((REPLAYED_FROM.to_owned(), self.position().into_bytes()));
        Some(OutgoingRecord {
            topic,
            partition: None,
            key: self.key.clone(),
            payload: self.payload.clone(),
            headers,
        })
    }
}

/// The physical names of the dead-letter topics that carry this
/// deployment's topic prefix.
pub async fn dead_letter_topics(settings: &KafkaSettings) -> anyhow::Result<Vec<String>> {
    let client = ClosingConsumer::new(base_config(settings).create::<StreamConsumer>()?);
    let names = TopicNames::new(settings);
    let metadata =
        tokio::task::spawn_blocking(move || client.fetch_metadata(None, Duration::from_secs(10)))
            .await??;
    let mut topics: Vec<String> = metadata
        .topics()
        .iter()
        .map(|t| t.name().to_owned())
        .filter(|name| TopicNames::is_dead_letter(name) && names.logical(name).is_some())
        .collect();
    topics.sort();
    Ok(topics)
}

fn base_config(settings: &KafkaSettings) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &settings.bootstrap_servers)
        // Required by librdkafka; nothing is ever committed under it.
        .set(
            "group.id",
            format!("stampede-dlt-reader-{}", uuid::Uuid::now_v7()),
        )
        .set("enable.auto.commit", "false")
        // A low watermark that retention moved past meanwhile reads from the new start.
        .set("auto.offset.reset", "earliest");
    config
}

/// How long a read may go without a record before it gives up (a broker
/// that went away mid-read).
const STALL_TIMEOUT: Duration = Duration::from_secs(30);

/// `(partition, low, high)` of each partition of `topic` that holds records.
async fn non_empty_partitions(
    settings: &KafkaSettings,
    topic: &str,
) -> anyhow::Result<Vec<(i32, i64, i64)>> {
    let client = ClosingConsumer::new(base_config(settings).create::<StreamConsumer>()?);
    let name = topic.to_owned();
    let partitions = tokio::task::spawn_blocking(move || {
        let timeout = Duration::from_secs(10);
        let metadata = client.fetch_metadata(Some(&name), timeout)?;
        let Some(found) = metadata.topics().first().filter(|t| t.error().is_none()) else {
            return Ok(None);
        };
        let mut non_empty = Vec::new();
        for partition in found.partitions() {
            let (low, high) = offsets::watermark(&*client, &name, partition.id())?;
            if high > low {
                non_empty.push((partition.id(), low, high));
            }
        }
        Ok::<_, rdkafka::error::KafkaError>(Some(non_empty))
    })
    .await??;
    partitions.ok_or_else(|| anyhow::anyhow!("topic {topic} does not exist"))
}

/// Reads every record of `topic` (physical name) up to the high watermarks
/// it had when the read began; sorted by partition and offset.
pub async fn read_dead_letters(
    settings: &KafkaSettings,
    topic: &str,
) -> anyhow::Result<Vec<DeadLetter>> {
    let partitions = non_empty_partitions(settings, topic).await?;
    if partitions.is_empty() {
        return Ok(Vec::new());
    }
    let consumer = ClosingConsumer::new(base_config(settings).create::<StreamConsumer>()?);
    let mut assignment = TopicPartitionList::new();
    let mut ends = BTreeMap::new();
    for (partition, low, high) in partitions {
        assignment.add_partition_offset(topic, partition, Offset::Offset(low))?;
        ends.insert(partition, high);
    }
    consumer.assign(&assignment)?;
    let mut letters = Vec::new();
    while !ends.is_empty() {
        let polled = tokio::time::timeout(STALL_TIMEOUT, consumer.recv())
            .await
            .map_err(|_| {
                anyhow::anyhow!(
                    "reading {topic}: no record for {STALL_TIMEOUT:?} with partitions {:?} unread",
                    ends.keys().collect::<Vec<_>>()
                )
            })??;
        let letter = FailedRecord::from_message(&polled);
        let Some(&high) = ends.get(&letter.partition) else {
            continue;
        };
        if letter.offset >= high - 1 {
            ends.remove(&letter.partition);
        }
        if letter.offset < high {
            letters.push(letter);
        }
    }
    letters.sort_by_key(|l| (l.partition, l.offset));
    Ok(letters)
}
