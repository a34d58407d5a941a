//! The event backbone end to end: outbox → relay → Kafka → consumer runtime.

use crate::helpers::*;
use async_trait::async_trait;
use rdkafka::Message;
use stampede::probe::{ProbePinged, Recorder};
use stampede_core::events::{DomainEvent, EventEnvelope};
use stampede_infra::kafka::consumer::dead_letter::{self, decode_be_number};
use stampede_infra::kafka::consumer::{
    BatchError, BatchEventHandler, ConsumedEvent, ConsumerSpec, EventHandler, HandlerError,
};
use stampede_infra::kafka::OutgoingRecord;
use stampede_infra::mysql::ProcessedEvents;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use uuid::Uuid;

const TOPIC: &str = ProbePinged::EVENT_TYPE;
const WAIT: Duration = Duration::from_secs(30);

fn unique(name: &str) -> String {
    format!("{name}-{}", &Uuid::new_v4().simple().to_string()[..8])
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
    let pool = stampede_infra::mysql::connect(&settings.database)
        .await
        .unwrap();
    stampede_infra::mysql::migrate(&pool).await.unwrap();
    sqlx::query("CREATE TABLE probe_effects (id BIGINT AUTO_INCREMENT PRIMARY KEY, event_id CHAR(36) NOT NULL)")
        .execute(&pool)
        .await
        .unwrap();
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

/// Fails each event's first `failures` attempts, or always for key `poison`.
#[derive(Clone, Default)]
struct Flaky {
    failures: usize,
    attempts: Arc<Mutex<HashMap<Uuid, usize>>>,
    handled: Arc<Mutex<Vec<ConsumedEvent>>>,
}

#[derive(Debug, thiserror::Error)]
#[error("probe handler refused {0}")]
struct Refused(String);

#[async_trait]
impl EventHandler for Flaky {
    async fn handle(&self, event: &ConsumedEvent) -> Result<(), HandlerError> {
        let attempt = {
            let mut attempts = self.attempts.lock().unwrap();
            let n = attempts.entry(event.envelope.event_id).or_default();
            *n += 1;
            *n
        };
        if event.envelope.aggregate_id == "poison" || attempt <= self.failures {
            return Err(Refused(event.envelope.aggregate_id.clone()).into());
        }
        self.handled.lock().unwrap().push(event.clone());
        Ok(())
    }
}

#[tokio::test]
async fn a_handler_failing_twice_then_succeeding_is_handled_once_after_two_retries() {
    let flaky = Flaky {
        failures: 2,
        ..Default::default()
    };
    let name = unique("flaky");
    let app = spawn_app_with(
        test_settings(),
        vec![ConsumerSpec::per_record(
            &name,
            "flaky",
            &[TOPIC],
            flaky.clone(),
        )],
    )
    .await;
    app.commit_pings(Uuid::now_v7(), "k", 1).await;

    assert!(eventually(WAIT, || async { flaky.handled.lock().unwrap().len() == 1 }).await);
    let metrics = app.metrics().await;
    assert_eq!(
        metric(
            &metrics,
            "stampede_consumer_retries_total",
            &[("consumer", &name)]
        ),
        2.0
    );
    assert_eq!(
        metric(
            &metrics,
            "stampede_consumer_handled_total",
            &[("consumer", &name)]
        ),
        1.0
    );
    assert_eq!(
        metric(
            &metrics,
            "stampede_consumer_dead_lettered_total",
            &[("consumer", &name)]
        ),
        0.0
    );
    app.stop().await;
}

#[tokio::test]
async fn an_always_failing_record_lands_in_the_dlt_with_spring_headers_and_the_rest_flows() {
    let settings = test_settings();
    let flaky = Flaky::default();
    let name = unique("poisoned");
    let spec = ConsumerSpec::per_record(&name, "poisoned", &[TOPIC], flaky.clone());
    let app = spawn_app_with(settings.clone(), vec![spec]).await;
    let run = Uuid::now_v7();
    let poison = app.commit_pings(run, "poison", 1).await.remove(0);
    app.commit_pings(run, "good", 3).await;

    assert!(
        eventually(WAIT, || async { flaky.handled.lock().unwrap().len() == 3 }).await,
        "later records flow"
    );
    let dlt = app.physical(TOPIC) + ".DLT";
    let letters = read_topic(&settings, &dlt, 1, WAIT).await;
    assert_eq!(letters.len(), 1);
    let letter = &letters[0];
    let text = |name: &str| {
        String::from_utf8(header(letter, name).unwrap_or_else(|| panic!("{name}"))).unwrap()
    };
    let number = |name: &str| decode_be_number(&header(letter, name).unwrap()).unwrap();
    assert_eq!(text(dead_letter::ORIGINAL_TOPIC), app.physical(TOPIC));
    assert_eq!(
        header(letter, dead_letter::ORIGINAL_PARTITION)
            .unwrap()
            .len(),
        4
    );
    assert_eq!(
        number(dead_letter::ORIGINAL_PARTITION) as i32,
        letter.partition(),
        "same partition number"
    );
    assert_eq!(
        header(letter, dead_letter::ORIGINAL_OFFSET).unwrap().len(),
        8
    );
    assert!(number(dead_letter::ORIGINAL_OFFSET) >= 0);
    assert!(number(dead_letter::ORIGINAL_TIMESTAMP) > 1_600_000_000_000);
    assert_eq!(
        text(dead_letter::ORIGINAL_CONSUMER_GROUP),
        format!("{}poisoned", settings.kafka.group_prefix)
    );
    assert!(
        text(dead_letter::EXCEPTION_FQCN).ends_with("Refused"),
        "{}",
        text(dead_letter::EXCEPTION_FQCN)
    );
    assert_eq!(
        text(dead_letter::EXCEPTION_MESSAGE),
        "probe handler refused poison"
    );
    assert!(text(dead_letter::EXCEPTION_STACKTRACE).contains("probe handler refused poison"));
    assert_eq!(letter.key(), Some(&b"poison"[..]));
    let envelope: EventEnvelope = serde_json::from_slice(letter.payload().unwrap()).unwrap();
    assert_eq!(envelope.event_id, poison.event_id, "original value kept");
    assert_eq!(
        String::from_utf8(header(letter, "event_id").unwrap()).unwrap(),
        poison.event_id.to_string()
    );

    // The letter can be read back before the runtime counted it.
    let labels = [("consumer", name.as_str()), ("reason", "retries_exhausted")];
    let counted = eventually(WAIT, || async {
        metric(
            &app.metrics().await,
            "stampede_consumer_dead_lettered_total",
            &labels,
        ) == 1.0
    })
    .await;
    assert!(counted, "the dead letter is counted once");
    let metrics = app.metrics().await;
    assert_eq!(
        metric(
            &metrics,
            "stampede_consumer_retries_total",
            &[("consumer", &name)]
        ),
        3.0
    );
    app.stop().await;

    // The offsets were committed: the same group, restarted, sees only new events.
    let restarted = Recorder::new(run);
    let spec = ConsumerSpec::per_record(&name, "poisoned", &[TOPIC], restarted.clone());
    let app = spawn_app_with(settings, vec![spec]).await;
    app.commit_pings(run, "after-restart", 1).await;
    assert!(restarted.wait_for(1, WAIT).await);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let keys: Vec<String> = restarted
        .received()
        .iter()
        .map(|r| r.event.envelope.aggregate_id.clone())
        .collect();
    assert_eq!(keys, vec!["after-restart"]);
    app.stop().await;
}

#[tokio::test]
async fn an_undecodable_record_goes_to_the_dlt_at_once() {
    let settings = test_settings();
    let flaky = Flaky::default();
    let name = unique("decoder");
    let app = spawn_app_with(
        settings.clone(),
        vec![ConsumerSpec::per_record(
            &name,
            "decoder",
            &[TOPIC],
            flaky.clone(),
        )],
    )
    .await;
    let garbage = OutgoingRecord {
        topic: app.physical(TOPIC),
        partition: None,
        key: Some(b"junk".to_vec()),
        payload: b"{not json".to_vec(),
        headers: vec![],
    };
    app.infra.producer.send(&garbage).await.unwrap();
    app.commit_pings(Uuid::now_v7(), "fine", 1).await;

    assert!(eventually(WAIT, || async { flaky.handled.lock().unwrap().len() == 1 }).await);
    let letters = read_topic(&settings, &(app.physical(TOPIC) + ".DLT"), 1, WAIT).await;
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].payload(), Some(&b"{not json"[..]));
    let fqcn =
        String::from_utf8(header(&letters[0], dead_letter::EXCEPTION_FQCN).unwrap()).unwrap();
    assert_eq!(fqcn, "stampede::kafka::UndecodableRecord");
    let metrics = app.metrics().await;
    assert_eq!(
        metric(
            &metrics,
            "stampede_consumer_retries_total",
            &[("consumer", &name)]
        ),
        0.0
    );
    let labels = [("consumer", name.as_str()), ("reason", "undecodable")];
    assert_eq!(
        metric(&metrics, "stampede_consumer_dead_lettered_total", &labels),
        1.0
    );
    assert_eq!(
        flaky.attempts.lock().unwrap().len(),
        1,
        "the handler never saw the garbage"
    );
    app.stop().await;
}

/// Persists a batch row by row, refusing the record with key `poison` by index.
#[derive(Clone)]
struct PersistingBatch {
    pool: sqlx::MySqlPool,
}

#[async_trait]
impl BatchEventHandler for PersistingBatch {
    async fn handle_batch(&self, events: &[ConsumedEvent]) -> Result<(), BatchError> {
        for (index, event) in events.iter().enumerate() {
            if event.envelope.aggregate_id == "poison" {
                return Err(BatchError::at(index, Refused("poison".into())));
            }
            sqlx::query("INSERT IGNORE INTO probe_batch (event_id) VALUES (?)")
                .bind(event.envelope.event_id.to_string())
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }
}

#[tokio::test]
async fn a_batch_with_one_poison_record_keeps_the_others() {
    let settings = test_settings();
    let pool = stampede_infra::mysql::connect(&settings.database)
        .await
        .unwrap();
    sqlx::query("CREATE TABLE probe_batch (event_id CHAR(36) PRIMARY KEY)")
        .execute(&pool)
        .await
        .unwrap();
    let name = unique("batch");
    let spec = ConsumerSpec::batch(
        &name,
        "batch",
        &[TOPIC],
        PersistingBatch { pool: pool.clone() },
    );
    let app = spawn_app_with(settings.clone(), vec![spec]).await;

    // One transaction, one aggregate: published together, consumed as one batch.
    let run = Uuid::now_v7();
    let mut tx = pool.begin().await.unwrap();
    let mut expected = Vec::new();
    for seq in 0..10 {
        let key = if seq == 4 { "poison" } else { "same" };
        let envelope = EventEnvelope::wrap(&ProbePinged {
            run,
            key: key.into(),
            seq,
        });
        app.infra.outbox.append(&mut tx, &envelope).await.unwrap();
        if seq != 4 {
            expected.push(envelope.event_id.to_string());
        }
    }
    app.infra.outbox.commit(tx).await.unwrap();

    let persisted = || async {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM probe_batch")
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    assert!(
        eventually(WAIT, || async { persisted().await == 9 }).await,
        "the nine good records persisted"
    );
    let letters = read_topic(&settings, &(app.physical(TOPIC) + ".DLT"), 1, WAIT).await;
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].key(), Some(&b"poison"[..]));
    let metrics = app.metrics().await;
    assert_eq!(
        metric(
            &metrics,
            "stampede_consumer_handled_total",
            &[("consumer", &name)]
        ),
        9.0
    );
    let mut stored: Vec<String> = sqlx::query_scalar("SELECT event_id FROM probe_batch")
        .fetch_all(&pool)
        .await
        .unwrap();
    stored.sort();
    expected.sort();
    assert_eq!(stored, expected);
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
