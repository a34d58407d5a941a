//! The operator's side of a concert's waiting room: its admission rate and
//! active cap, pausing and resuming intake, and the audit of its fair
//! opening (the seed and the drawn order, which anyone can redraw).

use crate::auth::AdminUser;
use crate::error::{ApiError, ApiJson, ApiPath, ErrorBody, ErrorCode};
use crate::responses::{Admin, JsonBody, PathIds, Unavailable};
use crate::AppState;
use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use stampede_core::concert::AdmissionRules;
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Deserialize, ToSchema)]
pub struct SetQueueRules {
    /// Tokens admitted per admission interval (`concert.admit_interval_ms`).
    #[schema(minimum = 1, maximum = 100_000)]
    admit_per_interval: u64,
    /// At most this many ACTIVE at once; omit or null for no cap.
    #[schema(minimum = 1, maximum = 10_000_000)]
    active_cap: Option<u64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct QueueRulesView {
    concert_id: u64,
    admit_per_interval: u64,
    active_cap: Option<u64>,
    paused: bool,
    /// Fans in line now.
    waiting: u64,
    /// Fans admitted whose active time is not over (what the cap counts;
    /// one whose time just ran out counts until the next admission step).
    active: u64,
    /// Fans waiting for the opening's draw.
    pre_queued: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OpeningView {
    concert_id: u64,
    /// The draw's key (hex): the order is the tokens sorted by SHA-256(seed ‖ token bytes).
    seed: String,
    drawn_at: DateTime<Utc>,
    /// The pre-queue in drawn order (position 1 first).
    order: Vec<Uuid>,
    /// Whether drawing again from `seed` gives `order`.
    reproduces: bool,
}

/// `rules` beside how many fans the concert's room holds now.
async fn rules_view(
    state: &AppState,
    concert_id: u64,
    rules: AdmissionRules,
) -> Result<Json<QueueRulesView>, ApiError> {
    let room = state.infra.queue.occupancy(concert_id).await?;
    Ok(Json(QueueRulesView {
        concert_id,
        admit_per_interval: rules.per_interval,
        active_cap: rules.active_cap,
        paused: rules.paused,
        waiting: room.waiting,
        active: room.active,
        pre_queued: room.pre_queued,
    }))
}

async fn existing_concert(state: &AppState, id: u64) -> Result<(), ApiError> {
    state
        .queue_opens_at(id)
        .await?
        .map(|_| ())
        .ok_or_else(|| super::concerts::concert_not_found(id))
}

/// The concert's admission rules (the configured defaults where none were
/// set) and how many fans wait, are active and are pre-queued now.
#[utoipa::path(get, path = "/admin/concerts/{id}/queue", tag = "concerts", security(("bearer" = [])),
    params(("id" = u64, Path)),
    responses((status = 200, body = QueueRulesView), (status = 404, body = ErrorBody), PathIds, Admin, Unavailable))]
pub async fn queue_rules(
    _admin: AdminUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<u64>,
) -> Result<Json<QueueRulesView>, ApiError> {
    existing_concert(&state, id).await?;
    let rules = state.infra.queue.rules(id).await?;
    rules_view(&state, id, rules).await
}

/// Sets the concert's admission rate and active cap (a pause stays as it was).
#[utoipa::path(put, path = "/admin/concerts/{id}/queue", tag = "concerts", security(("bearer" = [])),
    params(("id" = u64, Path)), request_body = SetQueueRules,
    responses((status = 200, body = QueueRulesView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
        JsonBody, PathIds, Admin, Unavailable))]
pub async fn set_queue_rules(
    _admin: AdminUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<u64>,
    ApiJson(body): ApiJson<SetQueueRules>,
) -> Result<Json<QueueRulesView>, ApiError> {
    let rules = AdmissionRules::parse(body.admit_per_interval, body.active_cap)?;
    existing_concert(&state, id).await?;
    let rules = state.infra.queue.set_rules(id, rules).await?;
    rules_view(&state, id, rules).await
}

/// Pauses intake: nobody is admitted until resumed; waiting fans keep
/// their places while they poll.
#[utoipa::path(post, path = "/admin/concerts/{id}/queue/pause", tag = "concerts", security(("bearer" = [])),
    params(("id" = u64, Path)),
    responses((status = 200, body = QueueRulesView), (status = 404, body = ErrorBody), PathIds, Admin, Unavailable))]
pub async fn pause_queue(
    admin: AdminUser,
    state: State<AppState>,
    id: ApiPath<u64>,
) -> Result<Json<QueueRulesView>, ApiError> {
    set_paused(admin, state, id, true).await
}

/// Resumes intake after a pause.
#[utoipa::path(post, path = "/admin/concerts/{id}/queue/resume", tag = "concerts", security(("bearer" = [])),
    params(("id" = u64, Path)),
    responses((status = 200, body = QueueRulesView), (status = 404, body = ErrorBody), PathIds, Admin, Unavailable))]
pub async fn resume_queue(
    admin: AdminUser,
    state: State<AppState>,
    id: ApiPath<u64>,
) -> Result<Json<QueueRulesView>, ApiError> {
    set_paused(admin, state, id, false).await
}

async fn set_paused(
    _admin: AdminUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<u64>,
    paused: bool,
) -> Result<Json<QueueRulesView>, ApiError> {
    existing_concert(&state, id).await?;
    let rules = state.infra.queue.set_paused(id, paused).await?;
    rules_view(&state, id, rules).await
}

/// The fair opening's audit: the seed, when the pre-queue was drawn and
/// its drawn order. Before the draw the concert is there but its audit is
/// not yet: 409 `QUEUE_NOT_DRAWN` (a 404 would read as a lost concert).
#[utoipa::path(get, path = "/admin/concerts/{id}/queue/opening", tag = "concerts", security(("bearer" = [])),
    params(("id" = u64, Path)),
    responses((status = 200, body = OpeningView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), PathIds, Admin, Unavailable))]
pub async fn queue_opening(
    _admin: AdminUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<u64>,
) -> Result<Json<OpeningView>, ApiError> {
    existing_concert(&state, id).await?;
    let audit = state.infra.queue.opening_audit(id).await?.ok_or_else(|| {
        ApiError::conflict(
            ErrorCode::QueueNotDrawn,
            format!("concert {id}'s pre-queue has not been drawn"),
        )
    })?;
    Ok(Json(OpeningView {
        concert_id: id,
        seed: audit.seed_hex(),
        drawn_at: audit.drawn_at,
        reproduces: audit.reproduces(),
        order: audit.order,
    }))
}
