//! The shared handles every part of the service uses, built once at start-up.

use crate::kafka::EventSink;
use crate::kafka::{EventProducer, KafkaSettings, TopicNames};
use crate::mysql::DatabaseSettings;
use crate::outbox::{OutboxRelay, OutboxSettings, OutboxWriter};
use crate::redis::{ConnectionManager, CouponRequests, FcfsGate, RedisSettings};
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
    pub fcfs: FcfsSettings,
    pub notify: crate::notify::NotifySettings,
}

/// `[fcfs]` settings.
#[derive(Debug, Clone, Deserialize)]
pub struct FcfsSettings {
    /// Lifetime of the entry token a campaign win writes to Redis (seed 000: 30 min).
    pub entry_token_ttl_secs: u64,
    /// How long queue-mode request statuses stay readable.
    pub request_status_ttl_secs: u64,
}

impl InfraSettings {
    pub fn validate(&self) -> Result<(), String> {
        self.database.validate()?;
        self.redis.validate()?;
        self.kafka.validate()?;
        self.outbox.validate()?;
        if self.fcfs.entry_token_ttl_secs == 0 || self.fcfs.request_status_ttl_secs == 0 {
            return Err(
                "fcfs.entry_token_ttl_secs and fcfs.request_status_ttl_secs must be positive"
                    .into(),
            );
        }
        Ok(())
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
    /// The FCFS gate (Redis Lua scripts).
    pub gate: FcfsGate,
    /// Publishes winners straight to Kafka, awaiting the ack.
    pub events: EventSink,
    /// Queue-mode request statuses.
    pub coupon_requests: CouponRequests,
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
        let prefix = &settings.redis.key_prefix;
        let topics = TopicNames::new(&settings.kafka);
        Ok(Self {
            gate: FcfsGate::new(
                redis.clone(),
                prefix,
                std::time::Duration::from_secs(settings.fcfs.entry_token_ttl_secs),
            ),
            coupon_requests: CouponRequests::new(
                redis.clone(),
                prefix,
                settings.fcfs.request_status_ttl_secs,
            ),
            events: EventSink::new(producer.clone(), topics.clone()),
            pool,
            redis,
            producer,
            topics,
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
