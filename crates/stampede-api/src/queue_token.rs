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
use axum::http::HeaderMap;
use stampede_core::concert::QueueTokenStatus;
use stampede_infra::redis::QueueTicket;
use uuid::Uuid;

pub const HEADER: &str = "x-queue-token";

/// The caller's ticket for `concert_id` if its token is ACTIVE, else the
/// refusal above.
pub async fn require_active(
    state: &AppState,
    user_id: u64,
    headers: &HeaderMap,
    concert_id: u64,
) -> Result<QueueTicket, ApiError> {
    let header = headers.get(HEADER).ok_or_else(|| {
        ApiError::unauthorized(
            ErrorCode::QueueTokenRequired,
            "an X-Queue-Token header with an ACTIVE queue token is required (POST /queue/tokens)",
        )
    })?;
    let invalid = || {
        ApiError::unauthorized(
            ErrorCode::QueueTokenInvalid,
            format!("X-Queue-Token is not a queue token of concert {concert_id}"),
        )
    };
    let token = header
        .to_str()
        .ok()
        .and_then(|t| Uuid::parse_str(t.trim()).ok())
        .ok_or_else(invalid)?;
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
