//! Refunds at the simulated PG, answered synchronously (like most card
//! PGs' refund APIs), with the payment endpoint's knobs: a latency drawn
//! from `[latency_min_ms, latency_max_ms]`, 500s with nothing done
//! (`error_rate`), requests never answered though the refund is made
//! (`timeout_rate`), and declines (`failure_rate`).
//!
//! # Format
//!
//! ```text
//! POST /api/v1/payments/{transactionKey}/refunds   Idempotency-Key: …
//! {"amount": 3000, "reason": "customer asked"}
//! → 200 {"refundKey": "RF:…", "transactionKey": "TR:…", "amount": 3000,
//!        "status": "SUCCESS" | "FAILED", "reason": null | "…"}
//! ```
//!
//! 404 for an unknown transaction, 409 `NOT_CAPTURED` unless it is SUCCESS,
//! 409 `REFUND_EXCEEDS_CAPTURED` beyond what is left of it. The same
//! Idempotency-Key replays the first answer. `PUT /api/v1/simulator/faults
//! {"failureRate": 1.0}` changes the decline rate while running.

use super::simulator::Simulator;
use super::wire::{bad_request, error, TransactionStatus};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use rand::Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;

const DECLINE_REASON: &str = "refund declined by the issuer";

#[derive(Debug, Clone, Deserialize)]
pub struct RefundRequest {
    pub amount: u64,
    #[serde(default)]
    pub reason: String,
}

/// The answer to a refund request (also what a replay returns).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefundAnswer {
    pub refund_key: String,
    pub transaction_key: String,
    pub amount: u64,
    /// SUCCESS or FAILED.
    pub status: TransactionStatus,
    pub reason: Option<String>,
}

/// `PUT /api/v1/simulator/faults` body.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Faults {
    pub failure_rate: f64,
}

fn fingerprint(transaction_key: &str, request: &RefundRequest) -> [u8; 32] {
    let mut hash = Sha256::new();
    for part in [
        transaction_key.as_bytes(),
        &request.amount.to_be_bytes(),
        request.reason.as_bytes(),
    ] {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part);
    }
    hash.finalize().into()
}

/// What the ledger says of a refund request, decided under one lock.
enum Decided {
    Answer(RefundAnswer),
    Refused(Response),
}

impl Simulator {
    fn decide_refund(
        &self,
        transaction_key: &str,
        request: &RefundRequest,
        idempotency_key: Option<&str>,
    ) -> Decided {
        let fingerprint = fingerprint(transaction_key, request);
        let mut guard = self.lock();
        let inner = &mut *guard;
        if let Some((seen, answer)) = idempotency_key.and_then(|k| inner.ledger.refunds.get(k)) {
            if *seen != fingerprint {
                return Decided::Refused(error(
                    StatusCode::CONFLICT,
                    "IDEMPOTENCY_KEY_REUSED",
                    "this Idempotency-Key was used with a different refund",
                ));
            }
            return Decided::Answer(answer.clone());
        }
        let declined = inner.rng.gen_bool(inner.failure_rate);
        let refund_key = format!(
            "RF:{}",
            uuid::Builder::from_random_bytes(inner.rng.gen()).into_uuid()
        );
        // Checked SUCCESS on arrival; a decided transaction never changes.
        let Some(transaction) = inner.ledger.transactions.get_mut(transaction_key) else {
            return Decided::Refused(error(
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                "no such transaction",
            ));
        };
        let left = transaction.amount - transaction.refunded;
        if request.amount > left {
            return Decided::Refused(error(
                StatusCode::CONFLICT,
                "REFUND_EXCEEDS_CAPTURED",
                format!("{} exceeds the {left} left to refund", request.amount),
            ));
        }
        let status = if declined {
            TransactionStatus::Failed
        } else {
            transaction.refunded += request.amount;
            TransactionStatus::Success
        };
        let answer = RefundAnswer {
            refund_key,
            transaction_key: transaction_key.to_owned(),
            amount: request.amount,
            status,
            reason: declined.then(|| DECLINE_REASON.to_owned()),
        };
        if let Some(key) = idempotency_key {
            inner
                .ledger
                .refunds
                .insert(key.to_owned(), (fingerprint, answer.clone()));
        }
        Decided::Answer(answer)
    }

    fn draw_latency(&self) -> Duration {
        let config = &self.config;
        let mut inner = self.lock();
        Duration::from_millis(
            inner
                .rng
                .gen_range(config.latency_min_ms..=config.latency_max_ms),
        )
    }
}

pub(super) async fn create_refund(
    State(sim): State<Arc<Simulator>>,
    Path(transaction_key): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request: RefundRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => return bad_request(format!("invalid refund request: {e}")),
    };
    if request.amount == 0 {
        return bad_request("amount must be positive");
    }
    let idempotency_key = match super::http::idempotency_key(&headers) {
        Ok(key) => key,
        Err(message) => return bad_request(message),
    };
    let (fail, hang) = sim.draw_request_faults();
    if fail {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_ERROR",
            "simulated PG failure; no refund was made",
        );
    }
    // Refused at once when there is nothing to refund; decided after the latency.
    match sim.view(&transaction_key) {
        None => {
            return error(
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                format!("no transaction {transaction_key}"),
            )
        }
        Some(view) if view.status != TransactionStatus::Success => {
            return error(
                StatusCode::CONFLICT,
                "NOT_CAPTURED",
                "only a SUCCESS transaction can be refunded",
            )
        }
        Some(_) => {}
    }
    tokio::select! {
        _ = sim.shutdown.cancelled() => return super::http::shutting_down(),
        _ = tokio::time::sleep(sim.draw_latency()) => {}
    }
    let answer = match sim.decide_refund(&transaction_key, &request, idempotency_key.as_deref()) {
        Decided::Answer(answer) => answer,
        Decided::Refused(response) => return response,
    };
    tracing::info!(%transaction_key, refund_key = %answer.refund_key, status = ?answer.status,
        "pg-sim decided a refund");
    if hang {
        tracing::warn!(refund_key = %answer.refund_key, "pg-sim never answers this refund (timeout-rate)");
        sim.shutdown.cancelled().await;
        return super::http::shutting_down();
    }
    Json(answer).into_response()
}

pub(super) async fn set_faults(State(sim): State<Arc<Simulator>>, body: Bytes) -> Response {
    let faults: Faults = match serde_json::from_slice(&body) {
        Ok(faults) => faults,
        Err(e) => return bad_request(format!("invalid faults: {e}")),
    };
    if !(0.0..=1.0).contains(&faults.failure_rate) {
        return bad_request("failureRate must be within [0, 1]");
    }
    sim.lock().failure_rate = faults.failure_rate;
    StatusCode::NO_CONTENT.into_response()
}
