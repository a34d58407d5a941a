//! Readiness under outages and graceful shutdown.

use crate::chaos::ChaosProxy;
use crate::helpers::*;
use async_trait::async_trait;
use stampede::probe::{ProbePinged, Recorder};
use stampede_core::events::DomainEvent;
use stampede_infra::kafka::consumer::{ConsumedEvent, ConsumerSpec, EventHandler, HandlerError};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

#[tokio::test]
async fn ready_names_the_dependency_that_is_down_and_recovers() {
    let redis = ChaosProxy::start("127.0.0.1:6379").await;
    let database = ChaosProxy::start("127.0.0.1:3306").await;
    let mut settings = test_settings();
    settings.redis.url = format!("redis://127.0.0.1:{}", redis.port);
    settings.database.url = format!("mysql://root@127.0.0.1:{}", database.port);
    settings.database.acquire_timeout_ms = 500;
    let app = spawn_app_with(settings, vec![]).await;
    let ready = || async {
        let response = app.get("/ready", None).await;
        (
            response.status().as_u16(),
            response.json::<serde_json::Value>().await.unwrap(),
        )
    };
    assert_eq!(ready().await.0, 200);

    redis.take_down();
    let (status, body) = ready().await;
    assert_eq!(status, 503);
    assert_eq!(body["code"], "NOT_READY");
    assert_eq!(body["redis"], false);
    assert_eq!(body["database"], true);
    assert!(body["message"].as_str().unwrap().contains("redis"));
    redis.bring_up();
    assert!(
        eventually(Duration::from_secs(20), || async { ready().await.0 == 200 }).await,
        "Redis reconnects"
    );

    database.take_down();
    let (status, body) = ready().await;
    assert_eq!(status, 503);
    assert_eq!(body["database"], false);
    assert!(body["message"].as_str().unwrap().contains("database"));
    database.bring_up();
    assert!(eventually(Duration::from_secs(20), || async { ready().await.0 == 200 }).await);
    app.stop().await;
}

/// Takes its time with every record.
#[derive(Clone, Default)]
struct Slow {
    started: Arc<AtomicUsize>,
    finished: Arc<AtomicUsize>,
}

#[async_trait]
impl EventHandler for Slow {
    async fn handle(&self, _event: &ConsumedEvent) -> Result<(), HandlerError> {
        self.started.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(300)).await;
        self.finished.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

#[tokio::test]
async fn a_graceful_shutdown_finishes_the_batch_in_hand_and_commits_it() {
    let settings = test_settings();
    let slow = Slow::default();
    let spec = ConsumerSpec::per_record("slow", "slow", &[ProbePinged::EVENT_TYPE], slow.clone());
    let app = spawn_app_with(settings.clone(), vec![spec]).await;
    let run = Uuid::now_v7();
    app.commit_pings(run, "k", 5).await;
    assert!(
        eventually(Duration::from_secs(30), || async {
            slow.started.load(Ordering::SeqCst) >= 1
        })
        .await
    );
    app.stop().await; // SIGTERM's path
    let finished = slow.finished.load(Ordering::SeqCst);
    assert_eq!(
        finished,
        slow.started.load(Ordering::SeqCst),
        "nothing was cut off mid-record"
    );
    assert!(finished >= 1);

    // The same group, restarted, gets only what was not finished before.
    let recorder = Recorder::new(run);
    let spec =
        ConsumerSpec::per_record("slow", "slow", &[ProbePinged::EVENT_TYPE], recorder.clone());
    let app = spawn_app_with(settings, vec![spec]).await;
    app.commit_pings(run, "after", 1).await;
    assert!(
        recorder
            .wait_for(1 + 5 - finished, Duration::from_secs(30))
            .await
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        recorder.count(),
        1 + 5 - finished,
        "finished records were committed, not redelivered"
    );
    app.stop().await;
}

#[tokio::test]
async fn without_its_broker_serve_starts_refuses_to_issue_with_503_and_recovers() {
    let kafka = ChaosProxy::start("127.0.0.1:9092").await;
    kafka.take_down();
    let mut settings = test_settings();
    settings.kafka.bootstrap_servers = format!("127.0.0.1:{}", kafka.port);
    settings.kafka.producer.delivery_timeout_ms = 2000;
    let app = spawn_app_with(settings, vec![]).await;
    let ready = || async {
        let response = app.get("/ready", None).await;
        (
            response.status().as_u16(),
            response.json::<serde_json::Value>().await.unwrap(),
        )
    };
    let (status, body) = ready().await;
    assert_eq!(status, 503);
    assert_eq!(body["kafka"], false);
    assert!(
        body["message"].as_str().unwrap().contains("kafka"),
        "{body}"
    );

    let policy = app.open_policy(10, "GATE").await;
    let user = app.token(7, stampede_api::auth::Role::User);
    let response = app
        .post(&format!("/coupons/{policy}/issue"), &user, None)
        .await;
    assert_eq!(response.status(), 503);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["code"], "ISSUE_UNAVAILABLE");
    let view: serde_json::Value = app
        .get(&format!("/coupons/{policy}"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        view["stock_left"], 10,
        "nothing issued without a durable event"
    );

    kafka.bring_up();
    assert!(
        eventually(Duration::from_secs(30), || async { ready().await.0 == 200 }).await,
        "ready once the broker answers"
    );
    let issued = eventually(Duration::from_secs(30), || async {
        app.post(&format!("/coupons/{policy}/issue"), &user, None)
            .await
            .status()
            == 201
    })
    .await;
    assert!(issued, "issuing works once the topics exist");
    let persisted = eventually(Duration::from_secs(60), || async {
        let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM user_coupons")
            .fetch_one(&app.infra.pool)
            .await
            .unwrap();
        rows == 1
    })
    .await;
    assert!(
        persisted,
        "the winner reaches the consumer that started before its topic"
    );
    app.stop().await;
}
