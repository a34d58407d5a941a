//! Buying points (a card top-up through the PG) and an admin's grant.
//!
//! A top-up answers 202 PENDING; the points arrive when the PG's callback
//! (or reconciliation) says SUCCESS, exactly once. There is no free route
//! that adds points: support uses the recorded admin grant.

use crate::auth::{AdminUser, AuthUser};
use crate::error::{ApiError, ApiJson, ApiPath, ErrorBody, ErrorCode, JsonBody};
use crate::idempotency::{once, parse_json, IdempotencyKeyHeader};
use crate::responses::{self, Admin, Authed, Idempotent, PathIds, Unavailable};
use crate::routes::payments::gateway_failed;
use crate::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Json;
use serde::{Deserialize, Serialize};
use stampede_core::payment::{Card, PgVerdict};
use stampede_core::points::grant::PointGrant;
use stampede_core::points::top_up::TopUpStatus;
use stampede_core::points::PointsAmount;
use stampede_infra::mysql::points::{self, TopUp, TopUpRef};
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
pub struct TopUpBody {
    /// Points to buy (1 to `payments.max_points_charge`); one point costs one unit.
    #[schema(minimum = 1)]
    amount: u64,
    card_type: String,
    card_no: String,
}

/// A top-up as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct TopUpView {
    top_up_id: u64,
    amount: u64,
    /// `PENDING`, `SUCCEEDED` or `FAILED`.
    status: String,
    transaction_key: Option<String>,
    failure_reason: Option<String>,
}

impl From<TopUp> for TopUpView {
    fn from(top_up: TopUp) -> Self {
        Self {
            top_up_id: top_up.id,
            amount: top_up.amount,
            status: top_up.status.as_str().to_owned(),
            transaction_key: top_up.transaction_key,
            failure_reason: top_up.failure_reason,
        }
    }
}

/// Buys points with a card: 202 PENDING until the PG calls back; the points
/// are credited only when it says SUCCESS. Honours `Idempotency-Key`.
#[utoipa::path(post, path = "/users/me/points/top-ups", tag = "points", security(("bearer" = [])),
    params(IdempotencyKeyHeader),
    request_body = TopUpBody,
    responses((status = 202, body = TopUpView), (status = 422, body = ErrorBody), (status = 502, body = ErrorBody),
        responses::JsonBody, Idempotent, Authed, Unavailable))]
pub async fn top_up(
    user: AuthUser,
    State(state): State<AppState>,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Response {
    let path = b"POST /users/me/points/top-ups";
    once(&state, user.user_id, &headers, &[path, &body], || async {
        let body = parse_json::<TopUpBody>(&body)?;
        let amount = PointsAmount::parse(body.amount, state.payments.max_points_charge)?;
        let card = Card::parse(&body.card_type, &body.card_no)
            .map_err(|m| ApiError::unprocessable(ErrorCode::InvalidCard, m))?;
        let pool = &state.infra.pool;
        let top_up_id = points::begin_top_up(pool, user.user_id, amount).await?;
        let requested = state
            .pg
            .request_charge(
                format!("top-up-{top_up_id}"),
                amount.get(),
                card.card_type(),
                card.number(),
                &format!("stampede-top-up-{top_up_id}"),
            )
            .await;
        match requested {
            Ok(key) => {
                points::attach_transaction_key(pool, top_up_id, &key).await?;
                metrics::counter!("stampede_payments_total", "method" => "card_top_up", "outcome" => "requested").increment(1);
                let view = TopUpView {
                    top_up_id,
                    amount: amount.get(),
                    status: TopUpStatus::Pending.as_str().to_owned(),
                    transaction_key: Some(key),
                    failure_reason: None,
                };
                Ok((StatusCode::ACCEPTED, serde_json::json!(view)))
            }
            Err(error) => {
                let verdict = PgVerdict::Failed(format!("PG_UNAVAILABLE: {error}"));
                points::settle_top_up(pool, &state.infra.outbox, TopUpRef::Id(top_up_id), verdict).await?;
                metrics::counter!("stampede_payments_total", "method" => "card_top_up", "outcome" => "pg_unavailable").increment(1);
                Err(gateway_failed(&error, "top-up"))
            }
        }
    })
    .await
}

/// One of the caller's top-ups.
#[utoipa::path(get, path = "/users/me/points/top-ups/{id}", tag = "points", security(("bearer" = [])),
    params(("id" = u64, Path)),
    responses((status = 200, body = TopUpView), (status = 404, body = ErrorBody), PathIds, Authed, Unavailable))]
pub async fn get_top_up(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<u64>,
) -> Result<Json<TopUpView>, ApiError> {
    match points::find_top_up(&state.infra.pool, id).await? {
        // Another user's top-up is answered like a missing one.
        Some(top_up) if top_up.user_id == user.user_id => Ok(Json(top_up.into())),
        _ => Err(ApiError::not_found(
            ErrorCode::TopUpNotFound,
            format!("no top-up {id}"),
        )),
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct GrantBody {
    /// 1 to `payments.max_points_charge`.
    #[schema(minimum = 1)]
    amount: u64,
    /// Why (kept with the grant and the granting admin).
    #[schema(min_length = 1, max_length = 500)]
    reason: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GrantView {
    grant_id: u64,
    user_id: u64,
    amount: u64,
    balance: u64,
}

/// Gives a user points (support), recorded with the reason and the admin's
/// subject. Admin only.
#[utoipa::path(post, path = "/admin/users/{id}/points/grants", tag = "points", security(("bearer" = [])),
    params(("id" = u64, Path, minimum = 1)), request_body = GrantBody,
    responses((status = 201, body = GrantView), (status = 422, body = ErrorBody), responses::JsonBody, PathIds, Admin,
        Unavailable))]
pub async fn grant(
    AdminUser(admin): AdminUser,
    State(state): State<AppState>,
    ApiPath(user_id): ApiPath<u64>,
    ApiJson(body): ApiJson<GrantBody>,
) -> Result<(StatusCode, Json<GrantView>), ApiError> {
    // The range the document states (an int64 id): a grant to an id no
    // client or column reads exactly is refused, not written.
    if user_id == 0 || user_id > i64::MAX as u64 {
        return Err(ApiError::unprocessable(
            ErrorCode::InvalidUser,
            "user ids are 1 to 9223372036854775807",
        ));
    }
    let grant = PointGrant::parse(body.amount, state.payments.max_points_charge, &body.reason)?;
    let granted_by = admin.user_id.to_string();
    let (grant_id, balance) = points::grant_points(
        &state.infra.pool,
        &state.infra.outbox,
        user_id,
        &grant,
        &granted_by,
    )
    .await?;
    tracing::info!(grant_id, user_id, amount = grant.amount.get(), %granted_by, "points granted");
    Ok((
        StatusCode::CREATED,
        Json(GrantView {
            grant_id,
            user_id,
            amount: grant.amount.get(),
            balance,
        }),
    ))
}
