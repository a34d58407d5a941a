//! Operator endpoints: Prometheus metrics and outbox status.

use crate::auth::AdminUser;
use crate::error::ApiError;
use crate::AppState;
use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

/// Prometheus text exposition of every metric the process records.
#[utoipa::path(get, path = "/metrics", tag = "ops", responses((status = 200, content_type = "text/plain")))]
pub async fn metrics(State(state): State<AppState>) -> String {
    crate::telemetry::record_pool_gauges(&state.infra.pool);
    crate::telemetry::record_redis_gauges(&state.infra).await;
    state.metrics.render()
}

#[derive(Serialize, ToSchema)]
pub struct OutboxStatus {
    /// Rows not yet acknowledged by the broker.
    pending: i64,
    /// Age of the oldest of them, in seconds (0 when none).
    oldest_pending_age_secs: f64,
}

/// How far the outbox relay is behind (admin).
#[utoipa::path(
    get, path = "/admin/outbox", tag = "ops", security(("bearer" = [])),
    responses(
        (status = 200, body = OutboxStatus),
        crate::responses::Admin,
        crate::responses::Unavailable
    )
)]
pub async fn outbox_status(
    _admin: AdminUser,
    State(state): State<AppState>,
) -> Result<Json<OutboxStatus>, ApiError> {
    let stats = state.infra.relay().pending_stats().await?;
    Ok(Json(OutboxStatus {
        pending: stats.count,
        oldest_pending_age_secs: stats.oldest_age_secs,
    }))
}
