//! The consumers of `payment.success`: each in its own group, none able to
//! affect the payment or the others.

use crate::helpers::*;
use crate::payments::product;
use crate::sink::HttpSink;
use stampede_api::auth::Role;
use std::sync::atomic::Ordering;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

async fn pay_one(app: &TestApp, user: u64, option: u64, quantity: u32) {
    let token = app.token(user, Role::User);
    crate::box_office::grant_points(app, user, 100_000).await;
    let body = serde_json::json!({"items": [{"option_id": option, "quantity": quantity}]});
    let order: serde_json::Value = app
        .post("/orders", &token, Some(body))
        .await
        .json()
        .await
        .unwrap();
    let id = order["id"].as_u64().unwrap();
    let paid = app
        .post(
            &format!("/orders/{id}/payments"),
            &token,
            Some(serde_json::json!({"method": "POINTS"})),
        )
        .await;
    assert_eq!(paid.status(), 201);
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(&app.infra.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_payment_is_recorded_sent_to_the_platform_confirmed_and_low_stock_is_alerted() {
    let sink = HttpSink::start().await;
    let mut settings = test_settings();
    settings.notify.data_platform_url = sink.url("platform");
    settings.notify.slack_webhook_url = sink.url("slack");
    settings.notify.low_stock_threshold = 5;
    let app = spawn_app_with(settings, vec![]).await;
    let options = product(&app, 1, 6, None).await;
    pay_one(&app, 21, options[0], 2).await;

    assert!(
        eventually(WAIT, || async {
            count(&app, "SELECT COUNT(*) FROM transaction_history").await == 1
        })
        .await
    );
    assert!(eventually(WAIT, || async { sink.bodies("platform").len() == 1 }).await);
    assert_eq!(sink.bodies("platform")[0]["event_type"], "payment.success");
    assert!(
        eventually(WAIT, || async { sink.bodies("slack").len() == 2 }).await,
        "payment message and low-stock alert"
    );
    let texts: Vec<String> = sink
        .bodies("slack")
        .iter()
        .map(|b| b["text"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        texts
            .iter()
            .any(|t| t.contains("Low stock") && t.contains("4 left")),
        "{texts:?}"
    );
    let kinds: Vec<String> = sqlx::query_scalar("SELECT kind FROM notifications ORDER BY kind")
        .fetch_all(&app.infra.pool)
        .await
        .unwrap();
    assert_eq!(kinds, vec!["LOW_STOCK", "ORDER_CONFIRMATION", "SLACK"]);
    app.stop().await;
}

#[tokio::test]
async fn a_failing_platform_dead_letters_its_events_while_payments_and_other_consumers_carry_on() {
    let sink = HttpSink::start().await;
    sink.failing.store(true, Ordering::SeqCst);
    let mut settings = test_settings();
    settings.notify.data_platform_url = sink.url("platform");
    let app = spawn_app_with(settings.clone(), vec![]).await;
    let options = product(&app, 1, 100, None).await;
    for user in 30..33 {
        pay_one(&app, user, options[0], 1).await;
    }
    assert!(
        eventually(WAIT, || async {
            count(&app, "SELECT COUNT(*) FROM transaction_history").await == 3
        })
        .await
    );
    let dlt = app
        .infra
        .topics
        .dead_letter(&app.physical("payment.success"));
    let letters = read_topic(&settings, &dlt, 3, Duration::from_secs(60)).await;
    assert_eq!(letters.len(), 3, "each event parked after its retries");
    let group =
        String::from_utf8(header(&letters[0], "kafka_dlt-original-consumer-group").unwrap())
            .unwrap();
    assert!(group.ends_with("data-platform-group"));
    // The counter moves just after each letter is produced: wait for it.
    assert!(
        eventually(WAIT, || async {
            metric(
                &app.metrics().await,
                "stampede_consumer_dead_lettered_total",
                &[("consumer", "data-platform")],
            ) == 3.0
        })
        .await,
        "three events dead-lettered by the data platform"
    );
    let metrics = app.metrics().await;
    assert_eq!(
        metric(
            &metrics,
            "stampede_consumer_dead_lettered_total",
            &[("consumer", "transaction-history")]
        ),
        0.0
    );
    app.stop().await;
}

#[tokio::test]
async fn with_smtp_configured_the_confirmation_is_mailed_once() {
    let smtp = crate::sink::SmtpSink::start().await;
    let mut settings = test_settings();
    settings.notify.smtp_host = "127.0.0.1".into();
    settings.notify.smtp_port = smtp.port;
    let app = spawn_app_with(settings, vec![]).await;
    let options = product(&app, 1, 100, None).await;
    pay_one(&app, 22, options[0], 1).await;
    assert!(eventually(WAIT, || async { smtp.messages.lock().unwrap().len() == 1 }).await);
    let message = smtp.messages.lock().unwrap()[0].clone();
    assert!(message.contains("user-22@"), "{message}");
    assert!(message.contains("is paid"), "{message}");
    let recorded = count(
        &app,
        "SELECT COUNT(*) FROM notifications WHERE kind = 'ORDER_CONFIRMATION'",
    )
    .await;
    assert_eq!(
        recorded, 1,
        "recorded once, so a redelivery does not mail again"
    );
    app.stop().await;
}
