//! Dead letters, written the way Spring Kafka's `DeadLetterPublishingRecoverer` writes them.
//!
//! A dead letter keeps the original key, value and headers and adds:
//!
//! | header | encoding |
//! |---|---|
//! | `kafka_dlt-original-topic` | UTF-8 |
//! | `kafka_dlt-original-partition` | 4-byte big-endian int |
//! | `kafka_dlt-original-offset` | 8-byte big-endian long |
//! | `kafka_dlt-original-timestamp` | 8-byte big-endian long (ms since epoch) |
//! | `kafka_dlt-original-timestamp-type` | UTF-8 (`CreateTime`, `LogAppendTime`) |
//! | `kafka_dlt-original-consumer-group` | UTF-8 |
//! | `kafka_dlt-exception-fqcn` | UTF-8: the Rust type name of the error |
//! | `kafka_dlt-exception-message` | UTF-8: the error's message |
//! | `kafka_dlt-exception-stacktrace` | UTF-8: the error chain (`Caused by:` lines) |
//!
//! so Java tooling that reads Spring's DLTs reads ours too. It goes to the
//! same partition number of `<topic>.DLT` when that partition exists, else
//! the producer picks one.

use crate::kafka::{EventProducer, OutgoingRecord, PublishError};
use rdkafka::message::{BorrowedMessage, Headers, Message, Timestamp};

pub const ORIGINAL_TOPIC: &str = "kafka_dlt-original-topic";
pub const ORIGINAL_PARTITION: &str = "kafka_dlt-original-partition";
pub const ORIGINAL_OFFSET: &str = "kafka_dlt-original-offset";
pub const ORIGINAL_TIMESTAMP: &str = "kafka_dlt-original-timestamp";
pub const ORIGINAL_TIMESTAMP_TYPE: &str = "kafka_dlt-original-timestamp-type";
pub const ORIGINAL_CONSUMER_GROUP: &str = "kafka_dlt-original-consumer-group";
pub const EXCEPTION_FQCN: &str = "kafka_dlt-exception-fqcn";
pub const EXCEPTION_MESSAGE: &str = "kafka_dlt-exception-message";
pub const EXCEPTION_STACKTRACE: &str = "kafka_dlt-exception-stacktrace";

/// The record that failed, as it was read.
#[derive(Debug, Clone)]
pub struct FailedRecord {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub timestamp_ms: Option<i64>,
    pub timestamp_type: &'static str,
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
    pub headers: Vec<(String, Vec<u8>)>,
}

impl FailedRecord {
    /// The record as it was read: everything a dead letter must keep.
    pub fn from_message(message: &BorrowedMessage<'_>) -> Self {
        let (timestamp_ms, timestamp_type) = match message.timestamp() {
            Timestamp::CreateTime(ms) => (Some(ms), "CreateTime"),
            Timestamp::LogAppendTime(ms) => (Some(ms), "LogAppendTime"),
            Timestamp::NotAvailable => (None, "NoTimestampType"),
        };
        let headers = message
            .headers()
            .map(|headers| {
                headers
                    .iter()
                    .map(|h| (h.key.to_owned(), h.value.unwrap_or_default().to_vec()))
                    .collect()
            })
            .unwrap_or_default();
        Self {
            topic: message.topic().to_owned(),
            partition: message.partition(),
            offset: message.offset(),
            timestamp_ms,
            timestamp_type,
            key: message.key().map(<[u8]>::to_vec),
            payload: message.payload().unwrap_or_default().to_vec(),
            headers,
        }
    }
}

/// Why it failed.
#[derive(Debug, Clone)]
pub struct FailureCause {
    pub type_name: String,
    pub message: String,
    pub chain: String,
}

impl FailureCause {
    pub fn new(type_name: &str, error: &anyhow::Error) -> Self {
        Self {
            type_name: type_name.to_owned(),
            message: error.to_string(),
            chain: format!("{error:?}"),
        }
    }
}

/// Builds the dead letter of `record` for `dlt_topic`.
pub fn dead_letter_record(
    record: &FailedRecord,
    dlt_topic: String,
    partition: Option<i32>,
    group: &str,
    cause: &FailureCause,
) -> OutgoingRecord {
    let mut headers: Vec<(String, Vec<u8>)> = record
        .headers
        .iter()
        .filter(|(name, _)| !name.starts_with("kafka_dlt-"))
        .cloned()
        .collect();
    let mut add = |name: &str, value: Vec<u8>| headers.push((name.to_owned(), value));
    add(ORIGINAL_TOPIC, record.topic.clone().into_bytes());
    add(ORIGINAL_PARTITION, record.partition.to_be_bytes().to_vec());
    add(ORIGINAL_OFFSET, record.offset.to_be_bytes().to_vec());
    add(
        ORIGINAL_TIMESTAMP,
        record.timestamp_ms.unwrap_or(-1).to_be_bytes().to_vec(),
    );
    add(
        ORIGINAL_TIMESTAMP_TYPE,
        record.timestamp_type.as_bytes().to_vec(),
    );
    add(ORIGINAL_CONSUMER_GROUP, group.as_bytes().to_vec());
    add(EXCEPTION_FQCN, cause.type_name.clone().into_bytes());
    add(EXCEPTION_MESSAGE, cause.message.clone().into_bytes());
    add(EXCEPTION_STACKTRACE, cause.chain.clone().into_bytes());
    OutgoingRecord {
        topic: dlt_topic,
        partition,
        key: record.key.clone(),
        payload: record.payload.clone(),
        headers,
    }
}

/// Publishes the dead letter of `record` and waits for the broker's ack.
pub async fn publish(
    producer: &EventProducer,
    record: &FailedRecord,
    group: &str,
    cause: &FailureCause,
) -> Result<(), PublishError> {
    let dlt_topic = stampede_core::events::topics::dead_letter_of(&record.topic);
    let partition = match producer.partition_count(&dlt_topic).await {
        Some(count) if record.partition < count => Some(record.partition),
        _ => None,
    };
    let letter = dead_letter_record(record, dlt_topic, partition, group, cause);
    producer.send(&letter).await.map(|_| ())
}

/// Reads a header written as a big-endian int or long (partition, offset, timestamp).
pub fn decode_be_number(value: &[u8]) -> Option<i64> {
    match value.len() {
        4 => Some(i32::from_be_bytes(value.try_into().ok()?) as i64),
        8 => Some(i64::from_be_bytes(value.try_into().ok()?)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_written_as_java_would() {
        let record = FailedRecord {
            topic: "t".into(),
            partition: 2,
            offset: 41,
            timestamp_ms: Some(1_700_000_000_000),
            timestamp_type: "CreateTime",
            key: Some(b"k".to_vec()),
            payload: b"{}".to_vec(),
            headers: vec![("event_id".into(), b"e".to_vec())],
        };
        let cause = FailureCause {
            type_name: "x::Y".into(),
            message: "m".into(),
            chain: "m\n\nCaused by: z".into(),
        };
        let letter = dead_letter_record(&record, "t.DLT".into(), Some(2), "g", &cause);
        let header = |name: &str| {
            letter
                .headers
                .iter()
                .find(|(n, _)| n == name)
                .unwrap()
                .1
                .clone()
        };
        assert_eq!(header(ORIGINAL_PARTITION), vec![0, 0, 0, 2]);
        assert_eq!(decode_be_number(&header(ORIGINAL_OFFSET)), Some(41));
        assert_eq!(
            decode_be_number(&header(ORIGINAL_TIMESTAMP)),
            Some(1_700_000_000_000)
        );
        assert_eq!(header("event_id"), b"e");
        assert_eq!(letter.key.as_deref(), Some(&b"k"[..]));
        assert_eq!(letter.partition, Some(2));
    }
}
