//! `Idempotency-Key` handling for the endpoints that take money or stock.
//!
//! The first request with a key runs and its answer (status and body) is
//! stored; the same key with the same request replays that answer without
//! running again (header `Idempotent-Replayed: true`); with another request
//! it is refused (422 `IDEMPOTENCY_KEY_REUSED`); while the first still runs
//! a duplicate is told so (409 `IDEMPOTENCY_KEY_IN_PROGRESS`) and never
//! runs. Server errors are not stored: the client may retry them.

use crate::error::{ApiError, ErrorCode};
use crate::AppState;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use stampede_infra::mysql::idempotency::{self, Claim};
use std::future::Future;

pub const HEADER: &str = "idempotency-key";

/// Runs `work` at most once per (user, key).
pub async fn once<F, Fut>(
    state: &AppState,
    user_id: u64,
    headers: &HeaderMap,
    request: &[&[u8]],
    work: F,
) -> Response
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<(StatusCode, serde_json::Value), ApiError>>,
{
    let Some(key) = headers.get(HEADER) else {
        return answer(work().await);
    };
    let key = match key.to_str() {
        Ok(key)
            if !key.is_empty() && key.len() <= 128 && key.chars().all(|c| c.is_ascii_graphic()) =>
        {
            key
        }
        _ => {
            return ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidIdempotencyKey,
                "Idempotency-Key must be 1-128 visible ASCII characters",
            )
            .into_response()
        }
    };
    let pool = &state.infra.pool;
    let hash = idempotency::fingerprint(request);
    let claim = match idempotency::claim(
        pool,
        user_id,
        key,
        &hash,
        state.payments.idempotency_ttl_secs,
    )
    .await
    {
        Ok(claim) => claim,
        Err(error) => return ApiError::from(error).into_response(),
    };
    match claim {
        Claim::Run => {}
        Claim::Replay { status, body } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            let mut response = (
                status,
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                body,
            )
                .into_response();
            response
                .headers_mut()
                .insert("idempotent-replayed", "true".parse().expect("valid header"));
            return response;
        }
        Claim::Mismatch => {
            return ApiError::unprocessable(
                ErrorCode::IdempotencyKeyReused,
                "this Idempotency-Key was used with another request",
            )
            .into_response()
        }
        Claim::InProgress => {
            return ApiError::conflict(
                ErrorCode::IdempotencyKeyInProgress,
                "a request with this Idempotency-Key is still running",
            )
            .into_response()
        }
    }
    let result = work().await;
    let stored = match &result {
        Ok((status, body)) => Some((*status, body.to_string())),
        Err(error) if error.status.is_client_error() => Some((
            error.status,
            serde_json::json!({"code": error.code, "message": error.message}).to_string(),
        )),
        Err(_) => None,
    };
    let saved = match stored {
        Some((status, body)) => {
            idempotency::complete(pool, user_id, key, status.as_u16(), &body).await
        }
        None => idempotency::release(pool, user_id, key).await,
    };
    if let Err(error) = saved {
        tracing::error!(%error, "storing the idempotent response failed");
    }
    answer(result)
}

fn answer(result: Result<(StatusCode, serde_json::Value), ApiError>) -> Response {
    match result {
        Ok((status, body)) => (status, axum::Json(body)).into_response(),
        Err(error) => error.into_response(),
    }
}

/// Parses a JSON body read as bytes, with the same error codes as `ApiJson`.
pub fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => {
            ApiError::unprocessable(ErrorCode::InvalidBody, e.to_string())
        }
        _ => ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::MalformedJson,
            e.to_string(),
        ),
    })
}

/// The `Idempotency-Key` header as the OpenAPI document describes it (what
/// [`once`] accepts), shared by every route that honours it.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
pub struct IdempotencyKeyHeader {
    /// The same key with the same request replays the first answer; 1–128
    /// visible ASCII characters.
    #[param(
        rename = "Idempotency-Key",
        min_length = 1,
        max_length = 128,
        pattern = "^[!-~]+$"
    )]
    pub idempotency_key: Option<String>,
}
