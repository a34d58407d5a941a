//! Topic names (with the configured prefix) and their creation at start-up.

use super::KafkaSettings;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::ClientConfig;
use stampede_core::events::topics::{dead_letter_of, DEAD_LETTER_SUFFIX};
use std::collections::BTreeSet;
use std::time::Duration;

/// Maps logical names (`payment.success`) to physical ones (`<prefix>payment.success`).
#[derive(Debug, Clone)]
pub struct TopicNames {
    topic_prefix: String,
    group_prefix: String,
}

impl TopicNames {
    pub fn new(settings: &KafkaSettings) -> Self {
        Self {
            topic_prefix: settings.topic_prefix.clone(),
            group_prefix: settings.group_prefix.clone(),
        }
    }

    pub fn physical(&self, logical: &str) -> String {
        format!("{}{logical}", self.topic_prefix)
    }

    /// The logical name of a physical topic, when it carries our prefix.
    pub fn logical<'a>(&self, physical: &'a str) -> Option<&'a str> {
        physical.strip_prefix(&self.topic_prefix)
    }

    pub fn group(&self, logical_group: &str) -> String {
        format!("{}{logical_group}", self.group_prefix)
    }

    pub fn dead_letter(&self, physical: &str) -> String {
        dead_letter_of(physical)
    }

    pub fn is_dead_letter(physical: &str) -> bool {
        physical.ends_with(DEAD_LETTER_SUFFIX)
    }
}

/// Creates every configured topic and its `.DLT` twin; existing ones are kept.
pub async fn ensure_topics(settings: &KafkaSettings, extra: &[String]) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &settings.bootstrap_servers)
        .create()?;
    let names = TopicNames::new(settings);
    // A set: Kafka rejects a CreateTopics request naming a topic twice.
    let physical: BTreeSet<String> = settings
        .topics
        .iter()
        .chain(extra)
        .flat_map(|t| {
            let p = names.physical(t);
            [names.dead_letter(&p), p]
        })
        .collect();
    let new_topics: Vec<NewTopic> = physical
        .iter()
        .map(|name| {
            NewTopic::new(
                name,
                settings.partitions,
                TopicReplication::Fixed(settings.replication_factor),
            )
        })
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    for result in admin.create_topics(&new_topics, &options).await? {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => anyhow::bail!("creating topic {topic} failed: {code}"),
        }
    }
    Ok(())
}
