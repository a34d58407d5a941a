//! `[kafka]` settings.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
pub struct KafkaSettings {
    /// Comma-separated `host:port` list.
    pub bootstrap_servers: String,
    /// Prepended to every topic name (empty in production; unique per test).
    pub topic_prefix: String,
    /// Prepended to every consumer group id (same reason).
    pub group_prefix: String,
    /// Partitions of topics created at start-up.
    pub partitions: i32,
    /// 1 on a single local broker, 3 on a three-node cluster.
    pub replication_factor: i32,
    /// Logical topics created at start-up; each also gets its `.DLT` twin.
    pub topics: Vec<String>,
    pub producer: ProducerSettings,
    pub consumer: ConsumerSettings,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ProducerSettings {
    /// librdkafka `message.send.max.retries`: bounded, so failures surface.
    pub retries: u32,
    /// librdkafka `delivery.timeout.ms`: how long a send may take, retries included.
    pub delivery_timeout_ms: u64,
    /// librdkafka `linger.ms`: how long to wait to fill a batch.
    pub linger_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ConsumerSettings {
    /// Kafka's default is 45 000; a new group's first message waits about half
    /// of it on some brokers, so local runs and tests use a short one.
    pub session_timeout_ms: u64,
    pub heartbeat_interval_ms: u64,
    /// librdkafka `fetch.wait.max.ms`: how long the broker may hold a fetch
    /// while no data is there (it answers as soon as a record arrives).
    pub fetch_wait_max_ms: u64,
    /// Batch handlers receive at most this many records (50 by default).
    pub max_poll_records: usize,
    /// A batch is handed over at the latest this long after its first record (500 ms by default).
    pub max_wait_ms: u64,
    /// Retries after the first failed attempt (3 by default).
    pub retry_attempts: u32,
    /// Fixed back-off between attempts (1 s by default).
    pub retry_backoff_ms: u64,
    /// How often the consumer lag metric is sampled from the broker (0 switches it off).
    pub stats_interval_ms: u64,
}

impl KafkaSettings {
    pub fn validate(&self) -> Result<(), String> {
        if self.bootstrap_servers.trim().is_empty() {
            return Err("kafka.bootstrap_servers must not be empty".into());
        }
        if self.partitions < 1 {
            return Err("kafka.partitions must be at least 1".into());
        }
        if self.replication_factor < 1 {
            return Err("kafka.replication_factor must be at least 1".into());
        }
        let legal = |s: &str| {
            s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        };
        if !legal(&self.topic_prefix) {
            return Err("kafka.topic_prefix may only hold [A-Za-z0-9._-]".into());
        }
        if let Some(bad) = self.topics.iter().find(|t| t.is_empty() || !legal(t)) {
            return Err(format!("kafka.topics has an illegal topic name `{bad}`"));
        }
        if self.producer.delivery_timeout_ms == 0 {
            return Err("kafka.producer.delivery_timeout_ms must be positive".into());
        }
        let c = &self.consumer;
        if c.max_poll_records == 0 {
            return Err("kafka.consumer.max_poll_records must be at least 1".into());
        }
        if c.heartbeat_interval_ms == 0 || c.heartbeat_interval_ms * 3 > c.session_timeout_ms {
            return Err(
                "kafka.consumer.heartbeat_interval_ms must be positive and at most a third of session_timeout_ms"
                    .into(),
            );
        }
        Ok(())
    }
}
