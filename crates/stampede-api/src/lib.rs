//! Stampede's HTTP surface (axum).
//!
//! - [`routes`]: one module per resource.
//! - [`error`]: the one error type every handler returns; `{code, message}` JSON.
//! - [`auth`]: HS256 JWT bearer tokens; `AuthUser` and `AdminUser` extractors.
//! - [`telemetry`]: HTTP metrics middleware and the Prometheus recorder.
//! - [`metric_catalog`]: every exported metric, its labels and meaning.
//! - [`openapi`]: the OpenAPI document served at `/openapi.json`.

pub mod auth;
pub mod error;
pub mod idempotency;
pub mod limits;
pub mod metric_catalog;
pub mod openapi;
mod payments_settings;
pub mod queue_token;
pub mod routes;
mod settings;
mod state;
pub mod telemetry;
pub mod verification;

pub use limits::RateLimitSettings;
pub use payments_settings::PaymentSettings;
pub use settings::{AuthSettings, HttpSettings};
pub use state::{AppState, SharedState, StateParts};

use axum::extract::DefaultBodyLimit;
use axum::http::HeaderName;
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The whole application router with its middleware.
pub fn router(state: AppState) -> Router {
    let body_limit = state.http.body_limit_bytes;
    routes::router()
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(CatchPanicLayer::custom(error::panic_response))
        .layer(axum::middleware::from_fn(telemetry::track_http))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &axum::http::Request<_>| {
            let request_id = request
                .headers()
                .get(REQUEST_ID)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-");
            tracing::info_span!("http", method = %request.method(), uri = %request.uri(), request_id)
        }))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .with_state(state)
}
