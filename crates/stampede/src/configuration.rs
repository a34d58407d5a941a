//! Layered configuration: embedded `config/default.toml` → optional file →
//! `STAMPEDE__SECTION__KEY` environment variables, deserialised into typed
//! settings and validated before anything starts.

use crate::healer::HealerSettings;
use crate::idempotency_pruner::IdempotencySettings;
use crate::reconcile::ReconcileSettings;
use serde::Deserialize;
use stampede_api::{AuthSettings, HttpSettings, PaymentSettings, RateLimitSettings};
use stampede_infra::kafka::KafkaSettings;
use stampede_infra::mysql::DatabaseSettings;
use stampede_infra::notify::NotifySettings;
use stampede_infra::outbox::OutboxSettings;
use stampede_infra::pg::PgSettings;
use stampede_infra::redis::RedisSettings;
use stampede_infra::{ConcertSettings, FcfsSettings, InfraSettings, QueueSettings};
use std::path::Path;

/// The defaults, compiled in so the binary runs from any directory.
pub const DEFAULTS: &str = include_str!("../../../config/default.toml");

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub profile: Profile,
    pub http: HttpSettings,
    pub log: LogSettings,
    pub auth: AuthSettings,
    pub database: DatabaseSettings,
    pub redis: RedisSettings,
    pub kafka: KafkaSettings,
    pub outbox: OutboxSettings,
    pub fcfs: FcfsSettings,
    pub rate_limit: RateLimitSettings,
    pub payments: PaymentSettings,
    pub pg: PgSettings,
    pub reconcile: ReconcileSettings,
    pub healer: HealerSettings,
    pub idempotency: IdempotencySettings,
    pub notify: NotifySettings,
    pub concert: ConcertSettings,
    pub queue: QueueSettings,
}

/// Where this process runs. Only `local` may serve with the development
/// JWT secret committed in `config/default.toml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    Local,
    Production,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LogSettings {
    pub level: String,
    /// `text` or `json` (a string, so a bad value is reported with its key).
    pub format: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

impl LogSettings {
    pub fn format(&self) -> Result<LogFormat, String> {
        match self.format.as_str() {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(format!(
                "log.format must be `text` or `json`, not `{other}`"
            )),
        }
    }
}

/// A configuration problem, phrased as one line that names the key.
#[derive(Debug, thiserror::Error)]
#[error("configuration error: {0}")]
pub struct ConfigError(pub String);

impl Settings {
    /// Loads the layers and validates the result.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_from(file, config::Environment::with_prefix("STAMPEDE"))
    }

    /// Like [`Settings::load`] with an explicit environment source (tests).
    pub fn load_from(
        file: Option<&Path>,
        environment: config::Environment,
    ) -> Result<Self, ConfigError> {
        let mut builder = config::Config::builder()
            .add_source(config::File::from_str(DEFAULTS, config::FileFormat::Toml));
        if let Some(path) = file {
            builder = builder.add_source(config::File::from(path).required(true));
        }
        let environment = environment
            .prefix_separator("__")
            .separator("__")
            .try_parsing(true)
            .list_separator(",")
            .with_list_parse_key("kafka.topics")
            .with_list_parse_key("redis.cluster_nodes");
        let settings: Settings = builder
            .add_source(environment)
            .build()
            .and_then(config::Config::try_deserialize)
            .map_err(|e| ConfigError(e.to_string()))?;
        settings.validate().map_err(ConfigError)?;
        Ok(settings)
    }

    pub fn validate(&self) -> Result<(), String> {
        self.log.format()?;
        self.http.validate()?;
        self.rate_limit.validate()?;
        self.payments.validate()?;
        self.pg.validate()?;
        self.reconcile.validate()?;
        self.healer.validate()?;
        self.idempotency
            .validate(self.payments.idempotency_ttl_secs)?;
        self.auth.validate()?;
        self.infra().validate()
    }

    /// What `serve` checks beyond [`Settings::validate`]: the committed
    /// development secret lets anybody sign tokens, so outside the `local`
    /// profile the server does not start with it. Other commands (`token`,
    /// `demo`, `bench`) may use it: they serve nobody.
    pub fn check_servable(&self) -> Result<(), ConfigError> {
        if self.auth.uses_development_secret() && self.profile != Profile::Local {
            return Err(ConfigError(
                "auth.jwt_secret is the committed development secret; set \
                 STAMPEDE__AUTH__JWT_SECRET (or an empty one with auth.jwks_url / \
                 auth.public_key_pem), or profile = \"local\" for local use"
                    .into(),
            ));
        }
        Ok(())
    }

    pub fn infra(&self) -> InfraSettings {
        InfraSettings {
            database: self.database.clone(),
            redis: self.redis.clone(),
            kafka: self.kafka.clone(),
            outbox: self.outbox.clone(),
            fcfs: self.fcfs.clone(),
            notify: self.notify.clone(),
            concert: self.concert.clone(),
            queue: self.queue.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn load(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let source: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::load_from(
            None,
            config::Environment::with_prefix("STAMPEDE").source(Some(source)),
        )
    }

    #[test]
    fn defaults_load_and_validate() {
        let settings = load(&[]).unwrap();
        assert_eq!(settings.http.port, 8080);
        assert_eq!(settings.kafka.partitions, 3);
        assert_eq!(settings.kafka.consumer.max_poll_records, 50);
        // Every topic the code writes is created at start-up, so a cluster
        // without auto-creation never refuses a write.
        assert_eq!(
            settings.kafka.topics,
            stampede_core::events::topics::ALL.map(String::from)
        );
        assert_eq!(settings.profile, Profile::Production);
        assert!(settings.auth.uses_development_secret());
    }

    #[test]
    fn serve_refuses_the_development_secret_outside_the_local_profile() {
        let error = load(&[]).unwrap().check_servable().unwrap_err().to_string();
        assert!(error.contains("auth.jwt_secret"), "{error}");
        let local = load(&[("STAMPEDE__PROFILE", "local")]).unwrap();
        assert!(local.check_servable().is_ok());
        let own_secret = load(&[(
            "STAMPEDE__AUTH__JWT_SECRET",
            "a-deployment-secret-of-at-least-32-chars",
        )])
        .unwrap();
        assert!(own_secret.check_servable().is_ok());
    }

    #[test]
    fn an_identity_provider_needs_issuer_and_audience() {
        let error = load(&[("STAMPEDE__AUTH__JWKS_URL", "https://idp.example/jwks")])
            .unwrap_err()
            .to_string();
        assert!(error.contains("auth.issuer"), "{error}");
        let settings = load(&[
            ("STAMPEDE__AUTH__JWKS_URL", "https://idp.example/jwks"),
            ("STAMPEDE__AUTH__ISSUER", "https://idp.example/"),
            ("STAMPEDE__AUTH__AUDIENCE", "stampede"),
            ("STAMPEDE__AUTH__JWT_SECRET", ""),
        ])
        .unwrap();
        assert!(!settings.auth.has_shared_secret());
        let error = load(&[("STAMPEDE__AUTH__JWT_SECRET", "")])
            .unwrap_err()
            .to_string();
        assert!(error.contains("auth.jwt_secret"), "{error}");
    }

    #[test]
    fn environment_overrides_nested_keys_and_lists() {
        let settings = load(&[
            ("STAMPEDE__HTTP__PORT", "9001"),
            ("STAMPEDE__KAFKA__CONSUMER__RETRY_ATTEMPTS", "5"),
            ("STAMPEDE__KAFKA__TOPICS", "a.b,c.d"),
        ])
        .unwrap();
        assert_eq!(settings.http.port, 9001);
        assert_eq!(settings.kafka.consumer.retry_attempts, 5);
        assert_eq!(settings.kafka.topics, vec!["a.b", "c.d"]);
    }

    #[test]
    fn a_bad_value_names_its_key() {
        let error = load(&[("STAMPEDE__HTTP__PORT", "eighty")])
            .unwrap_err()
            .to_string();
        assert!(error.contains("http.port"), "{error}");
        let error = load(&[("STAMPEDE__KAFKA__PARTITIONS", "0")])
            .unwrap_err()
            .to_string();
        assert!(error.contains("kafka.partitions"), "{error}");
        let error = load(&[("STAMPEDE__AUTH__JWT_SECRET", "short")])
            .unwrap_err()
            .to_string();
        assert!(error.contains("auth.jwt_secret"), "{error}");
        let error = load(&[("STAMPEDE__LOG__FORMAT", "xml")])
            .unwrap_err()
            .to_string();
        assert!(error.contains("log.format"), "{error}");
    }
}
