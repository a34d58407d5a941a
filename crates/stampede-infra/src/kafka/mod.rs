//! Kafka: settings, topic admin, the idempotent producer, and the consumer
//! runtime with retries and dead-letter topics.
//!
//! Everything here speaks the plain Kafka protocol through librdkafka and
//! relies only on what Apache Kafka guarantees (the local dev broker, the
//! three-node test cluster and docker-compose all run it); nothing depends on
//! a quirk of another Kafka-protocol broker.

mod closing;
pub mod consumer;
pub mod dead_letter_reader;
mod event_sink;
pub mod offsets;
mod producer;
mod progress;
mod settings;
mod topics;

pub use closing::ClosingConsumer;
pub use event_sink::EventSink;
pub use producer::{EventProducer, OutgoingRecord, PublishError};
pub use progress::GroupProgress;
pub use settings::{ConsumerSettings, KafkaSettings, ProducerSettings};
pub use topics::{ensure_topics, ensure_topics_until_done, TopicNames, TopicsError};
