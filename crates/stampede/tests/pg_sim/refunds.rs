//! Refunds, in-process (`serve` on port 0): partial
//! refunds up to the captured amount, idempotent replays, declines that
//! refund nothing, and the fault knobs.

use serde_json::json;
use stampede::commands::pg_sim::{
    self, PaymentAccepted, PgSimConfig, RefundAnswer, TransactionStatus,
};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// A simulator on port 0 and its base URL; stopped when the token is cancelled.
async fn simulator(config: PgSimConfig) -> (String, CancellationToken) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let stop = CancellationToken::new();
    tokio::spawn(pg_sim::serve(config, listener, stop.clone()));
    (base, stop)
}

fn quick() -> PgSimConfig {
    PgSimConfig {
        port: 0,
        latency_min_ms: 5,
        latency_max_ms: 20,
        failure_rate: 0.0,
        ..PgSimConfig::default()
    }
}

/// A transaction of `amount` the simulator decided SUCCESS; its key.
async fn captured(http: &reqwest::Client, base: &str, amount: u64) -> String {
    let body = json!({"orderId": "order-1", "amount": amount, "cardType": "VISA",
        "cardNo": "4111-1111-1111-1111", "callbackUrl": "http://127.0.0.1:9/callbacks"});
    let accepted: PaymentAccepted = http
        .post(format!("{base}/api/v1/payments"))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = accepted.transaction_key;
    let started = Instant::now();
    loop {
        let view: serde_json::Value = http
            .get(format!("{base}/api/v1/payments/{key}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if view["status"] == "SUCCESS" {
            return key;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "never captured: {view}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn refund(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    amount: u64,
    idempotency_key: &str,
) -> (u16, serde_json::Value) {
    let response = http
        .post(format!("{base}/api/v1/payments/{key}/refunds"))
        .header("Idempotency-Key", idempotency_key)
        .json(&json!({"amount": amount, "reason": "returned"}))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn partial_refunds_add_up_to_the_captured_amount_and_replays_refund_once() {
    let (base, stop) = simulator(quick()).await;
    let http = reqwest::Client::new();
    let key = captured(&http, &base, 1000).await;

    let (status, first) = refund(&http, &base, &key, 600, "r-1").await;
    assert_eq!(status, 200);
    let first: RefundAnswer = serde_json::from_value(first).unwrap();
    assert_eq!(
        (first.status, first.amount),
        (TransactionStatus::Success, 600)
    );
    assert!(first.refund_key.starts_with("RF:"));
    let (status, replay) = refund(&http, &base, &key, 600, "r-1").await;
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_value::<RefundAnswer>(replay).unwrap(),
        first
    );
    let (status, reused) = refund(&http, &base, &key, 500, "r-1").await;
    assert_eq!(
        (status, reused["code"].as_str()),
        (409, Some("IDEMPOTENCY_KEY_REUSED"))
    );

    let (status, over) = refund(&http, &base, &key, 401, "r-2").await;
    assert_eq!(
        (status, over["code"].as_str()),
        (409, Some("REFUND_EXCEEDS_CAPTURED"))
    );
    let (status, rest) = refund(&http, &base, &key, 400, "r-3").await;
    assert_eq!((status, rest["status"].as_str()), (200, Some("SUCCESS")));
    stop.cancel();
}

#[tokio::test]
async fn a_declined_refund_refunds_nothing_and_the_knob_changes_while_running() {
    let (base, stop) = simulator(quick()).await;
    let http = reqwest::Client::new();
    let key = captured(&http, &base, 1000).await;
    let faults = |rate: f64| {
        http.put(format!("{base}/api/v1/simulator/faults"))
            .json(&json!({"failureRate": rate}))
            .send()
    };
    assert_eq!(faults(1.0).await.unwrap().status(), 204);
    let (status, declined) = refund(&http, &base, &key, 1000, "d-1").await;
    assert_eq!((status, declined["status"].as_str()), (200, Some("FAILED")));
    assert!(declined["reason"].as_str().is_some());
    assert_eq!(faults(0.0).await.unwrap().status(), 204);
    let (status, all) = refund(&http, &base, &key, 1000, "d-2").await;
    assert_eq!(
        (status, all["status"].as_str()),
        (200, Some("SUCCESS")),
        "nothing was refunded before"
    );
    assert_eq!(faults(2.0).await.unwrap().status(), 400);
    stop.cancel();
}

#[tokio::test]
async fn only_a_captured_transaction_is_refunded_and_bad_requests_are_400() {
    let (base, stop) = simulator(PgSimConfig {
        latency_min_ms: 5_000,
        latency_max_ms: 5_000,
        ..quick()
    })
    .await;
    let http = reqwest::Client::new();
    let (status, unknown) = refund(&http, &base, "TR:nope", 10, "u-1").await;
    assert_eq!((status, unknown["code"].as_str()), (404, Some("NOT_FOUND")));
    let body = json!({"orderId": "order-2", "amount": 10, "cardType": "VISA",
        "cardNo": "4111-1111-1111-1111", "callbackUrl": "http://127.0.0.1:9/callbacks"});
    let pending: PaymentAccepted = http
        .post(format!("{base}/api/v1/payments"))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (status, not_yet) = refund(&http, &base, &pending.transaction_key, 10, "u-2").await;
    assert_eq!(
        (status, not_yet["code"].as_str()),
        (409, Some("NOT_CAPTURED"))
    );
    let (status, _) = refund(&http, &base, &pending.transaction_key, 0, "u-3").await;
    assert_eq!(status, 400);
    stop.cancel();
}

#[tokio::test]
async fn the_error_rate_answers_500_and_refunds_nothing() {
    let (base, stop) = simulator(quick()).await;
    let http = reqwest::Client::new();
    let key = captured(&http, &base, 1000).await;
    let (failing_base, failing_stop) = simulator(PgSimConfig {
        error_rate: 1.0,
        ..quick()
    })
    .await;
    let (status, _) = refund(&http, &failing_base, &key, 10, "e-1").await;
    assert_eq!(status, 500);
    failing_stop.cancel();
    stop.cancel();
}
