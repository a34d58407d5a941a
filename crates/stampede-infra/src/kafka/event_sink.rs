//! Publishing a domain event straight to Kafka (no outbox) and awaiting the
//! ack: what the FCFS gate uses to make a win durable before answering.

use super::{EventProducer, OutgoingRecord, PublishError, TopicNames};
use async_trait::async_trait;
use stampede_core::events::{DomainEvent, EventEnvelope};
use stampede_core::fcfs::WinnerSink;

#[derive(Clone)]
pub struct EventSink {
    producer: EventProducer,
    topics: TopicNames,
}

impl EventSink {
    pub fn new(producer: EventProducer, topics: TopicNames) -> Self {
        Self { producer, topics }
    }

    pub async fn publish<E: DomainEvent>(&self, event: &E) -> Result<(), PublishError> {
        let envelope = EventEnvelope::wrap(event);
        let record = OutgoingRecord::event(self.topics.physical(E::EVENT_TYPE), &envelope);
        self.producer.send(&record).await.map(|_| ())
    }
}

#[async_trait]
impl<E: DomainEvent + Send + Sync> WinnerSink<E> for EventSink {
    type Error = PublishError;

    async fn record(&self, win: &E) -> Result<(), PublishError> {
        self.publish(win).await
    }
}
