//! Refunds, in-process (`serve` on port 0): partial
//! refunds up to the captured amount, idempotent replays, declines that
//! refund nothing, and the fault knobs.

use crate::support::*;
use serde_json::json;
use stampede::commands::pg_sim::{PgSimConfig, RefundAnswer, TransactionStatus};

/// A payment of `amount` to a PG; its body (the callbacks go to `sink`).
fn payment_of(amount: u64, sink: &Sink) -> serde_json::Value {
    let mut body = payment("order-1", sink);
    body["amount"] = json!(amount);
    body
}

/// A transaction of `amount` the simulator decided SUCCESS; its key.
async fn captured(pg: &Pg, amount: u64) -> String {
    let sink = Sink::start().await;
    let key = pg
        .pay(&payment_of(amount, &sink), None)
        .await
        .transaction_key;
    pg.wait_view(&key, "the capture", |view| {
        view.status == TransactionStatus::Success
    })
    .await;
    key
}

async fn refund(
    pg: &Pg,
    key: &str,
    amount: u64,
    idempotency_key: &str,
) -> (u16, serde_json::Value) {
    let response = pg
        .http
        .post(format!("{}/api/v1/payments/{key}/refunds", pg.base))
        .header("Idempotency-Key", idempotency_key)
        .json(&json!({"amount": amount, "reason": "returned"}))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn partial_refunds_add_up_to_the_captured_amount_and_replays_refund_once() {
    let pg = Pg::start(config()).await;
    let key = captured(&pg, 1000).await;

    let (status, first) = refund(&pg, &key, 600, "r-1").await;
    assert_eq!(status, 200);
    let first: RefundAnswer = serde_json::from_value(first).unwrap();
    assert_eq!(
        (first.status, first.amount),
        (TransactionStatus::Success, 600)
    );
    assert!(first.refund_key.starts_with("RF:"));
    let (status, replay) = refund(&pg, &key, 600, "r-1").await;
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_value::<RefundAnswer>(replay).unwrap(),
        first
    );
    let (status, reused) = refund(&pg, &key, 500, "r-1").await;
    assert_eq!(
        (status, reused["code"].as_str()),
        (409, Some("IDEMPOTENCY_KEY_REUSED"))
    );

    let (status, over) = refund(&pg, &key, 401, "r-2").await;
    assert_eq!(
        (status, over["code"].as_str()),
        (409, Some("REFUND_EXCEEDS_CAPTURED"))
    );
    let (status, rest) = refund(&pg, &key, 400, "r-3").await;
    assert_eq!((status, rest["status"].as_str()), (200, Some("SUCCESS")));
    pg.stop().await;
}

#[tokio::test]
async fn a_declined_refund_refunds_nothing_and_the_knob_changes_while_running() {
    let pg = Pg::start(config()).await;
    let key = captured(&pg, 1000).await;
    let faults = |rate: f64| {
        pg.http
            .put(format!("{}/api/v1/simulator/faults", pg.base))
            .json(&json!({"failureRate": rate}))
            .send()
    };
    assert_eq!(faults(1.0).await.unwrap().status(), 204);
    let (status, declined) = refund(&pg, &key, 1000, "d-1").await;
    assert_eq!((status, declined["status"].as_str()), (200, Some("FAILED")));
    assert!(declined["reason"].as_str().is_some());
    assert_eq!(faults(0.0).await.unwrap().status(), 204);
    let (status, all) = refund(&pg, &key, 1000, "d-2").await;
    assert_eq!(
        (status, all["status"].as_str()),
        (200, Some("SUCCESS")),
        "nothing was refunded before"
    );
    assert_eq!(faults(2.0).await.unwrap().status(), 400);
    pg.stop().await;
}

#[tokio::test]
async fn only_a_captured_transaction_is_refunded_and_bad_requests_are_400() {
    let pg = Pg::start(PgSimConfig {
        latency_min_ms: 5_000,
        latency_max_ms: 5_000,
        ..config()
    })
    .await;
    let (status, unknown) = refund(&pg, "TR:nope", 10, "u-1").await;
    assert_eq!((status, unknown["code"].as_str()), (404, Some("NOT_FOUND")));
    let sink = Sink::start().await;
    let pending = pg.pay(&payment_of(10, &sink), None).await;
    let (status, not_yet) = refund(&pg, &pending.transaction_key, 10, "u-2").await;
    assert_eq!(
        (status, not_yet["code"].as_str()),
        (409, Some("NOT_CAPTURED"))
    );
    let (status, _) = refund(&pg, &pending.transaction_key, 0, "u-3").await;
    assert_eq!(status, 400);
    pg.stop().await;
}

#[tokio::test]
async fn the_error_rate_answers_500_and_refunds_nothing() {
    let pg = Pg::start(config()).await;
    let key = captured(&pg, 1000).await;
    let failing = Pg::start(PgSimConfig {
        error_rate: 1.0,
        ..config()
    })
    .await;
    let (status, _) = refund(&failing, &key, 10, "e-1").await;
    assert_eq!(status, 500);
    failing.stop().await;
    pg.stop().await;
}
