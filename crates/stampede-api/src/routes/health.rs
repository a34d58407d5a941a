//! Liveness and readiness.

use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use std::time::Duration;
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct Health {
    status: &'static str,
}

/// The process is up.
#[utoipa::path(get, path = "/health", tag = "ops", responses((status = 200, body = Health)))]
pub async fn health() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Readiness: each dependency and whether it answered.
#[derive(Serialize, ToSchema)]
pub struct Readiness {
    /// `READY`, or `NOT_READY` naming the failed dependencies in `message`.
    code: &'static str,
    message: String,
    database: bool,
    redis: bool,
    kafka: bool,
}

/// MariaDB, Redis and the Kafka broker are reachable (503 names which is not).
#[utoipa::path(
    get, path = "/ready", tag = "ops",
    responses((status = 200, body = Readiness), (status = 503, body = Readiness))
)]
pub async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let timeout = Duration::from_secs(2);
    let database = state.infra.database_reachable(timeout);
    let redis = state.infra.redis_reachable(timeout);
    let kafka = state.infra.producer.broker_reachable(timeout);
    let (database, redis, kafka) = tokio::join!(database, redis, kafka);
    let failed: Vec<&str> = [("database", database), ("redis", redis), ("kafka", kafka)]
        .into_iter()
        .filter_map(|(name, ok)| (!ok).then_some(name))
        .collect();
    let (status, code, message) = if failed.is_empty() {
        (
            StatusCode::OK,
            "READY",
            "all dependencies reachable".to_owned(),
        )
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "NOT_READY",
            format!("unreachable: {}", failed.join(", ")),
        )
    };
    (
        status,
        Json(Readiness {
            code,
            message,
            database,
            redis,
            kafka,
        }),
    )
}
