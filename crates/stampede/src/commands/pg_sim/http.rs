//! The HTTP face of the simulator: create, read and list payments.

use super::simulator::{Registered, Simulator};
use super::wire::*;
use super::IDEMPOTENCY_HEADER;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;

type Shared = Arc<Simulator>;

pub(super) fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, String> {
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

pub(super) fn shutting_down() -> Response {
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

/// The simulator's routes.
pub(super) fn router(simulator: Shared) -> Router {
    Router::new()
        .route("/api/v1/payments", post(create_payment).get(list_payments))
        .route("/api/v1/payments/{transaction_key}", get(get_payment))
        .route(
            "/api/v1/payments/{transaction_key}/refunds",
            post(super::refunds::create_refund),
        )
        .route(
            "/api/v1/simulator/faults",
            axum::routing::put(super::refunds::set_faults),
        )
        .with_state(simulator)
}
