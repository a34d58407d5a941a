//! The shop's PG client.

use super::CircuitBreaker;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// `[pg]` settings.
#[derive(Debug, Clone, Deserialize)]
pub struct PgSettings {
    /// e.g. `http://127.0.0.1:8090` (`stampede pg-sim`).
    pub base_url: String,
    /// Where the PG posts its verdicts (this service's `/pg/callbacks`).
    pub callback_url: String,
    /// Shared HMAC secret of callback signatures.
    pub callback_secret: String,
    /// Callbacks whose timestamp is further than this from now are refused.
    pub callback_window_secs: i64,
    pub request_timeout_ms: u64,
    /// Extra attempts after a timeout, a 5xx or a connection error.
    pub retries: u32,
    pub retry_backoff_ms: u64,
    /// Consecutive failures that open the circuit breaker.
    pub breaker_threshold: u32,
    pub breaker_cool_down_ms: u64,
}

impl PgSettings {
    pub fn validate(&self) -> Result<(), String> {
        for (key, url) in [
            ("pg.base_url", &self.base_url),
            ("pg.callback_url", &self.callback_url),
        ] {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(format!("{key} must be an http(s) URL"));
            }
        }
        if self.callback_secret.len() < 16 {
            return Err("pg.callback_secret must be at least 16 characters".into());
        }
        if self.request_timeout_ms == 0 || self.callback_window_secs <= 0 {
            return Err(
                "pg.request_timeout_ms and pg.callback_window_secs must be positive".into(),
            );
        }
        Ok(())
    }
}

/// What the PG says about a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PgStatus {
    Pending,
    Success,
    Failed(String),
}

#[derive(Debug, thiserror::Error)]
pub enum PgError {
    #[error("the PG circuit breaker is open; not calling it")]
    CircuitOpen,
    #[error("the PG timed out")]
    Timeout,
    #[error("the PG answered {status}: {body}")]
    Status { status: u16, body: String },
    #[error("the PG could not be reached: {0}")]
    Transport(String),
    #[error("the PG answered something unreadable: {0}")]
    Protocol(String),
}

impl PgError {
    /// Whether the PG may have acted on the request though no answer came
    /// back (a timeout, a broken connection, a 5xx): the outcome is unknown
    /// and only asking again with the same Idempotency-Key tells it.
    pub fn outcome_unknown(&self) -> bool {
        self.is_transient()
    }

    /// Worth another attempt (and a mark against the PG's health).
    fn is_transient(&self) -> bool {
        match self {
            Self::Timeout | Self::Transport(_) => true,
            Self::Status { status, .. } => *status >= 500,
            Self::CircuitOpen | Self::Protocol(_) => false,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PaymentRequest<'a> {
    order_id: String,
    amount: u64,
    card_type: &'a str,
    card_no: &'a str,
    callback_url: &'a str,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PaymentAnswer {
    transaction_key: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StatusAnswer {
    status: String,
    reason: Option<String>,
}

#[derive(Serialize)]
struct RefundBody<'a> {
    amount: u64,
    reason: &'a str,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RefundAnswer {
    refund_key: String,
    status: String,
    reason: Option<String>,
}

/// The PG's answer to a refund: its key, and SUCCESS or FAILED (with why).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgRefund {
    pub refund_key: String,
    pub status: PgStatus,
}

#[derive(Clone)]
pub struct PgClient {
    http: reqwest::Client,
    settings: Arc<PgSettings>,
    breaker: Arc<CircuitBreaker>,
}

impl PgClient {
    pub fn new(settings: PgSettings) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(settings.request_timeout_ms))
            .pool_max_idle_per_host(64)
            .build()
            .expect("a reqwest client builds");
        let breaker = CircuitBreaker::new(
            settings.breaker_threshold,
            Duration::from_millis(settings.breaker_cool_down_ms),
        );
        Self {
            http,
            settings: Arc::new(settings),
            breaker: Arc::new(breaker),
        }
    }

    pub fn settings(&self) -> &PgSettings {
        &self.settings
    }

    pub fn breaker(&self) -> &CircuitBreaker {
        &self.breaker
    }

    /// Asks the PG to charge `amount` for `order_id`; returns its transaction key.
    /// `idempotency_key` makes a retried request safe (the same transaction comes back).
    pub async fn request_payment(
        &self,
        order_id: u64,
        amount: u64,
        card_type: &str,
        card_no: &str,
        idempotency_key: &str,
    ) -> Result<String, PgError> {
        let reference = order_id.to_string();
        self.request_charge(reference, amount, card_type, card_no, idempotency_key)
            .await
    }

    /// The same for anything else bought by card: the PG's `orderId` is
    /// `reference` (a top-up's is `top-up-<id>`, apart from order ids).
    pub async fn request_charge(
        &self,
        reference: String,
        amount: u64,
        card_type: &str,
        card_no: &str,
        idempotency_key: &str,
    ) -> Result<String, PgError> {
        let body = PaymentRequest {
            order_id: reference,
            amount,
            card_type,
            card_no,
            callback_url: &self.settings.callback_url,
        };
        let url = format!("{}/api/v1/payments", self.settings.base_url);
        let answer: PaymentAnswer = self.post_once(&url, idempotency_key, &body).await?;
        Ok(answer.transaction_key)
    }

    /// The PG's view of a transaction (status queries are always safe to retry).
    pub async fn payment_status(&self, transaction_key: &str) -> Result<PgStatus, PgError> {
        let url = format!(
            "{}/api/v1/payments/{transaction_key}",
            self.settings.base_url
        );
        let answer: StatusAnswer = self.call(|| self.http.get(&url)).await?;
        Ok(match answer.status.as_str() {
            "SUCCESS" => PgStatus::Success,
            "FAILED" => PgStatus::Failed(answer.reason.unwrap_or_else(|| "declined".into())),
            _ => PgStatus::Pending,
        })
    }

    /// Asks the PG to refund `amount` of transaction `transaction_key`,
    /// through the same timeouts, retries and breaker as a payment.
    /// `idempotency_key` makes asking again (after a timeout) safe.
    pub async fn request_refund(
        &self,
        transaction_key: &str,
        amount: u64,
        reason: &str,
        idempotency_key: &str,
    ) -> Result<PgRefund, PgError> {
        let url = format!(
            "{}/api/v1/payments/{transaction_key}/refunds",
            self.settings.base_url
        );
        let body = RefundBody { amount, reason };
        let answer: RefundAnswer = self.post_once(&url, idempotency_key, &body).await?;
        let status = match answer.status.as_str() {
            "SUCCESS" => PgStatus::Success,
            "FAILED" => PgStatus::Failed(answer.reason.unwrap_or_else(|| "declined".into())),
            other => return Err(PgError::Protocol(format!("a refund cannot be {other:?}"))),
        };
        Ok(PgRefund {
            refund_key: answer.refund_key,
            status,
        })
    }

    /// POSTs `body` with an Idempotency-Key, so every retry is the same request.
    async fn post_once<T: for<'de> Deserialize<'de>>(
        &self,
        url: &str,
        idempotency_key: &str,
        body: &impl Serialize,
    ) -> Result<T, PgError> {
        self.call(|| {
            self.http
                .post(url)
                .header("Idempotency-Key", idempotency_key)
                .json(body)
        })
        .await
    }

    async fn call<T: for<'de> Deserialize<'de>>(
        &self,
        request: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<T, PgError> {
        let mut attempt = 0;
        loop {
            if !self.breaker.allow() {
                metrics::counter!("stampede_pg_calls_total", "outcome" => "circuit_open")
                    .increment(1);
                return Err(PgError::CircuitOpen);
            }
            let result = self.once(request()).await;
            match &result {
                Ok(_) => self.breaker.record_success(),
                Err(error) if error.is_transient() => self.breaker.record_failure(),
                Err(_) => self.breaker.record_success(),
            }
            let outcome = match &result {
                Ok(_) => "ok",
                Err(PgError::Timeout) => "timeout",
                Err(PgError::Status { .. }) => "status",
                Err(_) => "error",
            };
            metrics::counter!("stampede_pg_calls_total", "outcome" => outcome).increment(1);
            match result {
                Err(error) if error.is_transient() && attempt < self.settings.retries => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(
                        self.settings.retry_backoff_ms * u64::from(attempt),
                    ))
                    .await;
                }
                other => return other,
            }
        }
    }

    async fn once<T: for<'de> Deserialize<'de>>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<T, PgError> {
        let response = request.send().await.map_err(|e| {
            if e.is_timeout() {
                PgError::Timeout
            } else {
                PgError::Transport(e.to_string())
            }
        })?;
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            return Err(PgError::Status {
                status: status.as_u16(),
                body,
            });
        }
        response.json::<T>().await.map_err(|e| {
            if e.is_timeout() {
                PgError::Timeout
            } else {
                PgError::Protocol(e.to_string())
            }
        })
    }
}
