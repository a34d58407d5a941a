//! The concert waiting queue: take a token, see where it stands and how
//! long it should still wait, and when to ask again.

use crate::auth::AuthUser;
use crate::error::{ApiError, ApiJson, ApiQuery, ErrorBody, ErrorCode};
use crate::responses::{Authed, JsonBody, Query, Unavailable};
use crate::AppState;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::Json;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use stampede_core::concert::eta::{estimated_wait, poll_after};
use stampede_core::concert::QueueTokenStatus;
use stampede_infra::redis::QueueTicket;
use std::time::Duration;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

#[derive(Debug, Deserialize, ToSchema, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConcertRef {
    pub(crate) concert_id: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct TokenView {
    concert_id: u64,
    /// Send it as `X-Queue-Token` once ACTIVE.
    token: Uuid,
    /// `{"status":"WAITING","position":3}`, `{"status":"PRE_QUEUED","opens_at":…}`,
    /// `{"status":"ACTIVE","expires_at":…}` or `{"status":"EXPIRED"}`.
    #[serde(flatten)]
    pub(crate) status: QueueTokenStatus,
    /// WAITING: the estimated seconds until admission, from the admissions
    /// measured lately (absent until there is an outflow to measure, e.g.
    /// while intake is paused).
    #[serde(skip_serializing_if = "Option::is_none")]
    eta_secs: Option<u64>,
    /// WAITING or PRE_QUEUED: ask again after this many seconds (also the
    /// `Retry-After` header); asking is what keeps a waiting place.
    #[serde(skip_serializing_if = "Option::is_none")]
    poll_after_secs: Option<u64>,
}

impl TokenView {
    pub(crate) fn concert_id(&self) -> u64 {
        self.concert_id
    }
}

/// The view of `ticket`, its ETA from `outflow_rate` (tokens/s) and its
/// polling advice, never longer than `longest_poll`.
pub(crate) fn view(
    concert_id: u64,
    ticket: QueueTicket,
    outflow_rate: Option<f64>,
    longest_poll: Duration,
) -> TokenView {
    let (eta, poll) = match ticket.status {
        QueueTokenStatus::Waiting { position } => {
            let eta = estimated_wait(position, outflow_rate);
            (eta, Some(poll_after(eta, longest_poll)))
        }
        QueueTokenStatus::PreQueued { opens_at } => {
            let until_opening = (opens_at - Utc::now()).to_std().ok();
            (
                None,
                Some(poll_after(until_opening.map(|d| d * 4), longest_poll)),
            )
        }
        QueueTokenStatus::Active { .. } | QueueTokenStatus::Expired => (None, None),
    };
    TokenView {
        concert_id,
        token: ticket.token,
        status: ticket.status,
        eta_secs: eta.map(|eta| eta.as_secs_f64().round() as u64),
        poll_after_secs: poll.map(|poll| poll.as_secs()),
    }
}

/// `Retry-After` carrying the view's polling advice, if it has one.
fn retry_after(view: &TokenView) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Some(secs) = view.poll_after_secs {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    headers
}

/// Takes a place in the concert's waiting queue (or returns the caller's
/// live token: asking twice never queues twice). Before the concert's
/// first booking opening the token waits in the pre-queue, whose order is
/// drawn at the opening.
#[utoipa::path(post, path = "/queue/tokens", tag = "concerts", security(("bearer" = [])),
    request_body = ConcertRef,
    responses((status = 201, body = TokenView, headers(("Retry-After" = u64, description = "seconds until the next poll"))),
        (status = 404, body = ErrorBody), JsonBody, Authed, Unavailable))]
pub async fn take_token(
    user: AuthUser,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<ConcertRef>,
) -> Result<(StatusCode, HeaderMap, Json<TokenView>), ApiError> {
    let opens_at = state
        .queue_opens_at(body.concert_id)
        .await?
        .ok_or_else(|| super::concerts::concert_not_found(body.concert_id))?;
    let queue = &state.infra.queue;
    let (ticket, rate) = queue.enter(body.concert_id, user.user_id, opens_at).await?;
    metrics::counter!("stampede_queue_entered_total").increment(1);
    let view = view(
        body.concert_id,
        ticket,
        rate,
        queue.settings().longest_poll(),
    );
    Ok((StatusCode::CREATED, retry_after(&view), Json(view)))
}

/// Where the caller's token for `concert_id` stands: WAITING with its
/// position and ETA, PRE_QUEUED until the opening, ACTIVE until when, or
/// 404 `QUEUE_TOKEN_NOT_FOUND` (never taken, or its place was lost).
/// Asking keeps a waiting place (`queue.keepalive_secs`).
#[utoipa::path(get, path = "/queue/tokens/me", tag = "concerts", security(("bearer" = [])),
    params(ConcertRef),
    responses((status = 200, body = TokenView, headers(("Retry-After" = u64, description = "seconds until the next poll"))),
        (status = 404, body = ErrorBody), Query, Authed, Unavailable))]
pub async fn my_token(
    user: AuthUser,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ConcertRef>,
) -> Result<(HeaderMap, Json<TokenView>), ApiError> {
    let queue = &state.infra.queue;
    let (ticket, rate) = queue
        .look_of(query.concert_id, user.user_id)
        .await?
        .ok_or_else(|| token_not_found(query.concert_id))?;
    let view = view(
        query.concert_id,
        ticket,
        rate,
        queue.settings().longest_poll(),
    );
    Ok((retry_after(&view), Json(view)))
}

pub(crate) fn token_not_found(concert_id: u64) -> ApiError {
    ApiError::not_found(
        ErrorCode::QueueTokenNotFound,
        format!("no live queue token for concert {concert_id}"),
    )
}
