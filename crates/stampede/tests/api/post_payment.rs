//! The consumers after a reservation's payment: cleanup, failure
//! compensation, the sold-out ranking, the ticket e-mail, and a broken
//! consumer that must not hurt anyone else.

use crate::box_office::*;
use crate::helpers::*;
use async_trait::async_trait;
use stampede_core::events::topics;
use stampede_infra::kafka::consumer::dead_letter::ORIGINAL_CONSUMER_GROUP;
use stampede_infra::kafka::consumer::{ConsumedEvent, ConsumerSpec, EventHandler, HandlerError};
use std::time::{Duration, Instant};

async fn count(app: &TestApp, sql: &str, id: u64) -> i64 {
    sqlx::query_scalar(sql)
        .bind(id)
        .fetch_one(&app.infra.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_paid_seat_is_sold_and_the_consumers_clean_up_record_and_mail() {
    let app = spawn_app().await;
    let sale = on_sale(&app, 1, 2, 7_000).await;
    let (schedule, seat) = (sale.schedule_ids[0], sale.seats[0][0]);
    grant_points(&app, 61, 10_000).await;
    let token = admitted(&app, 61, sale.concert_id).await;
    let (_, held) = hold(&app, 61, &token, schedule, seat).await;
    let reservation = held["id"].as_u64().unwrap();

    let request = app
        .client
        .post(app.url(&format!("/reservations/{reservation}/payments")))
        .header("Idempotency-Key", "pay-once")
        .json(&serde_json::json!({"method": "POINTS"}));
    let paid = with_tokens(&app, request, 61, &token).send().await.unwrap();
    assert_eq!(paid.status(), 201);
    let paid: serde_json::Value = paid.json().await.unwrap();
    assert_eq!(
        stored(&app, reservation).await,
        ("CONFIRMED".into(), "SOLD".into())
    );
    assert_eq!(balance(&app, 61).await, 3_000);

    // post-payment cleanup: the Redis hold is released, the token ended.
    let cleaned = eventually(WAIT, || async {
        app.infra
            .seat_holds
            .holder(schedule, seat)
            .await
            .unwrap()
            .is_none()
            && token_status(&app, 61, sale.concert_id).await.0 == 404
    })
    .await;
    assert!(cleaned);
    // A retry with the same key replays the answer although the token is gone.
    let request = app
        .client
        .post(app.url(&format!("/reservations/{reservation}/payments")))
        .header("Idempotency-Key", "pay-once")
        .json(&serde_json::json!({"method": "POINTS"}));
    let replay = with_tokens(&app, request, 61, &token).send().await.unwrap();
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    assert_eq!(replay.json::<serde_json::Value>().await.unwrap(), paid);
    assert_eq!(balance(&app, 61).await, 3_000, "paid once");
    // Without the token, the box office is closed to this buyer again.
    let (status, body) = hold(&app, 61, &token, schedule, sale.seats[0][1]).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("QUEUE_TOKEN_INVALID"))
    );

    // Transaction history and the ticket e-mail, once each.
    let recorded = eventually(WAIT, || async {
        count(&app, "SELECT COUNT(*) FROM transaction_history WHERE reservation_id = ?", reservation).await == 1
            && count(
                &app,
                "SELECT COUNT(*) FROM notifications WHERE kind = 'TICKET' AND body LIKE CONCAT('%reservation ', ?, ',%')",
                reservation,
            )
            .await
                == 1
    })
    .await;
    assert!(recorded);
    app.stop().await;
}

#[tokio::test]
async fn a_failed_payment_is_compensated_once_even_when_redelivered() {
    let app = spawn_app().await;
    let sale = on_sale(&app, 1, 1, 9_000).await;
    let (schedule, seat) = (sale.schedule_ids[0], sale.seats[0][0]);
    grant_points(&app, 71, 1_000).await;
    let token = admitted(&app, 71, sale.concert_id).await;
    let (_, held) = hold(&app, 71, &token, schedule, seat).await;
    let reservation = held["id"].as_u64().unwrap();
    let (status, refused) = pay(&app, 71, &token, reservation).await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (409, Some("INSUFFICIENT_POINTS"))
    );

    // payment.failed: CANCELLED and the seat AVAILABLE (compensator), the
    // Redis hold released and the token ended (cleanup).
    let compensated = eventually(WAIT, || async {
        stored(&app, reservation).await == ("CANCELLED".into(), "AVAILABLE".into())
    })
    .await;
    assert!(compensated, "{:?}", stored(&app, reservation).await);
    let cleaned = eventually(WAIT, || async {
        app.infra
            .seat_holds
            .holder(schedule, seat)
            .await
            .unwrap()
            .is_none()
            && token_status(&app, 71, sale.concert_id).await.0 == 404
    })
    .await;
    assert!(
        cleaned,
        "hold {:?}, token {:?}",
        app.infra.seat_holds.holder(schedule, seat).await,
        token_status(&app, 71, sale.concert_id).await
    );
    assert_eq!(
        balance(&app, 71).await,
        1_000,
        "nothing was taken, nothing refunded"
    );

    // Someone else holds the seat now; redelivering the old failure ×5 must
    // not free it.
    let other = admitted(&app, 72, sale.concert_id).await;
    let (status, theirs) = hold(&app, 72, &other, schedule, seat).await;
    assert_eq!(status, 201);
    let theirs = theirs["id"].as_u64().unwrap();
    let failed = read_topic(
        &app.settings,
        &app.physical(topics::PAYMENT_FAILED),
        1,
        WAIT,
    )
    .await;
    assert_eq!(failed.len(), 1);
    redeliver(&app, &failed[0], 5).await;
    let handled_all = eventually(WAIT, || async {
        metric(
            &app.metrics().await,
            "stampede_consumer_handled_total",
            &[("consumer", "payment-compensator")],
        ) >= 6.0
    })
    .await;
    assert!(handled_all);
    assert_eq!(
        stored(&app, theirs).await,
        ("PENDING".into(), "HELD".into())
    );
    assert!(app
        .infra
        .seat_holds
        .holder(schedule, seat)
        .await
        .unwrap()
        .is_some());
    let processed: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM processed_events WHERE consumer = 'payment-compensator'",
    )
    .fetch_one(&app.infra.pool)
    .await
    .unwrap();
    assert_eq!(processed, 1, "one event, processed once");
    app.stop().await;
}

#[tokio::test]
async fn the_sold_out_ranking_puts_the_fastest_first_and_survives_losing_redis() {
    let app = spawn_app().await;
    let sale = on_sale(&app, 2, 2, 100).await;
    // Schedule 1 sells out first, schedule 0 later.
    buy(&app, 81, &sale, 1, 0).await;
    buy(&app, 82, &sale, 1, 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    buy(&app, 83, &sale, 0, 0).await;
    buy(&app, 84, &sale, 0, 1).await;

    let ranking = || async {
        let response = app.get("/concerts/rankings/sold-out", None).await;
        assert_eq!(response.status(), 200);
        let lines: Vec<serde_json::Value> = response.json().await.unwrap();
        lines
            .iter()
            .map(|l| {
                (
                    l["schedule_id"].as_u64().unwrap(),
                    l["sell_out_ms"].as_u64().unwrap(),
                )
            })
            .collect::<Vec<_>>()
    };
    let expected = [sale.schedule_ids[1], sale.schedule_ids[0]];
    let ranked = eventually(WAIT, || async {
        ranking()
            .await
            .iter()
            .map(|(id, _)| *id)
            .collect::<Vec<_>>()
            == expected
    })
    .await;
    assert!(ranked, "{:?}", ranking().await);
    let lines = ranking().await;
    assert!(lines[0].1 < lines[1].1, "{lines:?}");

    // Redis loses the ranking: MariaDB serves it and Redis gets it back.
    let key = format!("{}ranking:sold-out", app.settings.redis.key_prefix);
    redis::cmd("DEL")
        .arg(&key)
        .query_async::<()>(&mut app.infra.redis.clone())
        .await
        .unwrap();
    assert_eq!(ranking().await, lines);
    let restored: u64 = redis::cmd("ZCARD")
        .arg(&key)
        .query_async(&mut app.infra.redis.clone())
        .await
        .unwrap();
    assert_eq!(restored, 2);
    assert_eq!(
        metric(&app.metrics().await, "stampede_concert_sold_out_total", &[]),
        2.0
    );
    app.stop().await;
}

/// A consumer that fails every message: it is one `spec` plus one line
/// where the app is built, exactly like the registry's consumers.
struct AlwaysFailing;

#[async_trait]
impl EventHandler for AlwaysFailing {
    async fn handle(&self, _event: &ConsumedEvent) -> Result<(), HandlerError> {
        Err(HandlerError::retryable(anyhow::anyhow!(
            "this consumer is broken"
        )))
    }
}

#[tokio::test]
async fn a_consumer_failing_every_message_dead_letters_them_and_nobody_else_notices() {
    let mut settings = test_settings();
    // Each message costs the broken consumer 3 retries × 1 s before its DLT.
    settings.kafka.consumer.retry_backoff_ms = 1000;
    let broken = ConsumerSpec::per_record(
        "always-failing",
        "always-failing-group",
        &[topics::PAYMENT_SUCCESS],
        AlwaysFailing,
    );
    let app = spawn_app_with(settings, vec![broken]).await;
    let sale = on_sale(&app, 1, 5, 100).await;
    let mut latencies = Vec::new();
    let mut reservations = Vec::new();
    for (n, user) in (91..96).enumerate() {
        grant_points(&app, user, 1_000).await;
        let token = admitted(&app, user, sale.concert_id).await;
        let (_, held) = hold(&app, user, &token, sale.schedule_ids[0], sale.seats[0][n]).await;
        let reservation = held["id"].as_u64().unwrap();
        let started = Instant::now();
        let (status, _) = pay(&app, user, &token, reservation).await;
        latencies.push(started.elapsed());
        assert_eq!(status, 201);
        reservations.push(reservation);
    }
    // The payment API never waits for consumers: each answer came long
    // before the broken consumer could give up on even one message (3 s).
    assert!(
        latencies.iter().all(|l| *l < Duration::from_secs(3)),
        "{latencies:?}"
    );

    // The healthy consumers finish all five while the broken one is still
    // retrying its way through them.
    let recorded = eventually(WAIT, || async {
        let history: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM transaction_history WHERE reservation_id IS NOT NULL",
        )
        .fetch_one(&app.infra.pool)
        .await
        .unwrap();
        history == 5
    })
    .await;
    assert!(recorded);
    let dead_so_far = metric(
        &app.metrics().await,
        "stampede_consumer_dead_lettered_total",
        &[("consumer", "always-failing")],
    );
    assert!(
        dead_so_far < 5.0,
        "the broken consumer cannot be done yet: {dead_so_far}"
    );
    let ranked = eventually(WAIT, || async {
        app.get("/concerts/rankings/sold-out", None)
            .await
            .json::<Vec<serde_json::Value>>()
            .await
            .unwrap()
            .len()
            == 1
    })
    .await;
    assert!(ranked, "the ranking consumer saw the sell-out");

    // Finally every message of the broken consumer is in payment.success.DLT,
    // marked with its group, and its offsets moved on.
    let dlt = app.physical(&topics::dead_letter_of(topics::PAYMENT_SUCCESS));
    let letters = read_topic(&app.settings, &dlt, 5, Duration::from_secs(60)).await;
    assert_eq!(letters.len(), 5);
    let group = format!("{}always-failing-group", app.settings.kafka.group_prefix);
    assert!(letters
        .iter()
        .all(|l| header(l, ORIGINAL_CONSUMER_GROUP).as_deref() == Some(group.as_bytes())));
    app.stop().await;
}
