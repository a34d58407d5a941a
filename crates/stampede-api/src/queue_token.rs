//! The box office's door check: seat listing, reservation and payment need
//! the caller's ACTIVE waiting-queue token in the `X-Queue-Token` header.
//!
//! | answer | code |
//! |---|---|
//! | 401 | `QUEUE_TOKEN_REQUIRED`: no header |
//! | 401 | `QUEUE_TOKEN_INVALID`: not a token this concert issued |
//! | 401 | `QUEUE_TOKEN_EXPIRED`: its active time is over (or a payment used it up) |
//! | 403 | `QUEUE_TOKEN_NOT_YOURS`: another user's token |
//! | 403 | `QUEUE_TOKEN_WAITING`: still in line (the message gives the position) or in the pre-queue |
//! | 503 | `REDIS_UNAVAILABLE`: the queue cannot be read; the door fails closed |

use crate::error::{ApiError, ErrorCode};
use crate::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use stampede_core::concert::QueueTokenStatus;
use stampede_infra::redis::QueueTicket;
use uuid::Uuid;

pub const HEADER: &str = "x-queue-token";

/// The `X-Queue-Token` a request presents. An extractor, so a missing or
/// malformed header is refused (401) before anything is looked up: a
/// request without its token learns that first, not whether a seat exists.
#[derive(Debug, Clone, Copy)]
pub struct PresentedToken(Uuid);

impl<S: Send + Sync> FromRequestParts<S> for PresentedToken {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let header = parts.headers.get(HEADER).ok_or_else(|| {
            ApiError::unauthorized(
                ErrorCode::QueueTokenRequired,
                "an X-Queue-Token header with an ACTIVE queue token is required (POST /queue/tokens)",
            )
        })?;
        header
            .to_str()
            .ok()
            .and_then(|t| Uuid::parse_str(t.trim()).ok())
            .map(PresentedToken)
            .ok_or_else(|| {
                ApiError::unauthorized(
                    ErrorCode::QueueTokenInvalid,
                    "X-Queue-Token is not a queue token",
                )
            })
    }
}

/// The caller's ticket for `concert_id` if its `presented` token is ACTIVE,
/// else the refusal above.
pub async fn require_active(
    state: &AppState,
    user_id: u64,
    PresentedToken(token): PresentedToken,
    concert_id: u64,
) -> Result<QueueTicket, ApiError> {
    let invalid = || {
        ApiError::unauthorized(
            ErrorCode::QueueTokenInvalid,
            format!("X-Queue-Token is not a queue token of concert {concert_id}"),
        )
    };
    let ticket = state
        .infra
        .queue
        .status(concert_id, token)
        .await?
        .ok_or_else(invalid)?;
    if ticket.user_id != user_id {
        return Err(ApiError::forbidden_code(
            ErrorCode::QueueTokenNotYours,
            "this queue token belongs to another user",
        ));
    }
    match ticket.status {
        QueueTokenStatus::Active { .. } => Ok(ticket),
        QueueTokenStatus::Waiting { position } => Err(ApiError::forbidden_code(
            ErrorCode::QueueTokenWaiting,
            format!("still waiting in the queue at position {position}"),
        )),
        QueueTokenStatus::PreQueued { opens_at } => Err(ApiError::forbidden_code(
            ErrorCode::QueueTokenWaiting,
            format!("in the pre-queue: places are drawn at the opening, {opens_at}"),
        )),
        QueueTokenStatus::Expired => Err(ApiError::unauthorized(
            ErrorCode::QueueTokenExpired,
            "the queue token is no longer active; take a new one",
        )),
    }
}
