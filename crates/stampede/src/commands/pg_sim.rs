//! `stampede pg-sim`: a payment-gateway (PG) simulator on its own port.
//!
//! It behaves like a typical card PG, asynchronously:
//!
//! 1. `POST /api/v1/payments` registers a transaction and answers at once
//!    `{"transactionKey", "status": "PENDING"}`. An `Idempotency-Key` header
//!    makes a retry safe: the same key returns the same transaction.
//! 2. After a delay drawn uniformly from `[latency_min_ms, latency_max_ms]`
//!    the transaction is decided (FAILED with probability `failure_rate`,
//!    otherwise SUCCESS) and a signed callback is POSTed to its
//!    `callbackUrl` (see [`sign`] / [`verify`]), retried on connection
//!    errors and 5xx answers.
//! 3. `GET /api/v1/payments/{transactionKey}` tells the PG's view at any
//!    time (what a reconciliation job asks), and
//!    `GET /api/v1/payments?orderId=…` lists an order's transactions (what
//!    a client that timed out before learning its key asks).
//!
//! Faults are knobs: requests that are answered 500 (nothing created),
//! requests that never answer (the transaction is created anyway), lost
//! and duplicated callbacks, and a fixed delay on status queries. With
//! `--seed` every random draw comes from one seeded `StdRng`, so a run of
//! sequential requests is reproducible.
//!
//! Everything lives in memory; [`serve`] is the library entry point that
//! tests start on port 0.

use anyhow::Context as _;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The secret both sides use unless told otherwise (the shop's default
/// `pg.callback_secret`). Change it anywhere that matters.
pub const DEFAULT_SECRET: &str = "stampede-pg-callback-secret-change-me";
/// The callback signature is the shop's own (`stampede_infra::pg::signature`):
/// one implementation signs and verifies.
pub use stampede_infra::pg::signature::{sign, verify, SIGNATURE_HEADER, TIMESTAMP_HEADER};
/// Makes `POST /api/v1/payments` safe to retry.
pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";

/// Extra attempts after the first one when a callback meets a connection
/// error, a timeout or a 5xx answer.
pub const CALLBACK_RETRIES: u32 = 3;
/// Pause between two attempts of one callback.
pub const CALLBACK_BACKOFF: Duration = Duration::from_millis(200);
/// How long one callback attempt may take.
pub const CALLBACK_TIMEOUT: Duration = Duration::from_secs(5);

const FAILURE_REASONS: &[&str] = &[
    "card limit exceeded",
    "insufficient balance",
    "invalid card",
    "card reported lost",
];
const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;

const DEFAULT_HOST: &str = "127.0.0.1";
const DEFAULT_PORT: u16 = 8090;
const DEFAULT_LATENCY_MIN_MS: u64 = 100;
const DEFAULT_LATENCY_MAX_MS: u64 = 500;
const DEFAULT_FAILURE_RATE: f64 = 0.2;

/// The simulator's knobs; they are also the `stampede pg-sim` flags.
/// [`Default`] gives the same values as the flags' defaults.
#[derive(Clone, PartialEq, clap::Args)]
pub struct PgSimConfig {
    /// Address to listen on.
    #[arg(long, default_value = DEFAULT_HOST)]
    pub host: String,
    /// Port to listen on (0 picks a free one).
    #[arg(long, default_value_t = DEFAULT_PORT)]
    pub port: u16,
    /// Shared HMAC-SHA256 secret that signs the callbacks (the shop's `pg.callback_secret`).
    #[arg(
        long,
        env = "STAMPEDE_PG_SIM_SECRET",
        hide_env_values = true,
        default_value = DEFAULT_SECRET
    )]
    pub secret: String,
    /// Shortest delay between a request and its decision.
    #[arg(long, default_value_t = DEFAULT_LATENCY_MIN_MS)]
    pub latency_min_ms: u64,
    /// Longest delay between a request and its decision (uniform in between).
    #[arg(long, default_value_t = DEFAULT_LATENCY_MAX_MS)]
    pub latency_max_ms: u64,
    /// Share of transactions decided FAILED.
    #[arg(long, default_value_t = DEFAULT_FAILURE_RATE)]
    pub failure_rate: f64,
    /// Share of payment requests never answered (the transaction is still created).
    #[arg(long, default_value_t = 0.0)]
    pub timeout_rate: f64,
    /// Share of payment requests answered 500 with nothing created.
    #[arg(long, default_value_t = 0.0)]
    pub error_rate: f64,
    /// Fixed delay before answering a status query.
    #[arg(long, default_value_t = 0)]
    pub query_latency_ms: u64,
    /// Share of decided transactions whose callback is never sent.
    #[arg(long, default_value_t = 0.0)]
    pub lost_callback_rate: f64,
    /// Share of decided transactions whose callback is sent twice.
    #[arg(long, default_value_t = 0.0)]
    pub duplicate_callback_rate: f64,
    /// Seed of the random draws, for reproducible runs.
    #[arg(long)]
    pub seed: Option<u64>,
}

impl Default for PgSimConfig {
    fn default() -> Self {
        Self {
            host: DEFAULT_HOST.to_owned(),
            port: DEFAULT_PORT,
            secret: DEFAULT_SECRET.to_owned(),
            latency_min_ms: DEFAULT_LATENCY_MIN_MS,
            latency_max_ms: DEFAULT_LATENCY_MAX_MS,
            failure_rate: DEFAULT_FAILURE_RATE,
            timeout_rate: 0.0,
            error_rate: 0.0,
            query_latency_ms: 0,
            lost_callback_rate: 0.0,
            duplicate_callback_rate: 0.0,
            seed: None,
        }
    }
}

impl std::fmt::Debug for PgSimConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgSimConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("secret", &"[redacted]")
            .field("latency_min_ms", &self.latency_min_ms)
            .field("latency_max_ms", &self.latency_max_ms)
            .field("failure_rate", &self.failure_rate)
            .field("timeout_rate", &self.timeout_rate)
            .field("error_rate", &self.error_rate)
            .field("query_latency_ms", &self.query_latency_ms)
            .field("lost_callback_rate", &self.lost_callback_rate)
            .field("duplicate_callback_rate", &self.duplicate_callback_rate)
            .field("seed", &self.seed)
            .finish()
    }
}

impl PgSimConfig {
    /// Rates within [0, 1], `latency_min_ms <= latency_max_ms`, a non-empty secret.
    pub fn validate(&self) -> anyhow::Result<()> {
        for (flag, rate) in [
            ("--failure-rate", self.failure_rate),
            ("--timeout-rate", self.timeout_rate),
            ("--error-rate", self.error_rate),
            ("--lost-callback-rate", self.lost_callback_rate),
            ("--duplicate-callback-rate", self.duplicate_callback_rate),
        ] {
            anyhow::ensure!(
                (0.0..=1.0).contains(&rate),
                "{flag} must be between 0 and 1, got {rate}"
            );
        }
        anyhow::ensure!(
            self.latency_min_ms <= self.latency_max_ms,
            "--latency-min-ms ({}) must not exceed --latency-max-ms ({})",
            self.latency_min_ms,
            self.latency_max_ms
        );
        anyhow::ensure!(!self.secret.is_empty(), "--secret must not be empty");
        Ok(())
    }
}

// ---------------------------------------------------------------- wire types

/// `POST /api/v1/payments` body.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentRequest {
    pub order_id: String,
    pub amount: u64,
    pub card_type: String,
    pub card_no: String,
    pub callback_url: String,
}

impl PaymentRequest {
    fn validate(&self) -> Result<(), String> {
        if self.order_id.trim().is_empty() {
            return Err("orderId must not be empty".into());
        }
        if self.amount == 0 {
            return Err("amount must be positive".into());
        }
        if self.card_type.trim().is_empty() {
            return Err("cardType must not be empty".into());
        }
        let digits = self
            .card_no
            .chars()
            .filter(|c| *c != '-')
            .collect::<String>();
        if !(12..=19).contains(&digits.len()) || !digits.chars().all(|c| c.is_ascii_digit()) {
            return Err("cardNo must be 12-19 digits (dashes allowed)".into());
        }
        match reqwest::Url::parse(&self.callback_url) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => Ok(()),
            _ => Err(format!(
                "callbackUrl must be an http(s) URL, got {:?}",
                self.callback_url
            )),
        }
    }

    /// What an idempotent replay must match (the card number only as a hash).
    fn fingerprint(&self) -> [u8; 32] {
        let mut hash = Sha256::new();
        for part in [
            self.order_id.as_bytes(),
            &self.amount.to_be_bytes(),
            self.card_type.as_bytes(),
            self.card_no.as_bytes(),
            self.callback_url.as_bytes(),
        ] {
            hash.update((part.len() as u64).to_be_bytes());
            hash.update(part);
        }
        hash.finalize().into()
    }
}

/// `POST /api/v1/payments` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentAccepted {
    pub transaction_key: String,
    /// PENDING for a new transaction; an idempotent replay tells the current status.
    pub status: TransactionStatus,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TransactionStatus {
    Pending,
    Success,
    Failed,
}

/// `GET /api/v1/payments/{transactionKey}` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransactionView {
    pub transaction_key: String,
    pub order_id: String,
    pub amount: u64,
    pub card_type: String,
    pub status: TransactionStatus,
    /// Why it FAILED; null otherwise.
    pub reason: Option<String>,
    /// Callbacks dispatched so far (counted when the first attempt starts,
    /// acknowledged or not): 0 while PENDING or when lost, 2 when duplicated.
    pub callbacks_sent: u32,
    /// Callbacks the receiver acknowledged with a 2xx.
    pub callbacks_delivered: u32,
}

/// `GET /api/v1/payments?orderId=…` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderTransactions {
    pub order_id: String,
    /// Oldest first; empty when the PG never registered one.
    pub transactions: Vec<TransactionView>,
}

/// The signed callback body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallbackBody {
    pub transaction_key: String,
    pub order_id: String,
    pub amount: u64,
    /// SUCCESS or FAILED.
    pub status: TransactionStatus,
    pub reason: Option<String>,
}

/// Every error answer: `{"code", "message"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: String,
    pub message: String,
}

fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    let body = ErrorBody {
        code: code.to_owned(),
        message: message.into(),
    };
    (status, Json(body)).into_response()
}

fn bad_request(message: impl Into<String>) -> Response {
    error(StatusCode::BAD_REQUEST, "BAD_REQUEST", message)
}

// ---------------------------------------------------------------- state

struct Transaction {
    order_id: String,
    amount: u64,
    card_type: String,
    callback_url: String,
    status: TransactionStatus,
    reason: Option<String>,
    callbacks_sent: u32,
    callbacks_delivered: u32,
}

impl Transaction {
    fn view(&self, key: &str) -> TransactionView {
        TransactionView {
            transaction_key: key.to_owned(),
            order_id: self.order_id.clone(),
            amount: self.amount,
            card_type: self.card_type.clone(),
            status: self.status,
            reason: self.reason.clone(),
            callbacks_sent: self.callbacks_sent,
            callbacks_delivered: self.callbacks_delivered,
        }
    }
}

/// Everything random about a new transaction, drawn when it is created so
/// that a seeded run does not depend on timer order.
struct Fate {
    latency: Duration,
    failure: Option<&'static str>,
    /// 0 (lost), 1, or 2 (duplicated).
    callbacks: u32,
}

#[derive(Default)]
struct Ledger {
    transactions: HashMap<String, Transaction>,
    /// Idempotency-Key → (request fingerprint, transaction key).
    idempotency: HashMap<String, ([u8; 32], String)>,
    /// orderId → transaction keys, oldest first.
    by_order: HashMap<String, Vec<String>>,
}

struct Inner {
    rng: StdRng,
    ledger: Ledger,
}

struct Simulator {
    config: PgSimConfig,
    inner: Mutex<Inner>,
    http: reqwest::Client,
    shutdown: CancellationToken,
}

enum Registered {
    New {
        key: String,
        fate: Fate,
    },
    Replay {
        key: String,
        status: TransactionStatus,
    },
    Conflict,
}

impl Simulator {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Draws (error, timeout) for one payment request.
    fn draw_request_faults(&self) -> (bool, bool) {
        let mut inner = self.lock();
        let error = inner.rng.gen_bool(self.config.error_rate);
        let timeout = inner.rng.gen_bool(self.config.timeout_rate);
        (error, timeout)
    }

    fn register(&self, request: PaymentRequest, idempotency_key: Option<String>) -> Registered {
        let fingerprint = request.fingerprint();
        let mut guard = self.lock();
        let inner = &mut *guard;
        if let Some(idempotency_key) = &idempotency_key {
            if let Some((seen, key)) = inner.ledger.idempotency.get(idempotency_key) {
                if *seen != fingerprint {
                    return Registered::Conflict;
                }
                let status = inner.ledger.transactions[key].status;
                return Registered::Replay {
                    key: key.clone(),
                    status,
                };
            }
        }
        let config = &self.config;
        let rng = &mut inner.rng;
        let key = format!(
            "TR:{}",
            uuid::Builder::from_random_bytes(rng.gen()).into_uuid()
        );
        let latency =
            Duration::from_millis(rng.gen_range(config.latency_min_ms..=config.latency_max_ms));
        let failure = rng
            .gen_bool(config.failure_rate)
            .then(|| FAILURE_REASONS[rng.gen_range(0..FAILURE_REASONS.len())]);
        let callbacks = if rng.gen_bool(config.lost_callback_rate) {
            0
        } else if rng.gen_bool(config.duplicate_callback_rate) {
            2
        } else {
            1
        };
        let ledger = &mut inner.ledger;
        ledger
            .by_order
            .entry(request.order_id.clone())
            .or_default()
            .push(key.clone());
        if let Some(idempotency_key) = idempotency_key {
            ledger
                .idempotency
                .insert(idempotency_key, (fingerprint, key.clone()));
        }
        ledger.transactions.insert(
            key.clone(),
            Transaction {
                order_id: request.order_id,
                amount: request.amount,
                card_type: request.card_type,
                callback_url: request.callback_url,
                status: TransactionStatus::Pending,
                reason: None,
                callbacks_sent: 0,
                callbacks_delivered: 0,
            },
        );
        Registered::New {
            key,
            fate: Fate {
                latency,
                failure,
                callbacks,
            },
        }
    }

    fn view(&self, key: &str) -> Option<TransactionView> {
        self.lock()
            .ledger
            .transactions
            .get(key)
            .map(|t| t.view(key))
    }

    fn views_of_order(&self, order_id: &str) -> Vec<TransactionView> {
        let inner = self.lock();
        let ledger = &inner.ledger;
        ledger
            .by_order
            .get(order_id)
            .into_iter()
            .flatten()
            .filter_map(|key| ledger.transactions.get(key).map(|t| t.view(key)))
            .collect()
    }

    fn update(&self, key: &str, change: impl FnOnce(&mut Transaction)) {
        if let Some(transaction) = self.lock().ledger.transactions.get_mut(key) {
            change(transaction);
        }
    }

    /// Waits out the latency, decides, then sends the callback(s).
    async fn settle(self: Arc<Self>, key: String, fate: Fate) {
        tokio::select! {
            _ = self.shutdown.cancelled() => return,
            _ = tokio::time::sleep(fate.latency) => {}
        }
        let (status, reason) = match fate.failure {
            Some(reason) => (TransactionStatus::Failed, Some(reason.to_owned())),
            None => (TransactionStatus::Success, None),
        };
        let (callback_url, body) = {
            let mut inner = self.lock();
            let Some(transaction) = inner.ledger.transactions.get_mut(&key) else {
                return;
            };
            transaction.status = status;
            transaction.reason = reason.clone();
            let body = CallbackBody {
                transaction_key: key.clone(),
                order_id: transaction.order_id.clone(),
                amount: transaction.amount,
                status,
                reason,
            };
            (transaction.callback_url.clone(), body)
        };
        tracing::info!(
            transaction_key = %key,
            order_id = %body.order_id,
            status = ?status,
            reason = body.reason.as_deref().unwrap_or(""),
            "pg-sim decided a transaction"
        );
        if fate.callbacks == 0 {
            tracing::info!(transaction_key = %key, "pg-sim loses this callback (lost-callback-rate)");
            return;
        }
        let body = serde_json::to_vec(&body).expect("a callback serializes");
        for copy in 1..=fate.callbacks {
            self.update(&key, |t| t.callbacks_sent += 1);
            let delivered = tokio::select! {
                _ = self.shutdown.cancelled() => return,
                delivered = self.deliver(&key, copy, &callback_url, &body) => delivered,
            };
            if delivered {
                self.update(&key, |t| t.callbacks_delivered += 1);
            }
        }
    }

    /// One callback, re-signed and retried on connection errors, timeouts
    /// and 5xx answers. Whether the receiver acknowledged it.
    async fn deliver(&self, key: &str, copy: u32, url: &str, body: &[u8]) -> bool {
        for attempt in 1..=CALLBACK_RETRIES + 1 {
            if attempt > 1 {
                tokio::time::sleep(CALLBACK_BACKOFF).await;
            }
            let timestamp = unix_now();
            let result = self
                .http
                .post(url)
                .header(header::CONTENT_TYPE, "application/json")
                .header(TIMESTAMP_HEADER, timestamp.to_string())
                .header(SIGNATURE_HEADER, sign(&self.config.secret, timestamp, body))
                .body(body.to_vec())
                .send()
                .await;
            match result {
                Ok(response) if response.status().is_success() => {
                    tracing::info!(transaction_key = %key, copy, attempt, %url, "pg-sim callback delivered");
                    return true;
                }
                Ok(response) if response.status().is_server_error() => {
                    tracing::warn!(transaction_key = %key, copy, attempt, %url,
                        status = response.status().as_u16(), "pg-sim callback answered 5xx");
                }
                Ok(response) => {
                    tracing::warn!(transaction_key = %key, copy, attempt, %url,
                        status = response.status().as_u16(), "pg-sim callback refused; not retrying");
                    return false;
                }
                Err(error) => {
                    tracing::warn!(transaction_key = %key, copy, attempt, %url,
                        error = %error_chain(&error), "pg-sim callback could not be delivered");
                }
            }
        }
        tracing::error!(transaction_key = %key, copy, %url, attempts = CALLBACK_RETRIES + 1,
            "pg-sim gives up on this callback");
        false
    }
}

/// `error: cause: cause…` (reqwest's own message leaves out the cause).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

// ---------------------------------------------------------------- handlers

type Shared = Arc<Simulator>;

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, String> {
    let Some(value) = headers.get(IDEMPOTENCY_HEADER) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| "Idempotency-Key must be visible ASCII".to_owned())?
        .trim();
    if value.is_empty() || value.len() > MAX_IDEMPOTENCY_KEY_LEN {
        return Err(format!(
            "Idempotency-Key must be 1-{MAX_IDEMPOTENCY_KEY_LEN} characters"
        ));
    }
    Ok(Some(value.to_owned()))
}

async fn create_payment(State(sim): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let request: PaymentRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => return bad_request(format!("invalid payment request: {e}")),
    };
    if let Err(message) = request.validate() {
        return bad_request(message);
    }
    let idempotency_key = match idempotency_key(&headers) {
        Ok(key) => key,
        Err(message) => return bad_request(message),
    };
    let (fail, hang) = sim.draw_request_faults();
    if fail {
        tracing::warn!(order_id = %request.order_id, "pg-sim answers 500 (error-rate); nothing created");
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_ERROR",
            "simulated PG failure; no transaction was created",
        );
    }
    let order_id = request.order_id.clone();
    let accepted = match sim.register(request, idempotency_key) {
        Registered::Conflict => {
            return error(
                StatusCode::CONFLICT,
                "IDEMPOTENCY_KEY_REUSED",
                "this Idempotency-Key was used with a different request",
            )
        }
        Registered::Replay { key, status } => {
            tracing::info!(transaction_key = %key, %order_id, "pg-sim replays an idempotent request");
            PaymentAccepted {
                transaction_key: key,
                status,
            }
        }
        Registered::New { key, fate } => {
            tracing::info!(transaction_key = %key, %order_id,
                latency_ms = fate.latency.as_millis() as u64, "pg-sim registered a transaction");
            tokio::spawn(sim.clone().settle(key.clone(), fate));
            PaymentAccepted {
                transaction_key: key,
                status: TransactionStatus::Pending,
            }
        }
    };
    if hang {
        tracing::warn!(transaction_key = %accepted.transaction_key,
            "pg-sim never answers this request (timeout-rate)");
        // Until the client hangs up (the future is dropped) or we stop.
        sim.shutdown.cancelled().await;
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "SHUTTING_DOWN",
            "the simulator is stopping",
        );
    }
    Json(accepted).into_response()
}

/// The fixed `--query-latency-ms`; false when stopping meanwhile.
async fn query_delay(sim: &Simulator) -> bool {
    if sim.config.query_latency_ms == 0 {
        return true;
    }
    tokio::select! {
        _ = sim.shutdown.cancelled() => false,
        _ = tokio::time::sleep(Duration::from_millis(sim.config.query_latency_ms)) => true,
    }
}

fn shutting_down() -> Response {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "SHUTTING_DOWN",
        "the simulator is stopping",
    )
}

async fn get_payment(State(sim): State<Shared>, Path(key): Path<String>) -> Response {
    if !query_delay(&sim).await {
        return shutting_down();
    }
    match sim.view(&key) {
        Some(view) => Json(view).into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            format!("no transaction {key}"),
        ),
    }
}

async fn list_payments(
    State(sim): State<Shared>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Response {
    let order_id = match query {
        Ok(Query(params)) => params.get("orderId").cloned(),
        Err(rejection) => return bad_request(rejection.body_text()),
    };
    let Some(order_id) = order_id.filter(|id| !id.trim().is_empty()) else {
        return bad_request("the orderId query parameter is required");
    };
    if !query_delay(&sim).await {
        return shutting_down();
    }
    let transactions = sim.views_of_order(&order_id);
    Json(OrderTransactions {
        order_id,
        transactions,
    })
    .into_response()
}

// ---------------------------------------------------------------- entry points

/// Serves the simulator on `listener` until `shutdown` is cancelled.
/// Pending decisions and callbacks are abandoned then; requests held open
/// by `--timeout-rate` are answered 503 so the shutdown does not wait for them.
pub async fn serve(
    config: PgSimConfig,
    listener: tokio::net::TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    config.validate()?;
    let rng = match config.seed {
        Some(seed) => StdRng::seed_from_u64(seed),
        None => StdRng::from_entropy(),
    };
    let http = reqwest::Client::builder()
        .timeout(CALLBACK_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .context("building the callback HTTP client")?;
    let address = listener
        .local_addr()
        .context("reading the listener's address")?;
    tracing::info!(%address, config = ?config, "pg-sim is serving");
    let simulator = Arc::new(Simulator {
        config,
        inner: Mutex::new(Inner {
            rng,
            ledger: Ledger::default(),
        }),
        http,
        shutdown: shutdown.clone(),
    });
    let app = Router::new()
        .route("/api/v1/payments", post(create_payment).get(list_payments))
        .route("/api/v1/payments/{transaction_key}", get(get_payment))
        .with_state(simulator);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
        .context("serving pg-sim")?;
    tracing::info!("pg-sim stopped");
    Ok(())
}

/// `stampede pg-sim`: binds `config.host:config.port` and serves until
/// Ctrl-C (or SIGTERM).
pub async fn run(config: PgSimConfig) -> anyhow::Result<()> {
    config.validate()?;
    let listener = tokio::net::TcpListener::bind((config.host.as_str(), config.port))
        .await
        .with_context(|| format!("binding {}:{}", config.host, config.port))?;
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    tokio::spawn(async move {
        crate::startup::shutdown_signal().await;
        tracing::info!("shutdown requested");
        stop.cancel();
    });
    serve(config, listener, shutdown).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        config: PgSimConfig,
    }

    #[test]
    fn the_flag_defaults_are_the_default_config() {
        let parsed = Cli::try_parse_from(["pg-sim"]).unwrap().config;
        // The env var may be set on a developer's machine; compare the rest.
        let expected = PgSimConfig {
            secret: parsed.secret.clone(),
            ..PgSimConfig::default()
        };
        assert_eq!(parsed, expected);
        expected.validate().unwrap();
    }

    #[test]
    fn flags_set_the_knobs() {
        let config = Cli::try_parse_from([
            "pg-sim",
            "--port",
            "0",
            "--failure-rate",
            "1",
            "--latency-min-ms",
            "10",
            "--latency-max-ms",
            "50",
            "--seed",
            "7",
            "--secret",
            "s3cret",
        ])
        .unwrap()
        .config;
        assert_eq!(config.port, 0);
        assert_eq!(config.failure_rate, 1.0);
        assert_eq!((config.latency_min_ms, config.latency_max_ms), (10, 50));
        assert_eq!(config.seed, Some(7));
        assert_eq!(config.secret, "s3cret");
        assert!(!format!("{config:?}").contains("s3cret"));
    }

    #[test]
    fn validation_names_the_bad_flag() {
        let bad = |change: fn(&mut PgSimConfig)| {
            let mut config = PgSimConfig::default();
            change(&mut config);
            config.validate().unwrap_err().to_string()
        };
        assert!(bad(|c| c.failure_rate = 1.5).contains("--failure-rate"));
        assert!(bad(|c| c.timeout_rate = -0.1).contains("--timeout-rate"));
        assert!(bad(|c| c.error_rate = f64::NAN).contains("--error-rate"));
        assert!(bad(|c| c.lost_callback_rate = 2.0).contains("--lost-callback-rate"));
        assert!(bad(|c| c.duplicate_callback_rate = 9.0).contains("--duplicate-callback-rate"));
        assert!(bad(|c| c.latency_min_ms = 501).contains("--latency-min-ms"));
        assert!(bad(|c| c.secret.clear()).contains("--secret"));
    }

    #[test]
    fn payment_requests_are_validated() {
        let good = PaymentRequest {
            order_id: "42".into(),
            amount: 1000,
            card_type: "SAMSUNG".into(),
            card_no: "1234-5678-9012-3456".into(),
            callback_url: "http://127.0.0.1:8080/pg/callbacks".into(),
        };
        good.validate().unwrap();
        let bad = |change: fn(&mut PaymentRequest)| {
            let mut request = good.clone();
            change(&mut request);
            request.validate().unwrap_err()
        };
        assert!(bad(|r| r.order_id = " ".into()).contains("orderId"));
        assert!(bad(|r| r.amount = 0).contains("amount"));
        assert!(bad(|r| r.card_type.clear()).contains("cardType"));
        assert!(bad(|r| r.card_no = "1234".into()).contains("cardNo"));
        assert!(bad(|r| r.card_no = "1234-5678-9012-345x".into()).contains("cardNo"));
        assert!(bad(|r| r.callback_url = "ftp://host/x".into()).contains("callbackUrl"));
        assert!(bad(|r| r.callback_url = "not a url".into()).contains("callbackUrl"));
    }
}
