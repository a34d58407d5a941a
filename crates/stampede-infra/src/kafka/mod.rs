//! Kafka: settings, topic admin, the idempotent producer, and the consumer
//! runtime with retries and dead-letter topics.
//!
//! Everything here speaks the plain Kafka protocol through librdkafka, so it
//! runs the same on Apache Kafka (docker-compose) and on the tansu broker used
//! for local runs and tests.

mod closing;
pub mod consumer;
pub mod dead_letter_reader;
mod event_sink;
mod producer;
mod settings;
mod topics;

pub use closing::ClosingConsumer;
pub use event_sink::EventSink;
pub use producer::{EventProducer, OutgoingRecord, PublishError};
pub use settings::{ConsumerSettings, KafkaSettings, ProducerSettings};
pub use topics::{ensure_topics, TopicNames};
