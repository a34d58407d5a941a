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
//! 4. `POST /api/v1/payments/{transactionKey}/refunds` refunds part or all
//!    of a SUCCESS transaction, answered when decided (see `refunds.rs`).
//!
//! Faults are knobs: requests that are answered 500 (nothing created),
//! requests that never answer (the transaction is created anyway), lost
//! and duplicated callbacks, and a fixed delay on status queries. With
//! `--seed` every random draw comes from one seeded `StdRng`, so a run of
//! sequential requests is reproducible.
//!
//! Everything lives in memory; [`serve`] is the library entry point that
//! tests start on port 0.

mod config;
mod http;
mod refunds;
mod simulator;
mod wire;

pub use config::PgSimConfig;
pub use refunds::RefundAnswer;
pub use wire::{
    CallbackBody, ErrorBody, OrderTransactions, PaymentAccepted, PaymentRequest, TransactionStatus,
    TransactionView,
};

use anyhow::Context as _;
use simulator::Simulator;
use std::sync::Arc;
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

/// Serves the simulator on `listener` until `shutdown` is cancelled.
/// Pending decisions and callbacks are abandoned then; requests held open
/// by `--timeout-rate` are answered 503 so the shutdown does not wait for them.
pub async fn serve(
    config: PgSimConfig,
    listener: tokio::net::TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    config.validate()?;
    let http = reqwest::Client::builder()
        .timeout(CALLBACK_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .context("building the callback HTTP client")?;
    let address = listener
        .local_addr()
        .context("reading the listener's address")?;
    tracing::info!(%address, config = ?config, "pg-sim is serving");
    let simulator = Arc::new(Simulator::new(config, http, shutdown.clone()));
    let app = http::router(simulator);
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
