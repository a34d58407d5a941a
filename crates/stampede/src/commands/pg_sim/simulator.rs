//! The simulated PG: its ledger of transactions, the random fate each is
//! given when created, and the decisions and callbacks that follow.

use super::config::PgSimConfig;
use super::refunds::RefundAnswer;
use super::wire::*;
use super::{sign, CALLBACK_BACKOFF, CALLBACK_RETRIES, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use axum::http::header;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const FAILURE_REASONS: &[&str] = &[
    "card limit exceeded",
    "insufficient balance",
    "invalid card",
    "card reported lost",
];

pub(super) struct Transaction {
    order_id: String,
    pub(super) amount: u64,
    card_type: String,
    callback_url: String,
    pub(super) status: TransactionStatus,
    reason: Option<String>,
    callbacks_sent: u32,
    callbacks_delivered: u32,
    /// What its SUCCEEDED refunds gave back so far.
    pub(super) refunded: u64,
}

impl Transaction {
    pub(super) fn view(&self, key: &str) -> TransactionView {
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
pub(super) struct Fate {
    pub(super) latency: Duration,
    failure: Option<&'static str>,
    /// 0 (lost), 1, or 2 (duplicated).
    callbacks: u32,
}

#[derive(Default)]
pub(super) struct Ledger {
    pub(super) transactions: HashMap<String, Transaction>,
    /// Idempotency-Key → (request fingerprint, transaction key).
    idempotency: HashMap<String, ([u8; 32], String)>,
    /// orderId → transaction keys, oldest first.
    by_order: HashMap<String, Vec<String>>,
    /// Refund Idempotency-Key → (request fingerprint, the answer given).
    pub(super) refunds: HashMap<String, ([u8; 32], RefundAnswer)>,
}

pub(super) struct Inner {
    pub(super) rng: StdRng,
    pub(super) ledger: Ledger,
    /// `failure_rate`, changeable while running (`PUT /api/v1/simulator/faults`).
    pub(super) failure_rate: f64,
}

pub(super) struct Simulator {
    pub(super) config: PgSimConfig,
    inner: Mutex<Inner>,
    http: reqwest::Client,
    pub(super) shutdown: CancellationToken,
}

pub(super) enum Registered {
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
    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Draws (error, timeout) for one payment request.
    pub(super) fn draw_request_faults(&self) -> (bool, bool) {
        let mut inner = self.lock();
        let error = inner.rng.gen_bool(self.config.error_rate);
        let timeout = inner.rng.gen_bool(self.config.timeout_rate);
        (error, timeout)
    }

    pub(super) fn register(
        &self,
        request: PaymentRequest,
        idempotency_key: Option<String>,
    ) -> Registered {
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
            .gen_bool(inner.failure_rate)
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
                refunded: 0,
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

    pub(super) fn view(&self, key: &str) -> Option<TransactionView> {
        self.lock()
            .ledger
            .transactions
            .get(key)
            .map(|t| t.view(key))
    }

    pub(super) fn views_of_order(&self, order_id: &str) -> Vec<TransactionView> {
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

    pub(super) fn update(&self, key: &str, change: impl FnOnce(&mut Transaction)) {
        if let Some(transaction) = self.lock().ledger.transactions.get_mut(key) {
            change(transaction);
        }
    }

    /// Waits out the latency, decides, then sends the callback(s).
    pub(super) async fn settle(self: Arc<Self>, key: String, fate: Fate) {
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
    pub(super) async fn deliver(&self, key: &str, copy: u32, url: &str, body: &[u8]) -> bool {
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

impl Simulator {
    pub(super) fn new(
        config: PgSimConfig,
        http: reqwest::Client,
        shutdown: CancellationToken,
    ) -> Self {
        let rng = match config.seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_entropy(),
        };
        let failure_rate = config.failure_rate;
        Self {
            config,
            inner: Mutex::new(Inner {
                rng,
                ledger: Ledger::default(),
                failure_rate,
            }),
            http,
            shutdown,
        }
    }
}
