//! The simulator's API as a client sees it: a payment pending then decided
//! and called back signed, idempotency keys, bad input, unknown transactions,
//! its configuration and signatures.

use crate::support::*;
use axum::http::StatusCode;
use serde_json::json;
use stampede::commands::pg_sim::{self, CallbackBody, ErrorBody, PgSimConfig, TransactionStatus};
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn a_payment_is_pending_then_decided_and_called_back_signed() {
    let sink = Sink::start().await;
    let pg = Pg::start(config()).await;

    let accepted = pg.pay(&payment("1001", &sink), None).await;
    assert_eq!(accepted.status, TransactionStatus::Pending);
    assert!(accepted.transaction_key.starts_with("TR:"));

    let received = sink.wait_for_callbacks(1).await;
    assert_eq!(received.len(), 1);
    let callback = &received[0];
    assert!(callback.is_signed_with(SECRET), "{callback:?}");
    assert!(!callback.is_signed_with("another-secret"));
    // The shop's own verifier accepts it too.
    let timestamp: i64 = callback.timestamp.as_deref().unwrap().parse().unwrap();
    assert!(stampede_infra::pg::signature::verify(
        SECRET,
        timestamp,
        &callback.body,
        callback.signature.as_deref().unwrap()
    ));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(
        (now - timestamp).abs() <= 5,
        "timestamp {timestamp}, now {now}"
    );
    assert_eq!(callback.content_type.as_deref(), Some("application/json"));
    let signature = callback.signature.as_deref().unwrap();
    assert_eq!(signature, signature.to_lowercase());
    assert_eq!(signature.len(), 64);

    let body = callback.json();
    assert_eq!(
        body,
        CallbackBody {
            transaction_key: accepted.transaction_key.clone(),
            order_id: "1001".into(),
            amount: 15_000,
            status: TransactionStatus::Success,
            reason: None,
        }
    );
    // The raw body carries the documented field names, reason included as null.
    let raw: serde_json::Value = serde_json::from_slice(&callback.body).unwrap();
    assert_eq!(raw["status"], "SUCCESS");
    assert!(raw.get("reason").is_some_and(|r| r.is_null()));
    assert_eq!(raw["transactionKey"], accepted.transaction_key.as_str());

    let view = pg.status(&accepted.transaction_key).await;
    assert_eq!(view.status, body.status);
    assert_eq!(view.reason, body.reason);
    assert_eq!(view.order_id, body.order_id);
    assert_eq!(view.amount, body.amount);
    assert_eq!(view.callbacks_sent, 1);
    pg.wait_view(&accepted.transaction_key, "the delivery", |view| {
        view.callbacks_delivered == 1
    })
    .await;
    pg.stop().await;
}

#[tokio::test]
async fn a_transaction_is_pending_until_decided() {
    let sink = Sink::start().await;
    let pg = Pg::start(PgSimConfig {
        latency_min_ms: 60_000,
        latency_max_ms: 60_000,
        ..config()
    })
    .await;
    let accepted = pg.pay(&payment("1002", &sink), None).await;
    let view = pg.status(&accepted.transaction_key).await;
    assert_eq!(view.status, TransactionStatus::Pending);
    assert_eq!(view.reason, None);
    assert_eq!(view.callbacks_sent, 0);
    assert_eq!(view.card_type, "SAMSUNG");
    // Stopping does not wait for the pending decision.
    pg.stop().await;
    assert!(sink.received().is_empty());
}

#[tokio::test]
async fn an_idempotency_key_returns_the_same_transaction() {
    let sink = Sink::start().await;
    let pg = Pg::start(config()).await;
    let body = payment("7001", &sink);
    let first = pg.pay(&body, Some("order-7001-attempt")).await;
    let again = pg.pay(&body, Some("order-7001-attempt")).await;
    assert_eq!(first.transaction_key, again.transaction_key);

    // A different key is a different transaction.
    let other = pg.pay(&body, Some("order-7001-other")).await;
    assert_ne!(other.transaction_key, first.transaction_key);
    // No key: always a new one.
    let keyless = pg.pay(&body, None).await;
    assert_ne!(keyless.transaction_key, first.transaction_key);

    // The same key with another request is refused.
    let mut changed = body.clone();
    changed["amount"] = json!(1);
    let response = pg.pay_raw(&changed, Some("order-7001-attempt")).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let error: ErrorBody = response.json().await.unwrap();
    assert_eq!(error.code, "IDEMPOTENCY_KEY_REUSED");

    assert_eq!(pg.of_order("7001").await.transactions.len(), 3);
    // After the decision the replay tells the final status, same key.
    let decided = pg.wait_decided(&first.transaction_key).await;
    let replay = pg.pay(&body, Some("order-7001-attempt")).await;
    assert_eq!(replay.transaction_key, first.transaction_key);
    assert_eq!(replay.status, decided.status);
    // One callback per transaction, not per request.
    let received = sink.wait_for_callbacks(3).await;
    let for_first = received
        .iter()
        .filter(|r| r.json().transaction_key == first.transaction_key)
        .count();
    assert_eq!(for_first, 1);
    assert_eq!(pg.status(&first.transaction_key).await.callbacks_sent, 1);
    pg.stop().await;
}

#[tokio::test]
async fn bad_input_is_answered_400() {
    let sink = Sink::start().await;
    let pg = Pg::start(config()).await;
    let good = payment("8001", &sink);
    let mut cases: Vec<(&str, serde_json::Value)> = Vec::new();
    for (field, value) in [
        ("amount", json!(0)),
        ("amount", json!(-5)),
        ("amount", json!("15000")),
        ("orderId", json!("")),
        ("cardType", json!(" ")),
        ("cardNo", json!("1234")),
        ("cardNo", json!("abcd-efgh-ijkl-mnop")),
        ("callbackUrl", json!("not a url")),
        ("callbackUrl", json!("ftp://127.0.0.1/pg/callbacks")),
    ] {
        let mut body = good.clone();
        body[field] = value;
        cases.push((field, body));
    }
    let mut missing = good.clone();
    missing.as_object_mut().unwrap().remove("callbackUrl");
    cases.push(("missing callbackUrl", missing));
    cases.push(("not an object", json!([1, 2, 3])));
    for (what, body) in cases {
        let response = pg.pay_raw(&body, None).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{what}: {body}");
        let error: ErrorBody = response.json().await.unwrap();
        assert_eq!(error.code, "BAD_REQUEST", "{what}");
        assert!(!error.message.is_empty());
    }
    let response = pg
        .http
        .post(format!("{}/api/v1/payments", pg.base))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let response = pg
        .http
        .get(format!("{}/api/v1/payments", pg.base))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::BAD_REQUEST,
        "orderId is required"
    );
    assert!(pg.of_order("8001").await.transactions.is_empty());
    pg.stop().await;
}

#[tokio::test]
async fn an_unknown_transaction_is_404() {
    let pg = Pg::start(config()).await;
    let response = pg
        .http
        .get(format!("{}/api/v1/payments/TR:nope", pg.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let error: ErrorBody = response.json().await.unwrap();
    assert_eq!(error.code, "NOT_FOUND");
    assert!(pg.of_order("nobody").await.transactions.is_empty());
    pg.stop().await;
}

#[tokio::test]
async fn serve_refuses_a_bad_config() {
    for config in [
        PgSimConfig {
            failure_rate: 1.5,
            ..config()
        },
        PgSimConfig {
            latency_min_ms: 100,
            latency_max_ms: 10,
            ..config()
        },
    ] {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let error = pg_sim::serve(config, listener, CancellationToken::new())
            .await
            .unwrap_err();
        assert!(error.to_string().contains("--"), "{error}");
    }
}

#[test]
fn sign_and_verify_reject_tampering() {
    let body = br#"{"transactionKey":"TR:1","status":"SUCCESS"}"#;
    let signature = pg_sim::sign(SECRET, 1_700_000_000, body);
    assert_eq!(signature.len(), 64);
    assert!(signature
        .chars()
        .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)));
    assert!(pg_sim::verify(SECRET, 1_700_000_000, body, &signature));
    assert!(pg_sim::verify(
        SECRET,
        1_700_000_000,
        body,
        &signature.to_uppercase()
    ));
    let tampered = br#"{"transactionKey":"TR:1","status":"FAILED"}"#;
    assert!(!pg_sim::verify(SECRET, 1_700_000_000, tampered, &signature));
    assert!(!pg_sim::verify(SECRET, 1_700_000_001, body, &signature));
    assert!(!pg_sim::verify(
        "other-secret",
        1_700_000_000,
        body,
        &signature
    ));
    assert!(!pg_sim::verify(SECRET, 1_700_000_000, body, "not-hex"));
    assert!(!pg_sim::verify(SECRET, 1_700_000_000, body, ""));
    assert!(!pg_sim::verify(
        SECRET,
        1_700_000_000,
        body,
        &signature[..62]
    ));
    // The same scheme as the shop's verifier, both ways.
    assert_eq!(
        signature,
        stampede_infra::pg::signature::sign(SECRET, 1_700_000_000, body)
    );
}
