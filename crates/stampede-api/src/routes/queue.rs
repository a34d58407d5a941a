//! The concert waiting queue: take a token, see where it stands.

use crate::auth::AuthUser;
use crate::error::{ApiError, ApiJson, ApiQuery, ErrorBody, ErrorCode};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use stampede_core::concert::QueueTokenStatus;
use stampede_infra::mysql::concerts;
use stampede_infra::redis::QueueTicket;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

#[derive(Debug, Deserialize, ToSchema, IntoParams)]
pub struct ConcertRef {
    concert_id: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenView {
    concert_id: u64,
    /// Send it as `X-Queue-Token` once ACTIVE.
    token: Uuid,
    /// `{"status":"WAITING","position":3}`, `{"status":"ACTIVE","expires_at":…}` or `{"status":"EXPIRED"}`.
    #[schema(value_type = Object)]
    #[serde(flatten)]
    status: QueueTokenStatus,
}

fn view(concert_id: u64, ticket: QueueTicket) -> TokenView {
    TokenView {
        concert_id,
        token: ticket.token,
        status: ticket.status,
    }
}

/// Takes a place in the concert's waiting queue (or returns the caller's
/// live token: asking twice never queues twice).
#[utoipa::path(post, path = "/queue/tokens", tag = "concerts", security(("bearer" = [])),
    request_body = ConcertRef,
    responses((status = 201, body = TokenView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn take_token(
    user: AuthUser,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<ConcertRef>,
) -> Result<(StatusCode, Json<TokenView>), ApiError> {
    if !concerts::concert_exists(&state.infra.pool, body.concert_id).await? {
        return Err(super::concerts::concert_not_found(body.concert_id));
    }
    let ticket = state
        .infra
        .queue
        .enter(body.concert_id, user.user_id)
        .await?;
    metrics::counter!("stampede_queue_entered_total").increment(1);
    Ok((StatusCode::CREATED, Json(view(body.concert_id, ticket))))
}

/// Where the caller's token for `concert_id` stands: WAITING with its
/// position, ACTIVE until when, or 404 `QUEUE_TOKEN_NOT_FOUND`.
#[utoipa::path(get, path = "/queue/tokens/me", tag = "concerts", security(("bearer" = [])),
    params(ConcertRef),
    responses((status = 200, body = TokenView), (status = 404, body = ErrorBody)))]
pub async fn my_token(
    user: AuthUser,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ConcertRef>,
) -> Result<Json<TokenView>, ApiError> {
    let ticket = state
        .infra
        .queue
        .ticket_of(query.concert_id, user.user_id)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(
                ErrorCode::QueueTokenNotFound,
                format!("no live queue token for concert {}", query.concert_id),
            )
        })?;
    Ok(Json(view(query.concert_id, ticket)))
}
