//! Refunding a payment, fully or in parts: its payer or an admin asks, core
//! decides (`stampede_core::payment::RefundablePayment::decide`), the
//! refund desk writes it and, for a card, asks the PG.

use crate::auth::{AuthUser, Role};
use crate::error::{ApiError, ApiPath, ErrorBody, ErrorCode, JsonBody};
use crate::idempotency::{self, once, parse_json, IdempotencyKeyHeader};
use crate::responses::{self, Authed, Idempotent, PathIds, Unavailable};
use crate::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Json;
use serde::{Deserialize, Serialize};
use stampede_core::payment::{RefundReason, RefundRefusal, RefundStatus, Refunder};
use stampede_infra::mysql::refunds::{self, Refund, RefundRequest};
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundBody {
    /// What to refund; everything still refundable when left out.
    #[schema(minimum = 1)]
    amount: Option<u64>,
    /// Why (1–500 characters), kept with the refund and told to the buyer.
    #[schema(min_length = 1, max_length = 500)]
    reason: String,
}

fn refunder(user: AuthUser) -> Refunder {
    match user.role {
        Role::Admin => Refunder::Admin,
        Role::User => Refunder::User(user.user_id),
    }
}

/// Refunds a payment, fully or in part (never beyond what it captured).
/// POINTS: 201, the balance is back. CARD: 201 SUCCEEDED or FAILED as the PG
/// answered, 202 PENDING when its answer is not known yet (the reconciler
/// asks again). The full refund of a paid order returns its stock and
/// unexpired coupons and makes it REFUNDED; of a seat, frees the seat.
/// Honours `Idempotency-Key`.
#[utoipa::path(post, path = "/payments/{id}/refunds", tag = "payments", security(("bearer" = [])),
    params(("id" = u64, Path), IdempotencyKeyHeader),
    request_body = RefundBody,
    responses((status = 201, body = Refund), (status = 202, body = Refund), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
        responses::JsonBody, Idempotent, PathIds, Authed, Unavailable))]
pub async fn refund(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(payment_id): ApiPath<u64>,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Response {
    let path = format!("POST /payments/{payment_id}/refunds");
    // `once` runs the work only with a valid key (or none).
    let request_key = headers
        .get(idempotency::HEADER)
        .and_then(|key| key.to_str().ok())
        .map(|key| format!("{}:{key}", user.user_id));
    once(&state, user.user_id, &headers, &[path.as_bytes(), &body], || async {
        let request: RefundBody = parse_json(&body)?;
        let reason = RefundReason::parse(&request.reason)
            .map_err(|m| ApiError::unprocessable(ErrorCode::InvalidBody, m))?;
        let refund = state
            .refund_desk()
            .refund(RefundRequest {
                payment_id,
                by: refunder(user),
                amount: request.amount,
                reason: reason.as_str(),
                request_key: request_key.as_deref(),
            })
            .await?;
        metrics::counter!("stampede_refunds_requested_total", "method" => refund.method.as_str(),
            "status" => refund.status.as_str())
        .increment(1);
        let status = match refund.status {
            RefundStatus::Pending => StatusCode::ACCEPTED,
            RefundStatus::Succeeded | RefundStatus::Failed => StatusCode::CREATED,
        };
        Ok((status, serde_json::to_value(refund).expect("refunds serialise")))
    })
    .await
}

/// The refunds of a payment (its payer's or, for an admin, anyone's), oldest first.
#[utoipa::path(get, path = "/payments/{id}/refunds", tag = "payments", security(("bearer" = [])),
    params(("id" = u64, Path)),
    responses((status = 200, body = PaymentRefunds), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        PathIds, Authed, Unavailable))]
pub async fn list_refunds(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(payment_id): ApiPath<u64>,
) -> Result<Json<PaymentRefunds>, ApiError> {
    let payer = refunds::payer_of(&state.infra.pool, payment_id)
        .await?
        .ok_or(RefundRefusal::PaymentNotFound(payment_id))?;
    if !refunder(user).may_act_for(payer) {
        return Err(RefundRefusal::NotYours(payment_id).into());
    }
    let refunds = refunds::refunds_of_payment(&state.infra.pool, payment_id).await?;
    Ok(Json(PaymentRefunds {
        payment_id,
        refunds,
    }))
}

/// A payment's refunds, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentRefunds {
    payment_id: u64,
    refunds: Vec<Refund>,
}
