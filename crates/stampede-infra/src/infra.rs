//! The shared handles every part of the service uses, built once at start-up.

use crate::kafka::{EventProducer, KafkaSettings, TopicNames};
use crate::mysql::DatabaseSettings;
use crate::outbox::{OutboxRelay, OutboxSettings, OutboxWriter};
use crate::redis::{ConnectionManager, RedisSettings};
use anyhow::Context;
use serde::Deserialize;
use sqlx::MySqlPool;
use std::sync::Arc;

/// The adapter sections of the configuration.
#[derive(Debug, Clone, Deserialize)]
pub struct InfraSettings {
    pub database: DatabaseSettings,
    pub redis: RedisSettings,
    pub kafka: KafkaSettings,
    pub outbox: OutboxSettings,
}

impl InfraSettings {
    pub fn validate(&self) -> Result<(), String> {
        self.database.validate()?;
        self.redis.validate()?;
        self.kafka.validate()?;
        self.outbox.validate()
    }
}

/// Cheap to clone: every field is a handle.
#[derive(Clone)]
pub struct Infra {
    pub pool: MySqlPool,
    pub redis: ConnectionManager,
    pub producer: EventProducer,
    pub topics: TopicNames,
    pub outbox: OutboxWriter,
    pub settings: Arc<InfraSettings>,
}

impl Infra {
    /// Connects to MariaDB (creating the database if needed), Redis and Kafka.
    pub async fn connect(settings: InfraSettings) -> anyhow::Result<Self> {
        let pool = crate::mysql::connect(&settings.database)
            .await
            .with_context(|| format!("connecting to MariaDB at {}", settings.database.url))?;
        let redis = crate::redis::connect(&settings.redis)
            .await
            .with_context(|| format!("connecting to Redis at {}", settings.redis.url))?;
        let producer =
            EventProducer::new(&settings.kafka.bootstrap_servers, &settings.kafka.producer)
                .context("creating the Kafka producer")?;
        Ok(Self {
            pool,
            redis,
            producer,
            topics: TopicNames::new(&settings.kafka),
            outbox: OutboxWriter::new(),
            settings: Arc::new(settings),
        })
    }

    pub fn kafka(&self) -> &KafkaSettings {
        &self.settings.kafka
    }

    /// A relay over this outbox (one per process; several processes may run one each).
    pub fn relay(&self) -> OutboxRelay {
        OutboxRelay::new(
            self.pool.clone(),
            self.producer.clone(),
            self.topics.clone(),
            self.settings.outbox.clone(),
            &self.outbox,
        )
    }
}
