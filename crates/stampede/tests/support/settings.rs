//! Settings made unique for one test, as `STAMPEDE__…` overrides: the test
//! reads them as [`Settings`] and hands the same map to the processes it starts.

use stampede::configuration::Settings;
use stampede::probe::ProbePinged;
use stampede_core::events::DomainEvent;
use std::collections::BTreeMap;
use uuid::Uuid;

/// `STAMPEDE__SECTION__KEY` → value.
#[derive(Debug, Clone, Default)]
pub struct Overrides(pub BTreeMap<String, String>);

impl Overrides {
    /// A fresh database, topic, group and key prefix, fast group joins, and
    /// no rate limits (bursts come from one test client).
    pub fn unique() -> Self {
        let id = &Uuid::new_v4().simple().to_string()[..12];
        let mut o = Self::default();
        // Tests sign their tokens with the committed development secret.
        o.set("profile", "local")
            .set("database.name", format!("stampede_test_{id}"))
            .set("database.max_connections", "10")
            .set("kafka.topic_prefix", format!("t{id}."))
            .set("kafka.group_prefix", format!("t{id}."))
            .set("redis.key_prefix", format!("t{id}:"))
            .set("http.port", "0")
            // A short session timeout makes a new group's first message arrive in ~1 s.
            .set("kafka.consumer.session_timeout_ms", "2000")
            .set("kafka.consumer.heartbeat_interval_ms", "300")
            .set("kafka.consumer.retry_backoff_ms", "100")
            .set("kafka.consumer.max_wait_ms", "200")
            .set("kafka.consumer.stats_interval_ms", "1000")
            .set("outbox.poll_interval_ms", "100")
            .set("concert.admit_interval_ms", "100")
            .set("rate_limit.per_user_per_sec", "0")
            .set("rate_limit.global_per_sec", "0");
        // Tests publish probe events without a consumer of them too; the
        // brokers create no topic on demand.
        let mut topics = Self::default().settings().kafka.topics;
        topics.push(ProbePinged::EVENT_TYPE.to_owned());
        o.set("kafka.topics", topics.join(","));
        o
    }

    /// Sets `section.key` (dots, as in config/default.toml).
    pub fn set(&mut self, key: &str, value: impl ToString) -> &mut Self {
        let variable = format!("STAMPEDE__{}", key.replace('.', "__").to_uppercase());
        self.0.insert(variable, value.to_string());
        self
    }

    /// The defaults, then the process's own `STAMPEDE__…` variables (as a
    /// child process inherits them), then these overrides.
    pub fn settings(&self) -> Settings {
        let mut source: std::collections::HashMap<String, String> = std::env::vars()
            .filter(|(key, _)| key.starts_with("STAMPEDE__"))
            .collect();
        source.extend(self.0.clone());
        Settings::load_from(
            None,
            config::Environment::with_prefix("STAMPEDE").source(Some(source)),
        )
        .expect("test overrides make a valid configuration")
    }
}
