//! How far a consumer group has read a topic, against where the topic
//! ended at recent moments: "has the persisting consumer seen everything
//! written before then?", which the healer and the gate's rebuild wait on.

use super::{offsets, ClosingConsumer, KafkaSettings, TopicNames};
use rdkafka::consumer::StreamConsumer;
use rdkafka::error::KafkaResult;
use rdkafka::ClientConfig;
use stampede_core::healing::WatermarkLog;
use std::sync::Arc;

pub struct GroupProgress {
    /// A client of the group's id that never joins it: it only reads the
    /// group's committed offsets.
    client: Arc<ClosingConsumer<rdkafka::consumer::DefaultConsumerContext>>,
    topic: String,
    log: WatermarkLog,
}

impl GroupProgress {
    /// `group` and `topic` are logical names (the configured prefixes are added).
    pub fn new(settings: &KafkaSettings, group: &str, topic: &str) -> KafkaResult<Self> {
        let names = TopicNames::new(settings);
        let client: StreamConsumer = ClientConfig::new()
            .set("bootstrap.servers", &settings.bootstrap_servers)
            .set("group.id", names.group(group))
            .set("enable.auto.commit", "false")
            .create()?;
        Ok(Self {
            client: Arc::new(ClosingConsumer::new(client)),
            topic: names.physical(topic),
            log: WatermarkLog::default(),
        })
    }

    /// Notes where the topic ends now (`now_ms`), then reads the group's
    /// committed offsets; returns the latest moment whose ends the group has
    /// committed past.
    pub async fn observe(&mut self, now_ms: i64) -> KafkaResult<Option<i64>> {
        let (client, topic) = (self.client.clone(), self.topic.clone());
        let (highs, committed) = tokio::task::spawn_blocking(move || {
            let partitions = offsets::partitions(&**client, &topic)?;
            let ends = offsets::watermarks(&**client, &topic, &partitions)?;
            let committed = offsets::committed(&**client, &topic, &partitions)?;
            let highs = ends.into_iter().map(|(p, (_, high))| (p, high)).collect();
            Ok::<_, rdkafka::error::KafkaError>((highs, committed))
        })
        .await
        .expect("the offset probe does not panic")?;
        self.log.push(now_ms, highs);
        Ok(self.log.passed_at(&committed))
    }
}
