//! `spawn_app()` and friends: the real app on a random port, isolated by name.

use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::OwnedMessage;
use rdkafka::{ClientConfig, Message};
use stampede::configuration::Settings;
use stampede::probe::ProbePinged;
use stampede::startup::Application;
use stampede_api::auth::{JwtKeys, Role};
use stampede_core::events::EventEnvelope;
use stampede_infra::kafka::consumer::ConsumerSpec;
use stampede_infra::kafka::ClosingConsumer;
use stampede_infra::Infra;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub struct TestApp {
    pub address: String,
    pub settings: Settings,
    pub infra: Infra,
    pub client: reqwest::Client,
    pub shutdown: CancellationToken,
    pub handle: tokio::task::JoinHandle<anyhow::Result<()>>,
}

pub use crate::support::brokers::dev_broker_has_exact_offsets;
pub use crate::support::checks::{eventually, metric};

/// Defaults plus the environment, made unique and fast for one test.
pub fn test_settings() -> Settings {
    crate::support::settings::Overrides::unique().settings()
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(test_settings(), vec![]).await
}

pub async fn spawn_app_with(settings: Settings, consumers: Vec<ConsumerSpec>) -> TestApp {
    // RUST_LOG=… shows the app's log beside a failing test's output.
    if std::env::var_os("RUST_LOG").is_some() {
        stampede::tracing_setup::init(&settings.log);
    }
    let app = Application::build_with(settings.clone(), consumers)
        .await
        .expect("the app builds");
    run(app, settings)
}

/// An instance that runs no consumer (tests drive consumers themselves).
pub async fn spawn_api_only() -> TestApp {
    spawn_api_only_with(test_settings()).await
}

/// The same with `settings`.
pub async fn spawn_api_only_with(settings: Settings) -> TestApp {
    let app = Application::build_running(settings.clone(), |_| vec![])
        .await
        .expect("the app builds");
    run(app, settings)
}

fn run(app: Application, settings: Settings) -> TestApp {
    let address = format!("http://127.0.0.1:{}", app.port());
    let infra = app.infra().clone();
    let shutdown = app.shutdown_token();
    let handle = tokio::spawn(app.run_until_stopped());
    TestApp {
        address,
        settings,
        infra,
        // No test request may hang: a stuck server becomes a failure that says so.
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("a reqwest client builds"),
        shutdown,
        handle,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub fn token(&self, user_id: u64, role: Role) -> String {
        JwtKeys::new(&self.settings.auth).issue(user_id, role)
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        let mut request = self.client.get(self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("request sent")
    }

    pub async fn post(
        &self,
        path: &str,
        token: &str,
        body: Option<serde_json::Value>,
    ) -> reqwest::Response {
        let mut request = self.client.post(self.url(path)).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.expect("request sent")
    }

    /// Creates and opens a coupon policy; returns its id.
    pub async fn open_policy(&self, stock: u64, mode: &str) -> u64 {
        let id = self.create_policy(stock, mode).await;
        let admin = self.token(1, Role::Admin);
        let opened = self
            .post(&format!("/admin/coupon-policies/{id}/open"), &admin, None)
            .await;
        assert_eq!(opened.status(), 200);
        id
    }

    /// A DRAFT coupon policy whose window is on.
    pub async fn create_policy(&self, stock: u64, mode: &str) -> u64 {
        let admin = self.token(1, Role::Admin);
        let body = crate::support::client::policy_body(stock, mode);
        let created = self
            .post("/admin/coupon-policies", &admin, Some(body))
            .await;
        assert_eq!(created.status(), 201, "{:?}", created.text().await);
        created.json::<serde_json::Value>().await.unwrap()["id"]
            .as_u64()
            .unwrap()
    }

    pub async fn metrics(&self) -> String {
        self.get("/metrics", None).await.text().await.unwrap()
    }

    /// Commits `count` probe events for `key` in one transaction.
    pub async fn commit_pings(&self, run: Uuid, key: &str, count: u64) -> Vec<EventEnvelope> {
        let mut tx = self.infra.pool.begin().await.unwrap();
        let mut envelopes = Vec::new();
        for seq in 0..count {
            let envelope = EventEnvelope::wrap(&ProbePinged {
                run,
                key: key.to_owned(),
                seq,
            });
            self.infra.outbox.append(&mut tx, &envelope).await.unwrap();
            envelopes.push(envelope);
        }
        self.infra.outbox.commit(tx).await.unwrap();
        envelopes
    }

    pub fn physical(&self, logical: &str) -> String {
        self.infra.topics.physical(logical)
    }

    /// Stops the app gracefully and waits for it.
    /// A graceful stop must end: one that hangs fails the test and says so.
    pub async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(60), self.handle)
            .await
            .expect("the app stops within 60 s of its shutdown signal")
            .unwrap()
            .unwrap();
        let kafka = &self.settings.kafka;
        crate::support::topics::delete_topics_named(&kafka.bootstrap_servers, &kafka.topic_prefix)
            .await;
    }
}

/// Reads `topic` from the beginning with a fresh group until `count`
/// records arrived or `timeout` passed (never trusts watermarks).
pub async fn read_topic(
    settings: &Settings,
    topic: &str,
    count: usize,
    timeout: Duration,
) -> Vec<OwnedMessage> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", &settings.kafka.bootstrap_servers)
        .set("group.id", format!("reader-{}", Uuid::new_v4()))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("session.timeout.ms", "2000")
        .set("heartbeat.interval.ms", "300")
        .create()
        .unwrap();
    let consumer = ClosingConsumer::new(consumer);
    consumer.subscribe(&[topic]).unwrap();
    let mut messages = Vec::new();
    let deadline = tokio::time::Instant::now() + timeout;
    while messages.len() < count {
        match tokio::time::timeout_at(deadline, consumer.recv()).await {
            Ok(Ok(message)) => messages.push(message.detach()),
            Ok(Err(_)) => continue,
            Err(_) => break,
        }
    }
    messages
}

/// Sends `message` to its topic `times` more times, key and payload as
/// they were, as a redelivery reaches a consumer.
pub async fn redeliver(app: &TestApp, message: &OwnedMessage, times: usize) {
    let record = stampede_infra::kafka::OutgoingRecord {
        topic: message.topic().to_owned(),
        partition: None,
        key: message.key().map(<[u8]>::to_vec),
        payload: message.payload().unwrap().to_vec(),
        headers: vec![],
    };
    for _ in 0..times {
        app.infra.producer.send(&record).await.unwrap();
    }
}

/// The value of header `name` of `message`.
pub fn header(message: &OwnedMessage, name: &str) -> Option<Vec<u8>> {
    use rdkafka::message::Headers;
    let headers = message.headers()?;
    headers
        .iter()
        .find(|h| h.key == name)
        .and_then(|h| h.value.map(<[u8]>::to_vec))
}
