//! The idempotent producer every event leaves through.
//!
//! `enable.idempotence=true` + `acks=all` means a retried send is written
//! once and in order per partition; retries and the delivery timeout are
//! bounded so a dead broker becomes an error the caller sees, not a hang.
//! [`EventProducer::send`] resolves only when the broker acknowledged.

use super::ProducerSettings;
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::util::Timeout;
use rdkafka::ClientConfig;
use stampede_core::events::EventEnvelope;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A record ready to go: topic already physical, headers as raw bytes.
#[derive(Debug, Clone)]
pub struct OutgoingRecord {
    pub topic: String,
    pub partition: Option<i32>,
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
    pub headers: Vec<(String, Vec<u8>)>,
}

impl OutgoingRecord {
    /// An event record: key = aggregate id, headers `event_id` and `event_type`.
    pub fn event(topic: String, envelope: &EventEnvelope) -> Self {
        Self {
            topic,
            partition: None,
            key: Some(envelope.aggregate_id.clone().into_bytes()),
            payload: serde_json::to_vec(envelope).expect("envelopes serialise"),
            headers: vec![
                (
                    "event_id".into(),
                    envelope.event_id.to_string().into_bytes(),
                ),
                (
                    "event_type".into(),
                    envelope.event_type.clone().into_bytes(),
                ),
            ],
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("publishing to {topic} failed: {source}")]
pub struct PublishError {
    pub topic: String,
    #[source]
    pub source: KafkaError,
}

/// A cheap-to-clone handle on one librdkafka producer.
#[derive(Clone)]
pub struct EventProducer {
    inner: FutureProducer,
    queue_timeout: Duration,
    partition_counts: Arc<Mutex<HashMap<String, i32>>>,
}

impl EventProducer {
    pub fn new(bootstrap_servers: &str, settings: &ProducerSettings) -> Result<Self, KafkaError> {
        let inner: FutureProducer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap_servers)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("message.send.max.retries", settings.retries.to_string())
            .set(
                "delivery.timeout.ms",
                settings.delivery_timeout_ms.to_string(),
            )
            // A request in flight is failed by its own timeout, not the
            // delivery timeout: bounding it by the same time means no
            // acknowledgement can arrive later than delivery_timeout_ms after
            // the send (the healer relies on that bound).
            .set(
                "request.timeout.ms",
                settings.delivery_timeout_ms.min(30_000).to_string(),
            )
            .set("linger.ms", settings.linger_ms.to_string())
            .set("compression.type", "lz4")
            .create()?;
        Ok(Self {
            inner,
            queue_timeout: Duration::from_millis(settings.delivery_timeout_ms),
            partition_counts: Arc::default(),
        })
    }

    /// Sends one record and waits for the broker's acknowledgement.
    /// Returns (partition, offset).
    pub async fn send(&self, record: &OutgoingRecord) -> Result<(i32, i64), PublishError> {
        let headers = record
            .headers
            .iter()
            .fold(OwnedHeaders::new(), |h, (key, value)| {
                h.insert(Header {
                    key,
                    value: Some(value),
                })
            });
        let mut future_record: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(&record.topic)
            .payload(record.payload.as_slice())
            .headers(headers);
        if let Some(key) = &record.key {
            future_record = future_record.key(key.as_slice());
        }
        if let Some(partition) = record.partition {
            future_record = future_record.partition(partition);
        }
        self.inner
            .send(future_record, Timeout::After(self.queue_timeout))
            .await
            .map(|delivery| (delivery.partition, delivery.offset))
            .map_err(|(source, _)| PublishError {
                topic: record.topic.clone(),
                source,
            })
    }

    /// Partitions of `topic` as the broker reports them (cached; `None` when
    /// the topic does not exist).
    pub async fn partition_count(&self, topic: &str) -> Option<i32> {
        if let Some(count) = self.partition_counts.lock().unwrap().get(topic) {
            return Some(*count);
        }
        let client = self.inner.clone();
        let name = topic.to_owned();
        let count = tokio::task::spawn_blocking(move || {
            let metadata = client
                .client()
                .fetch_metadata(Some(&name), Duration::from_secs(5))
                .ok()?;
            let topic = metadata.topics().first()?;
            (topic.error().is_none() && !topic.partitions().is_empty())
                .then(|| topic.partitions().len() as i32)
        })
        .await
        .ok()
        .flatten()?;
        self.partition_counts
            .lock()
            .unwrap()
            .insert(topic.to_owned(), count);
        Some(count)
    }

    /// Whether a broker answers a metadata request within `timeout`.
    pub async fn broker_reachable(&self, timeout: Duration) -> bool {
        let client = self.inner.clone();
        tokio::task::spawn_blocking(move || client.client().fetch_metadata(None, timeout).is_ok())
            .await
            .unwrap_or(false)
    }

    /// Waits for queued messages to be delivered (on shutdown).
    pub fn flush(&self, timeout: Duration) {
        let _ = self.inner.flush(Timeout::After(timeout));
    }
}
