//! The shared handles every part of the service uses, built once at start-up.

use crate::kafka::EventSink;
use crate::kafka::{EventProducer, KafkaSettings, TopicNames};
use crate::mysql::DatabaseSettings;
use crate::outbox::{OutboxRelay, OutboxSettings, OutboxWriter};
use crate::redis::{
    CouponRequests, FcfsGate, RedisConnection, RedisSettings, SeatHolds, SoldOutRanking,
    WaitingQueue,
};
use anyhow::Context;
use serde::Deserialize;
use sqlx::MySqlPool;
use std::sync::Arc;
use std::time::Duration;

/// The adapter sections of the configuration.
#[derive(Debug, Clone, Deserialize)]
pub struct InfraSettings {
    pub database: DatabaseSettings,
    pub redis: RedisSettings,
    pub kafka: KafkaSettings,
    pub outbox: OutboxSettings,
    pub fcfs: FcfsSettings,
    pub notify: crate::notify::NotifySettings,
    pub concert: ConcertSettings,
    pub queue: QueueSettings,
}

/// `[fcfs]` settings.
#[derive(Debug, Clone, Deserialize)]
pub struct FcfsSettings {
    /// Lifetime of the entry token a campaign win writes to Redis (30 minutes by default: the time a winner has to buy).
    pub entry_token_ttl_secs: u64,
    /// How long queue-mode request statuses stay readable.
    pub request_status_ttl_secs: u64,
}

/// `[concert]` settings: seat holds and the waiting queue.
#[derive(Debug, Clone, Deserialize)]
pub struct ConcertSettings {
    /// A reserved seat is held this long for its buyer to pay.
    pub hold_ttl_secs: u64,
    /// The admission scheduler runs this often…
    pub admit_interval_ms: u64,
    /// …and admits this many waiting tokens per concert each time.
    pub admit_per_interval: u64,
    /// An admitted token stays ACTIVE this long.
    pub active_ttl_secs: u64,
}

/// `[queue]` settings: the waiting room's timings (a concert's rate and
/// cap are set per concert by an operator; these are the defaults and the
/// clocks).
#[derive(Debug, Clone, Deserialize)]
pub struct QueueSettings {
    /// A waiting token whose holder has not asked for this long loses its place.
    pub keepalive_secs: u64,
    /// An admitted token that holds no seat within this long is a no-show:
    /// its active slot goes to the next fan.
    pub no_show_secs: u64,
    /// The ETA is measured from the admissions of this last stretch.
    pub outflow_window_secs: u64,
    /// At most this many ACTIVE tokens per concert where the operator set no cap (0: no cap).
    pub active_cap: u64,
    /// The live-update reader looks at the queue this often.
    pub events_tick_ms: u64,
}

impl QueueSettings {
    pub fn validate(&self) -> Result<(), String> {
        if self.keepalive_secs < 3
            || self.no_show_secs == 0
            || self.outflow_window_secs == 0
            || self.events_tick_ms == 0
        {
            return Err("queue.keepalive_secs must be at least 3; no_show_secs, outflow_window_secs and events_tick_ms must be positive".into());
        }
        Ok(())
    }

    pub fn keepalive(&self) -> Duration {
        Duration::from_secs(self.keepalive_secs)
    }

    pub fn no_show(&self) -> Duration {
        Duration::from_secs(self.no_show_secs)
    }

    pub fn outflow_window(&self) -> Duration {
        Duration::from_secs(self.outflow_window_secs)
    }

    pub fn events_tick(&self) -> Duration {
        Duration::from_millis(self.events_tick_ms)
    }

    /// The longest a waiting fan is told to wait between polls: a third of
    /// the keepalive, so following the advice never loses a place.
    pub fn longest_poll(&self) -> Duration {
        self.keepalive() / 3
    }

    pub fn default_active_cap(&self) -> Option<u64> {
        (self.active_cap > 0).then_some(self.active_cap)
    }
}

impl ConcertSettings {
    pub fn validate(&self) -> Result<(), String> {
        if self.hold_ttl_secs == 0
            || self.admit_interval_ms == 0
            || self.admit_per_interval == 0
            || self.active_ttl_secs == 0
        {
            return Err("concert.hold_ttl_secs, admit_interval_ms, admit_per_interval and active_ttl_secs must be positive".into());
        }
        Ok(())
    }

    pub fn hold_ttl(&self) -> Duration {
        Duration::from_secs(self.hold_ttl_secs)
    }

    pub fn admit_interval(&self) -> Duration {
        Duration::from_millis(self.admit_interval_ms)
    }
}

impl InfraSettings {
    pub fn validate(&self) -> Result<(), String> {
        self.database.validate()?;
        self.redis.validate()?;
        self.kafka.validate()?;
        self.outbox.validate()?;
        self.concert.validate()?;
        self.queue.validate()?;
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
    pub redis: RedisConnection,
    pub producer: EventProducer,
    pub topics: TopicNames,
    pub outbox: OutboxWriter,
    /// The FCFS gate (Redis Lua scripts).
    pub gate: FcfsGate,
    /// Publishes winners straight to Kafka, awaiting the ack.
    pub events: EventSink,
    /// Queue-mode request statuses.
    pub coupon_requests: CouponRequests,
    /// The concert waiting queue.
    pub queue: WaitingQueue,
    /// Concert seat holds.
    pub seat_holds: SeatHolds,
    /// The sold-out ranking's served copy.
    pub ranking: SoldOutRanking,
    /// This process among the instances sharing the stores (a UUID v7,
    /// new at every start).
    pub instance: String,
    pub settings: Arc<InfraSettings>,
}

impl Infra {
    /// Whether MariaDB answers a trivial query within `timeout`.
    pub async fn database_reachable(&self, timeout: Duration) -> bool {
        let ping = sqlx::query("SELECT 1").execute(&self.pool);
        matches!(tokio::time::timeout(timeout, ping).await, Ok(Ok(_)))
    }

    /// Whether Redis answers `PING` within `timeout`.
    pub async fn redis_reachable(&self, timeout: Duration) -> bool {
        let mut connection = self.redis.clone();
        let command = ::redis::cmd("PING");
        let ping = command.query_async::<String>(&mut connection);
        matches!(tokio::time::timeout(timeout, ping).await, Ok(Ok(_)))
    }

    /// Connects to MariaDB (creating the database if needed), Redis and Kafka.
    pub async fn connect(settings: InfraSettings) -> anyhow::Result<Self> {
        let pool = crate::mysql::connect(&settings.database)
            .await
            .with_context(|| format!("connecting to MariaDB at {}", settings.database.url))?;
        let redis = crate::redis::connect(&settings.redis)
            .await
            .with_context(|| format!("connecting to Redis at {}", settings.redis.target()))?;
        let producer =
            EventProducer::new(&settings.kafka.bootstrap_servers, &settings.kafka.producer)
                .context("creating the Kafka producer")?;
        let prefix = &settings.redis.key_prefix;
        let topics = TopicNames::new(&settings.kafka);
        let instance = uuid::Uuid::now_v7().to_string();
        Ok(Self {
            gate: FcfsGate::new(
                redis.clone(),
                prefix,
                Duration::from_secs(settings.fcfs.entry_token_ttl_secs),
                &instance,
            ),
            coupon_requests: CouponRequests::new(
                redis.clone(),
                prefix,
                settings.fcfs.request_status_ttl_secs,
            ),
            queue: WaitingQueue::new(
                redis.clone(),
                prefix,
                &settings.concert,
                settings.queue.clone(),
            ),
            seat_holds: SeatHolds::new(redis.clone(), prefix),
            ranking: SoldOutRanking::new(redis.clone(), prefix),
            events: EventSink::new(producer.clone(), topics.clone()),
            pool,
            redis,
            producer,
            topics,
            outbox: OutboxWriter::new(),
            instance,
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
