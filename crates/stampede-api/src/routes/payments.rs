//! Paying an order: points (one transaction) or card (through the PG), and
//! the PG's signed callbacks.

use crate::auth::AuthUser;
use crate::error::{ApiError, ApiPath, ErrorBody, ErrorCode, JsonBody};
use crate::idempotency::{once, parse_json, IdempotencyKeyHeader};
use crate::responses::{self, Authed, Idempotent, PathIds, Unavailable};
use crate::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Json;
use serde::{Deserialize, Serialize};
use stampede_core::payment::{Card, PgVerdict};
use stampede_infra::mysql::payments::{self, PaymentRef, Settlement};
use stampede_infra::mysql::points::{self, TopUpRef};
use stampede_infra::pg::signature;
use stampede_infra::pg::PgError;
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(tag = "method", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PayBody {
    Points,
    Card { card_type: String, card_no: String },
}

/// Pays an order. POINTS: 201 paid at once. CARD: 202 pending until the PG
/// calls back. Honours `Idempotency-Key`.
#[utoipa::path(post, path = "/orders/{id}/payments", tag = "payments", security(("bearer" = [])),
    params(("id" = u64, Path), IdempotencyKeyHeader),
    request_body = PayBody,
    responses((status = 201, body = PointsPaid), (status = 202, body = CardRequested), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 502, body = ErrorBody),
        responses::JsonBody, Idempotent, PathIds, Authed, Unavailable))]
pub async fn pay(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(order_id): ApiPath<u64>,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Response {
    let path = format!("POST /orders/{order_id}/payments");
    once(&state, user.user_id, &headers, &[path.as_bytes(), &body], || async {
        match parse_json::<PayBody>(&body)? {
            PayBody::Points => {
                let paid = payments::pay_with_points(&state.infra.pool, &state.infra.outbox, order_id, user.user_id).await?;
                metrics::counter!("stampede_payments_total", "method" => "points", "outcome" => "success").increment(1);
                let body = PointsPaid { payment_id: paid.payment_id, order_id, amount: paid.amount, status: "SUCCESS" };
                Ok((StatusCode::CREATED, serde_json::json!(body)))
            }
            PayBody::Card { card_type, card_no } => pay_by_card(&state, user.user_id, order_id, &card_type, &card_no).await,
        }
    })
    .await
}

async fn pay_by_card(
    state: &AppState,
    user_id: u64,
    order_id: u64,
    card_type: &str,
    card_no: &str,
) -> Result<(StatusCode, serde_json::Value), ApiError> {
    let card = Card::parse(card_type, card_no)
        .map_err(|m| ApiError::unprocessable(ErrorCode::InvalidCard, m))?;
    let (payment_id, order) =
        payments::begin_card_payment(&state.infra.pool, order_id, user_id).await?;
    let requested = state
        .pg
        .request_payment(
            order_id,
            order.pricing.total,
            card.card_type(),
            card.number(),
            &format!("stampede-payment-{payment_id}"),
        )
        .await;
    match requested {
        Ok(key) => {
            payments::attach_transaction_key(&state.infra.pool, payment_id, &key).await?;
            metrics::counter!("stampede_payments_total", "method" => "card", "outcome" => "requested").increment(1);
            let body = CardRequested {
                payment_id,
                order_id,
                transaction_key: key,
                status: "PENDING",
            };
            Ok((StatusCode::ACCEPTED, serde_json::json!(body)))
        }
        Err(error) => {
            // Recorded as FAILED with the reason; the order does not dangle.
            let reason = format!("PG_UNAVAILABLE: {error}");
            payments::settle_card_payment(
                &state.infra.pool,
                &state.infra.outbox,
                PaymentRef::Id(payment_id),
                PgVerdict::Failed(reason),
            )
            .await?;
            metrics::counter!("stampede_payments_total", "method" => "card", "outcome" => "pg_unavailable").increment(1);
            Err(gateway_failed(&error, "payment"))
        }
    }
}

/// 502 for a PG that did not take a charge request; `what` (the payment,
/// the top-up) was recorded FAILED.
pub(crate) fn gateway_failed(error: &PgError, what: &str) -> ApiError {
    let code = if matches!(error, PgError::CircuitOpen) {
        ErrorCode::PgCircuitOpen
    } else {
        ErrorCode::PgUnavailable
    };
    ApiError::new(
        StatusCode::BAD_GATEWAY,
        code,
        format!("the payment gateway failed: {error}; the {what} is FAILED"),
    )
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Callback {
    transaction_key: String,
    status: String,
    reason: Option<String>,
}

/// The PG's verdict on a card payment, signed (`X-PG-Timestamp`, `X-PG-Signature`).
/// Idempotent: a duplicate or late callback after a terminal state changes nothing.
#[utoipa::path(post, path = "/pg/callbacks", tag = "payments",
    request_body = Callback,
    params(("X-PG-Timestamp" = i64, Header), ("X-PG-Signature" = String, Header)),
    responses((status = 200, body = CallbackAnswer), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody),
        responses::JsonBody, Unavailable))]
pub async fn callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<Json<CallbackAnswer>, ApiError> {
    let settings = state.pg.settings();
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let unauthorized = |m: &str| ApiError::unauthorized(ErrorCode::InvalidSignature, m.to_owned());
    let timestamp: i64 = header(signature::TIMESTAMP_HEADER)
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| unauthorized("missing or malformed X-PG-Timestamp"))?;
    // `abs_diff`: any i64 a caller sends is a distance, never an overflow.
    if chrono::Utc::now().timestamp().abs_diff(timestamp)
        > settings.callback_window_secs.unsigned_abs()
    {
        return Err(ApiError::unauthorized(
            ErrorCode::StaleCallback,
            "the callback timestamp is outside the accepted window",
        ));
    }
    let signed = header(signature::SIGNATURE_HEADER)
        .ok_or_else(|| unauthorized("missing X-PG-Signature"))?;
    if !signature::verify(&settings.callback_secret, timestamp, &body, &signed) {
        metrics::counter!("stampede_pg_callbacks_total", "outcome" => "bad_signature").increment(1);
        return Err(unauthorized("the signature does not match"));
    }
    let callback: Callback = parse_json(&body)?;
    let verdict = PgVerdict::from_callback(&callback.status, callback.reason.as_deref())
        .map_err(|m| ApiError::unprocessable(ErrorCode::InvalidBody, m))?;
    // A top-up's transaction is settled as a top-up; any other as a payment.
    let top_up = TopUpRef::TransactionKey(&callback.transaction_key);
    if let Some(transition) = points::settle_top_up(
        &state.infra.pool,
        &state.infra.outbox,
        top_up,
        verdict.clone(),
    )
    .await?
    {
        let outcome = transition.label();
        metrics::counter!("stampede_pg_callbacks_total", "outcome" => outcome).increment(1);
        return Ok(Json(CallbackAnswer {
            transaction_key: callback.transaction_key,
            result: outcome,
        }));
    }
    let settlement = state
        .refund_desk()
        .settle_card_payment(
            PaymentRef::TransactionKey(&callback.transaction_key),
            verdict,
        )
        .await?;
    let outcome = match &settlement {
        Settlement::Completed => "completed",
        Settlement::RefundRequired(..) => "refund_required",
        Settlement::Failed(_) => "failed",
        Settlement::AlreadySettled => "already_settled",
    };
    metrics::counter!("stampede_pg_callbacks_total", "outcome" => outcome).increment(1);
    Ok(Json(CallbackAnswer {
        transaction_key: callback.transaction_key,
        result: outcome,
    }))
}

/// An order paid with points at once.
#[derive(Debug, Serialize, ToSchema)]
pub struct PointsPaid {
    payment_id: u64,
    order_id: u64,
    amount: u64,
    /// Always `SUCCESS`.
    status: &'static str,
}

/// A card payment the PG took: PENDING until its callback.
#[derive(Debug, Serialize, ToSchema)]
pub struct CardRequested {
    payment_id: u64,
    order_id: u64,
    transaction_key: String,
    /// Always `PENDING`.
    status: &'static str,
}

/// What a callback did: `completed`, `refund_required`, `failed`,
/// `already_settled`, or a top-up's transition.
#[derive(Debug, Serialize, ToSchema)]
pub struct CallbackAnswer {
    transaction_key: String,
    result: &'static str,
}
