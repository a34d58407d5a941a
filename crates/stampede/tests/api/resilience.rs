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
