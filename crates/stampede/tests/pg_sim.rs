//! `stampede pg-sim` in-process: the simulator on port 0 via `serve`, and a
//! callback sink on port 0 that records what the PG sends it.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use serde_json::json;
use stampede::commands::pg_sim::{
    self, CallbackBody, ErrorBody, OrderTransactions, PaymentAccepted, PgSimConfig,
    TransactionStatus, TransactionView,
};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

const SECRET: &str = "test-secret-for-pg-sim-callbacks";
const DEADLINE: Duration = Duration::from_secs(10);

fn config() -> PgSimConfig {
    PgSimConfig {
        port: 0,
        secret: SECRET.into(),
        latency_min_ms: 10,
        latency_max_ms: 50,
        failure_rate: 0.0,
        ..PgSimConfig::default()
    }
}

/// Polls `probe` until it returns `Some`, failing after [`DEADLINE`].
async fn wait_for<T, F>(what: &str, mut probe: impl FnMut() -> F) -> T
where
    F: std::future::Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "gave up after {DEADLINE:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

// ------------------------------------------------------------------ the sink

#[derive(Clone, Debug)]
struct Received {
    timestamp: Option<String>,
    signature: Option<String>,
    content_type: Option<String>,
    body: Bytes,
}

impl Received {
    fn json(&self) -> CallbackBody {
        serde_json::from_slice(&self.body).expect("a callback body is JSON")
    }

    fn is_signed_with(&self, secret: &str) -> bool {
        let (Some(timestamp), Some(signature)) = (&self.timestamp, &self.signature) else {
            return false;
        };
        let Ok(timestamp) = timestamp.parse::<i64>() else {
            return false;
        };
        pg_sim::verify(secret, timestamp, &self.body, signature)
    }
}

#[derive(Clone, Default)]
struct Sink {
    received: Arc<Mutex<Vec<Received>>>,
    /// Answer this many requests 503 (recording nothing) before accepting.
    fail_first: Arc<AtomicU32>,
    attempts: Arc<AtomicU32>,
    url: String,
}

impl Sink {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sink = Self {
            url: format!(
                "http://127.0.0.1:{}/pg/callbacks",
                listener.local_addr().unwrap().port()
            ),
            ..Self::default()
        };
        let app = Router::new()
            .route("/pg/callbacks", post(receive))
            .with_state(sink.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        sink
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    async fn wait_for_callbacks(&self, count: usize) -> Vec<Received> {
        wait_for(&format!("{count} callback(s)"), || async move {
            let received = self.received();
            (received.len() >= count).then_some(received)
        })
        .await
    }
}

async fn receive(State(sink): State<Sink>, headers: HeaderMap, body: Bytes) -> StatusCode {
    sink.attempts.fetch_add(1, Ordering::SeqCst);
    if sink
        .fail_first
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    sink.received.lock().unwrap().push(Received {
        timestamp: header("X-PG-Timestamp"),
        signature: header("X-PG-Signature"),
        content_type: header("content-type"),
        body,
    });
    StatusCode::OK
}

// ------------------------------------------------------------------ the PG

struct Pg {
    base: String,
    http: reqwest::Client,
    shutdown: CancellationToken,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Pg {
    async fn start(config: PgSimConfig) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let shutdown = CancellationToken::new();
        let server = tokio::spawn(pg_sim::serve(config, listener, shutdown.clone()));
        Self {
            base,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .unwrap(),
            shutdown,
            server,
        }
    }

    async fn pay_raw(
        &self,
        body: &serde_json::Value,
        idempotency_key: Option<&str>,
    ) -> reqwest::Response {
        let mut request = self.http.post(format!("{}/api/v1/payments", self.base));
        if let Some(key) = idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        request.json(body).send().await.unwrap()
    }

    async fn pay(
        &self,
        body: &serde_json::Value,
        idempotency_key: Option<&str>,
    ) -> PaymentAccepted {
        let response = self.pay_raw(body, idempotency_key).await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }

    async fn status(&self, key: &str) -> TransactionView {
        let response = self
            .http
            .get(format!("{}/api/v1/payments/{key}", self.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }

    async fn of_order(&self, order_id: &str) -> OrderTransactions {
        let response = self
            .http
            .get(format!("{}/api/v1/payments", self.base))
            .query(&[("orderId", order_id)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }

    /// Polls the transaction until `done` holds.
    async fn wait_view(
        &self,
        key: &str,
        what: &str,
        done: impl Fn(&TransactionView) -> bool + Copy,
    ) -> TransactionView {
        wait_for(what, || async move {
            let view = self.status(key).await;
            done(&view).then_some(view)
        })
        .await
    }

    async fn wait_decided(&self, key: &str) -> TransactionView {
        self.wait_view(key, "the decision", |view| {
            view.status != TransactionStatus::Pending
        })
        .await
    }

    /// Polls the order's transactions until there is at least one.
    async fn wait_order(&self, order_id: &str) -> Vec<TransactionView> {
        wait_for("the order's transaction", || async move {
            let transactions = self.of_order(order_id).await.transactions;
            (!transactions.is_empty()).then_some(transactions)
        })
        .await
    }

    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(DEADLINE, self.server)
            .await
            .expect("pg-sim stops when cancelled")
            .unwrap()
            .unwrap();
    }
}

fn payment(order_id: &str, sink: &Sink) -> serde_json::Value {
    json!({
        "orderId": order_id,
        "amount": 15_000,
        "cardType": "SAMSUNG",
        "cardNo": "1234-5678-9814-1451",
        "callbackUrl": sink.url,
    })
}

// ------------------------------------------------------------------ tests

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
async fn failure_rate_one_fails_every_payment() {
    let sink = Sink::start().await;
    let pg = Pg::start(PgSimConfig {
        failure_rate: 1.0,
        ..config()
    })
    .await;
    let accepted = pg.pay(&payment("2001", &sink), None).await;
    let received = sink.wait_for_callbacks(1).await;
    assert!(received[0].is_signed_with(SECRET));
    let body = received[0].json();
    assert_eq!(body.transaction_key, accepted.transaction_key);
    assert_eq!(body.status, TransactionStatus::Failed);
    assert!(body.reason.as_deref().is_some_and(|r| !r.is_empty()));
    let view = pg.status(&accepted.transaction_key).await;
    assert_eq!(view.status, TransactionStatus::Failed);
    assert_eq!(view.reason, body.reason);
    pg.stop().await;
}

#[tokio::test]
async fn duplicate_callback_rate_one_calls_back_twice() {
    let sink = Sink::start().await;
    let pg = Pg::start(PgSimConfig {
        duplicate_callback_rate: 1.0,
        ..config()
    })
    .await;
    let accepted = pg.pay(&payment("3001", &sink), None).await;
    let received = sink.wait_for_callbacks(2).await;
    for callback in &received {
        assert!(callback.is_signed_with(SECRET));
        assert_eq!(callback.json().transaction_key, accepted.transaction_key);
    }
    assert_eq!(received[0].json(), received[1].json());
    let view = pg.status(&accepted.transaction_key).await;
    assert_eq!(view.callbacks_sent, 2);
    assert_eq!(view.status, received[0].json().status);
    pg.stop().await;
}

#[tokio::test]
async fn lost_callback_rate_one_decides_without_calling_back() {
    let sink = Sink::start().await;
    let pg = Pg::start(PgSimConfig {
        lost_callback_rate: 1.0,
        ..config()
    })
    .await;
    let accepted = pg.pay(&payment("4001", &sink), None).await;
    let view = pg.wait_decided(&accepted.transaction_key).await;
    assert_eq!(view.status, TransactionStatus::Success);
    assert_eq!(view.callbacks_sent, 0);
    // A later payment of the same PG, decided after the first, is lost too,
    // and by then the first would long have been delivered.
    let later = pg.pay(&payment("4002", &sink), None).await;
    pg.wait_decided(&later.transaction_key).await;
    assert!(sink.received().is_empty());
    assert_eq!(sink.attempts.load(Ordering::SeqCst), 0);
    pg.stop().await;
}

#[tokio::test]
async fn error_rate_one_answers_500_and_creates_nothing() {
    let sink = Sink::start().await;
    let pg = Pg::start(PgSimConfig {
        error_rate: 1.0,
        ..config()
    })
    .await;
    let response = pg.pay_raw(&payment("5001", &sink), Some("k-5001")).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let error: ErrorBody = response.json().await.unwrap();
    assert_eq!(error.code, "INTERNAL_ERROR");
    assert!(pg.of_order("5001").await.transactions.is_empty());
    pg.stop().await;
}

#[tokio::test]
async fn timeout_rate_one_never_answers_but_still_creates_the_transaction() {
    let sink = Sink::start().await;
    let pg = Pg::start(PgSimConfig {
        timeout_rate: 1.0,
        ..config()
    })
    .await;
    let started = Instant::now();
    let error = pg
        .http
        .post(format!("{}/api/v1/payments", pg.base))
        .timeout(Duration::from_millis(300))
        .json(&payment("6001", &sink))
        .send()
        .await
        .expect_err("the PG never answers");
    assert!(error.is_timeout(), "{error}");
    assert!(started.elapsed() >= Duration::from_millis(300));

    // The client never learned the key; the order's lookup finds it, and it
    // is decided and called back all the same.
    let received = sink.wait_for_callbacks(1).await;
    let transactions = pg.of_order("6001").await.transactions;
    assert_eq!(transactions.len(), 1);
    assert_eq!(
        received[0].json().transaction_key,
        transactions[0].transaction_key
    );
    // Stopping is not held up by a request the PG sits on.
    let hanging = {
        let (http, url, body) = (
            pg.http.clone(),
            format!("{}/api/v1/payments", pg.base),
            payment("6002", &sink),
        );
        tokio::spawn(async move { http.post(url).json(&body).send().await })
    };
    pg.wait_order("6002").await;
    pg.stop().await;
    let answer = hanging.await.unwrap();
    assert!(answer.is_err() || answer.unwrap().status() == StatusCode::SERVICE_UNAVAILABLE);
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
async fn a_callback_answered_5xx_is_retried() {
    let sink = Sink::start().await;
    sink.fail_first.store(2, Ordering::SeqCst);
    let pg = Pg::start(config()).await;
    let accepted = pg.pay(&payment("9001", &sink), None).await;
    let received = sink.wait_for_callbacks(1).await;
    assert_eq!(received.len(), 1);
    assert!(received[0].is_signed_with(SECRET));
    assert_eq!(received[0].json().transaction_key, accepted.transaction_key);
    assert_eq!(sink.attempts.load(Ordering::SeqCst), 3);
    let view = pg
        .wait_view(&accepted.transaction_key, "the delivery", |view| {
            view.callbacks_delivered == 1
        })
        .await;
    assert_eq!(view.callbacks_sent, 1, "retries are one callback");
    pg.stop().await;
}

#[tokio::test]
async fn status_queries_wait_the_query_latency() {
    let sink = Sink::start().await;
    let pg = Pg::start(PgSimConfig {
        query_latency_ms: 200,
        ..config()
    })
    .await;
    let accepted = pg.pay(&payment("9101", &sink), None).await;
    let started = Instant::now();
    pg.status(&accepted.transaction_key).await;
    assert!(started.elapsed() >= Duration::from_millis(200));
    pg.stop().await;
}

#[tokio::test]
async fn a_seed_makes_runs_reproducible() {
    let sink = Sink::start().await;
    let mut runs = Vec::new();
    for _ in 0..2 {
        let pg = Pg::start(PgSimConfig {
            seed: Some(42),
            failure_rate: 0.5,
            ..config()
        })
        .await;
        let mut run = Vec::new();
        for n in 0..6 {
            let accepted = pg.pay(&payment(&format!("95{n:02}"), &sink), None).await;
            let view = pg.wait_decided(&accepted.transaction_key).await;
            run.push((accepted.transaction_key, view.status, view.reason));
        }
        pg.stop().await;
        runs.push(run);
    }
    assert_eq!(runs[0], runs[1]);
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
