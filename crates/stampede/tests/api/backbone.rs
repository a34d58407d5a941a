//! The event backbone end to end: outbox → relay → Kafka → consumer runtime.

use crate::helpers::*;
use async_trait::async_trait;
use stampede::configuration::Settings;
use stampede::probe::{ProbePinged, Recorder};
use stampede_core::events::{DomainEvent, EventEnvelope};
use stampede_infra::kafka::consumer::{ConsumedEvent, ConsumerSpec, EventHandler, HandlerError};
use stampede_infra::mysql::ProcessedEvents;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

pub(crate) const TOPIC: &str = ProbePinged::EVENT_TYPE;
pub(crate) const WAIT: Duration = Duration::from_secs(30);

pub(crate) fn unique(name: &str) -> String {
    format!("{name}-{}", &Uuid::new_v4().simple().to_string()[..8])
}

/// The test's database, migrated, with one more table for a probe
/// handler's effects (`ddl` creates it).
pub(crate) async fn probe_table(settings: &Settings, ddl: &str) -> sqlx::MySqlPool {
    let pool = stampede_infra::mysql::connect(&settings.database)
        .await
        .unwrap();
    stampede_infra::mysql::migrate(&pool).await.unwrap();
    sqlx::query(ddl).execute(&pool).await.unwrap();
    pool
}

#[tokio::test]
async fn a_committed_event_is_consumed_once_and_a_rolled_back_one_never() {
    let run = Uuid::now_v7();
    let recorder = Recorder::new(run);
    let consumer =
        ConsumerSpec::per_record(unique("recorder"), "recorder", &[TOPIC], recorder.clone());
    let app = spawn_app_with(test_settings(), vec![consumer]).await;

    let committed = app.commit_pings(run, "order-1", 5).await;
    let mut tx = app.infra.pool.begin().await.unwrap();
    let ghost = EventEnvelope::wrap(&ProbePinged {
        run,
        key: "ghost".into(),
        seq: 0,
    });
    app.infra.outbox.append(&mut tx, &ghost).await.unwrap();
    tx.rollback().await.unwrap();

    assert!(recorder.wait_for(5, WAIT).await, "committed events arrived");
    // Give a duplicate or the ghost every chance to show up.
    assert!(
        eventually(WAIT, || async {
            app.infra.relay().pending_stats().await.unwrap().count == 0
        })
        .await
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let received = recorder.received();
    assert_eq!(received.len(), 5);
    let ids: Vec<Uuid> = received.iter().map(|r| r.event.envelope.event_id).collect();
    assert_eq!(
        ids,
        committed.iter().map(|e| e.event_id).collect::<Vec<_>>(),
        "in commit order"
    );
    assert!(received
        .iter()
        .all(|r| r.event.envelope.aggregate_id == "order-1"));
    let published: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE published_at IS NOT NULL")
            .fetch_one(&app.infra.pool)
            .await
            .unwrap();
    assert_eq!(published, 5);
    assert!(app
        .metrics()
        .await
        .contains("stampede_outbox_pending_events"));
    app.stop().await;
}

/// Records every delivery and applies its effect once through `processed_events`.
struct IdempotentProbe {
    name: String,
    pool: sqlx::MySqlPool,
    deliveries: Arc<AtomicUsize>,
}

#[async_trait]
impl EventHandler for IdempotentProbe {
    async fn handle(&self, event: &ConsumedEvent) -> Result<(), HandlerError> {
        self.deliveries.fetch_add(1, Ordering::SeqCst);
        let Some(mut tx) =
            ProcessedEvents::begin(&self.pool, &self.name, event.envelope.event_id).await?
        else {
            return Ok(());
        };
        sqlx::query("INSERT INTO probe_effects (event_id) VALUES (?)")
            .bind(event.envelope.event_id.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

#[tokio::test]
async fn a_relay_crash_between_publish_and_mark_redelivers_but_effects_happen_once() {
    let settings = test_settings();
    let pool = probe_table(
        &settings,
        "CREATE TABLE probe_effects (id BIGINT AUTO_INCREMENT PRIMARY KEY, event_id CHAR(36) NOT NULL)",
    )
    .await;
    let deliveries = Arc::new(AtomicUsize::new(0));
    let name = unique("effects");
    let probe = IdempotentProbe {
        name: name.clone(),
        pool: pool.clone(),
        deliveries: deliveries.clone(),
    };
    let app = spawn_app_with(
        settings,
        vec![ConsumerSpec::per_record(name, "effects", &[TOPIC], probe)],
    )
    .await;

    // The crashing relay works on an outbox of its own (another database),
    // so the app's relay cannot publish these rows first.
    let mut relay_settings = app.settings.clone();
    relay_settings.database.name = format!("{}_relay", relay_settings.database.name);
    let relay_side = stampede_infra::Infra::connect(relay_settings.infra())
        .await
        .unwrap();
    stampede_infra::mysql::migrate(&relay_side.pool)
        .await
        .unwrap();
    let relay_pool = relay_side.pool.clone();
    let mut tx = relay_pool.begin().await.unwrap();
    for seq in 0..4 {
        let envelope = EventEnvelope::wrap(&ProbePinged {
            run: Uuid::now_v7(),
            key: "k".into(),
            seq,
        });
        relay_side.outbox.append(&mut tx, &envelope).await.unwrap();
    }
    tx.commit().await.unwrap();

    let relay = relay_side.relay();
    let mut crashed = relay_pool.begin().await.unwrap();
    let (rows, _) = relay.claim(&mut crashed).await.unwrap();
    assert_eq!(rows.len(), 4);
    assert!(relay.publish(&rows).await.iter().all(Result::is_ok));
    // The process dies before marking: the server rolls the claim back.
    crashed.rollback().await.unwrap();

    assert!(matches!(
        relay.try_step().await.unwrap(),
        stampede_infra::outbox::RelayStep::Worked { published: 4, .. }
    ));
    assert!(
        eventually(WAIT, || async { deliveries.load(Ordering::SeqCst) >= 8 }).await,
        "every event delivered twice"
    );
    let (effects, distinct): (i64, i64) =
        sqlx::query_as("SELECT COUNT(*), COUNT(DISTINCT event_id) FROM probe_effects")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(
        (effects, distinct),
        (4, 4),
        "each event's effect applied once"
    );
    app.stop().await;
}

/// Blocks on every record until released.
#[derive(Clone)]
struct Stuck {
    release: Arc<tokio::sync::Semaphore>,
    handled: Arc<AtomicUsize>,
}

impl Default for Stuck {
    fn default() -> Self {
        Self {
            release: Arc::new(tokio::sync::Semaphore::new(0)),
            handled: Arc::default(),
        }
    }
}

#[async_trait]
impl EventHandler for Stuck {
    async fn handle(&self, _event: &ConsumedEvent) -> Result<(), HandlerError> {
        self.release
            .acquire()
            .await
            .expect("semaphore open")
            .forget();
        self.handled.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

#[tokio::test]
async fn two_groups_each_get_every_event_and_a_stuck_one_does_not_delay_the_other() {
    let run = Uuid::now_v7();
    let fast = Recorder::new(run);
    let stuck = Stuck::default();
    let app = spawn_app_with(
        test_settings(),
        vec![
            ConsumerSpec::per_record(unique("fast"), "fast", &[TOPIC], fast.clone()),
            ConsumerSpec::per_record(unique("stuck"), "stuck", &[TOPIC], stuck.clone()),
        ],
    )
    .await;
    app.commit_pings(run, "a", 5).await;
    app.commit_pings(run, "b", 5).await;

    assert!(
        fast.wait_for(10, WAIT).await,
        "the fast group got everything while the other is stuck"
    );
    assert_eq!(stuck.handled.load(Ordering::SeqCst), 0);
    stuck.release.add_permits(10);
    assert!(
        eventually(WAIT, || async {
            stuck.handled.load(Ordering::SeqCst) == 10
        })
        .await,
        "the stuck group gets everything too"
    );
    assert_eq!(fast.distinct(), 10);
    app.stop().await;
}

#[tokio::test]
async fn two_relays_share_the_outbox_without_double_publishing_or_reordering() {
    let run = Uuid::now_v7();
    let recorder = Recorder::new(run);
    let app = spawn_app_with(
        test_settings(),
        vec![ConsumerSpec::per_record(
            unique("rec"),
            "rec",
            &[TOPIC],
            recorder.clone(),
        )],
    )
    .await;
    let second = tokio_util::sync::CancellationToken::new();
    let second_relay = tokio::spawn(app.infra.relay().run(second.clone()));

    let writers: Vec<_> = (0..10)
        .map(|writer| {
            let infra = app.infra.clone();
            tokio::spawn(async move {
                for round in 0..10u64 {
                    let mut tx = infra.pool.begin().await.unwrap();
                    for n in 0..5 {
                        let key = format!("agg-{}", (writer * 7 + n) % 25);
                        let ping = ProbePinged {
                            run,
                            key,
                            seq: round * 100 + writer * 10 + n,
                        };
                        infra
                            .outbox
                            .append(&mut tx, &EventEnvelope::wrap(&ping))
                            .await
                            .unwrap();
                    }
                    infra.outbox.commit(tx).await.unwrap();
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    assert!(recorder.wait_for(500, WAIT).await);
    assert!(
        eventually(WAIT, || async {
            app.infra.relay().pending_stats().await.unwrap().count == 0
        })
        .await
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(recorder.count(), 500, "no event published twice");
    assert_eq!(recorder.distinct(), 500);
    second.cancel();
    second_relay.await.unwrap();
    app.stop().await;
}

#[tokio::test]
async fn published_rows_are_purged_after_the_retention() {
    let mut settings = test_settings();
    settings.outbox.retention_secs = 0;
    let app = spawn_app_with(settings, vec![]).await;
    app.commit_pings(Uuid::now_v7(), "k", 3).await;
    let relay = app.infra.relay();
    assert!(
        eventually(WAIT, || async {
            relay.pending_stats().await.unwrap().count == 0
        })
        .await
    );
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(relay.purge().await.unwrap(), 3);
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox")
        .fetch_one(&app.infra.pool)
        .await
        .unwrap();
    assert_eq!(left, 0);
    app.stop().await;
}
