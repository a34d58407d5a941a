//! What goes over the wire: request and answer bodies, the callback, errors.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

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
    pub(super) fn validate(&self) -> Result<(), String> {
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
    pub(super) fn fingerprint(&self) -> [u8; 32] {
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

pub(super) fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    let body = ErrorBody {
        code: code.to_owned(),
        message: message.into(),
    };
    (status, Json(body)).into_response()
}

pub(super) fn bad_request(message: impl Into<String>) -> Response {
    error(StatusCode::BAD_REQUEST, "BAD_REQUEST", message)
}
