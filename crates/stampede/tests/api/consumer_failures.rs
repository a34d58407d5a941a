//! The consumer runtime when handlers fail: retries with back-off, the
//! dead-letter topic with Spring Kafka's headers, undecodable records, and a
//! batch handler naming its poison record.

use crate::backbone::{probe_table, unique, TOPIC, WAIT};
use crate::helpers::*;
use async_trait::async_trait;
use rdkafka::Message;
use stampede::probe::{ProbePinged, Recorder};
use stampede_core::events::EventEnvelope;
use stampede_infra::kafka::consumer::dead_letter::{self, decode_be_number};
use stampede_infra::kafka::consumer::{
    BatchError, BatchEventHandler, ConsumedEvent, ConsumerSpec, EventHandler, HandlerError,
};
use stampede_infra::kafka::OutgoingRecord;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use uuid::Uuid;

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
    let pool = probe_table(
        &settings,
        "CREATE TABLE probe_batch (event_id CHAR(36) PRIMARY KEY)",
    )
    .await;
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
