//! Topic names (with the configured prefix) and their creation at start-up.

use super::KafkaSettings;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::ClientConfig;
use stampede_core::events::topics::{dead_letter_of, DEAD_LETTER_SUFFIX};
use std::collections::BTreeSet;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

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

/// Why the topics could not be made sure of.
#[derive(Debug, thiserror::Error)]
pub enum TopicsError {
    /// No broker answered: the service starts anyway and keeps trying
    /// ([`ensure_topics_until_done`]); what needs Kafka answers 503 meanwhile.
    #[error("no Kafka broker at {bootstrap} answered within {timeout:?}")]
    Unreachable {
        bootstrap: String,
        timeout: Duration,
    },
    /// More replicas asked for than the cluster has brokers: a configuration
    /// mistake that no retry mends.
    #[error(
        "kafka.replication_factor is {configured} but the cluster at {bootstrap} has {brokers} broker(s), \
         so topic {topic} cannot be created; lower kafka.replication_factor or start more brokers"
    )]
    ReplicationFactor {
        configured: i32,
        brokers: usize,
        bootstrap: String,
        topic: String,
    },
    #[error("creating topic {topic} on {bootstrap} failed: {code}")]
    Create {
        topic: String,
        bootstrap: String,
        code: RDKafkaErrorCode,
    },
    #[error("talking to Kafka at {bootstrap}: {source}")]
    Kafka {
        bootstrap: String,
        #[source]
        source: KafkaError,
    },
}

/// How long a broker has to answer before it counts as unreachable.
const REACH_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a cluster listing fewer brokers than the replication factor is
/// given to finish registering them before that is an error.
const BROKERS_SETTLE: Duration = Duration::from_secs(10);

/// Creates every configured topic and its `.DLT` twin, with
/// `kafka.partitions` partitions and `kafka.replication_factor` replicas;
/// existing ones are kept as they are.
pub async fn ensure_topics(settings: &KafkaSettings, extra: &[String]) -> Result<(), TopicsError> {
    let bootstrap = settings.bootstrap_servers.clone();
    let kafka = |source| TopicsError::Kafka {
        bootstrap: bootstrap.clone(),
        source,
    };
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &settings.bootstrap_servers)
        .create()
        .map_err(kafka)?;
    let admin = std::sync::Arc::new(admin);
    let probe = admin.clone();
    let wanted = settings.replication_factor as usize;
    let (brokers, existing) = tokio::task::spawn_blocking(move || {
        // A cluster that is starting lists its brokers as they register:
        // fewer than the replication factor is asked again for a while.
        let settle = std::time::Instant::now() + BROKERS_SETTLE;
        loop {
            let found = probe.inner().fetch_metadata(None, REACH_TIMEOUT).map(|m| {
                let existing: BTreeSet<String> =
                    m.topics().iter().map(|t| t.name().to_owned()).collect();
                (m.brokers().len(), existing)
            });
            match found {
                Ok((brokers, _)) if brokers < wanted && std::time::Instant::now() < settle => {
                    std::thread::sleep(Duration::from_millis(250));
                }
                other => return other,
            }
        }
    })
    .await
    .expect("the metadata probe does not panic")
    .map_err(|_| TopicsError::Unreachable {
        bootstrap: bootstrap.clone(),
        timeout: REACH_TIMEOUT,
    })?;

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
        .filter(|name| !existing.contains(name))
        .collect();
    let Some(first) = physical.first() else {
        return Ok(());
    };
    // Asked of the broker's own count, not left to its refusal: a broker
    // that does not replicate (a stand-in) would accept any factor.
    if wanted > brokers {
        return Err(TopicsError::ReplicationFactor {
            configured: settings.replication_factor,
            brokers,
            bootstrap,
            topic: first.clone(),
        });
    }
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
    for result in admin
        .create_topics(&new_topics, &options)
        .await
        .map_err(kafka)?
    {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, RDKafkaErrorCode::InvalidReplicationFactor)) => {
                return Err(TopicsError::ReplicationFactor {
                    configured: settings.replication_factor,
                    brokers,
                    bootstrap,
                    topic,
                })
            }
            Err((topic, code)) => {
                return Err(TopicsError::Create {
                    topic,
                    bootstrap,
                    code,
                })
            }
        }
    }
    Ok(())
}

/// [`ensure_topics`] every `every` until it succeeds or `stop` is
/// cancelled: a service that started while its broker was away creates its
/// topics as soon as one answers. Each failure is logged once per attempt.
pub async fn ensure_topics_until_done(
    settings: KafkaSettings,
    extra: Vec<String>,
    every: Duration,
    stop: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        match ensure_topics(&settings, &extra).await {
            Ok(()) => {
                tracing::info!(bootstrap = %settings.bootstrap_servers, "Kafka answers; topics created");
                return;
            }
            Err(error) => tracing::warn!(error = %error, "topics not created yet; retrying"),
        }
    }
}
