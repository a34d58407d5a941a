//! What every pg-sim test needs: the simulator on port 0 ([`Pg`]), a
//! callback sink on port 0 that records what the PG sends it ([`Sink`]),
//! and waiting on a condition.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use serde_json::json;
use stampede::commands::pg_sim::{
    self, CallbackBody, OrderTransactions, PaymentAccepted, PgSimConfig, TransactionStatus,
    TransactionView,
};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

pub(crate) const SECRET: &str = "test-secret-for-pg-sim-callbacks";
pub(crate) const DEADLINE: Duration = Duration::from_secs(10);

pub(crate) fn config() -> PgSimConfig {
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
pub(crate) async fn wait_for<T, F>(what: &str, mut probe: impl FnMut() -> F) -> T
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
pub(crate) struct Received {
    pub(crate) timestamp: Option<String>,
    pub(crate) signature: Option<String>,
    pub(crate) content_type: Option<String>,
    pub(crate) body: Bytes,
}

impl Received {
    pub(crate) fn json(&self) -> CallbackBody {
        serde_json::from_slice(&self.body).expect("a callback body is JSON")
    }

    pub(crate) fn is_signed_with(&self, secret: &str) -> bool {
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
pub(crate) struct Sink {
    pub(crate) received: Arc<Mutex<Vec<Received>>>,
    /// Answer this many requests 503 (recording nothing) before accepting.
    pub(crate) fail_first: Arc<AtomicU32>,
    pub(crate) attempts: Arc<AtomicU32>,
    pub(crate) url: String,
}

impl Sink {
    pub(crate) async fn start() -> Self {
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

    pub(crate) fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    pub(crate) async fn wait_for_callbacks(&self, count: usize) -> Vec<Received> {
        wait_for(&format!("{count} callback(s)"), || async move {
            let received = self.received();
            (received.len() >= count).then_some(received)
        })
        .await
    }
}

pub(crate) async fn receive(
    State(sink): State<Sink>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
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

pub(crate) struct Pg {
    pub(crate) base: String,
    pub(crate) http: reqwest::Client,
    pub(crate) shutdown: CancellationToken,
    pub(crate) server: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Pg {
    pub(crate) async fn start(config: PgSimConfig) -> Self {
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

    pub(crate) async fn pay_raw(
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

    pub(crate) async fn pay(
        &self,
        body: &serde_json::Value,
        idempotency_key: Option<&str>,
    ) -> PaymentAccepted {
        let response = self.pay_raw(body, idempotency_key).await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }

    pub(crate) async fn status(&self, key: &str) -> TransactionView {
        let response = self
            .http
            .get(format!("{}/api/v1/payments/{key}", self.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }

    pub(crate) async fn of_order(&self, order_id: &str) -> OrderTransactions {
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
    pub(crate) async fn wait_view(
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

    pub(crate) async fn wait_decided(&self, key: &str) -> TransactionView {
        self.wait_view(key, "the decision", |view| {
            view.status != TransactionStatus::Pending
        })
        .await
    }

    /// Polls the order's transactions until there is at least one.
    pub(crate) async fn wait_order(&self, order_id: &str) -> Vec<TransactionView> {
        wait_for("the order's transaction", || async move {
            let transactions = self.of_order(order_id).await.transactions;
            (!transactions.is_empty()).then_some(transactions)
        })
        .await
    }

    pub(crate) async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(DEADLINE, self.server)
            .await
            .expect("pg-sim stops when cancelled")
            .unwrap()
            .unwrap();
    }
}

pub(crate) fn payment(order_id: &str, sink: &Sink) -> serde_json::Value {
    json!({
        "orderId": order_id,
        "amount": 15_000,
        "cardType": "SAMSUNG",
        "cardNo": "1234-5678-9814-1451",
        "callbackUrl": sink.url,
    })
}
