//! Stampede's HTTP surface (axum).
//!
//! - [`routes`]: one module per resource.
//! - [`error`]: the one error type every handler returns; `{code, message}` JSON.
//! - [`auth`]: JWT bearer tokens; `AuthUser` and `AdminUser` extractors.
//! - [`token_verifier`], [`jwks`]: HS256, or RS256/ES256 from an identity provider's keys.
//! - [`middleware`]: overload shield, request id, span, RED metrics and panics, around every request.
//! - [`overload`]: at most `http.max_in_flight` requests at once; more are shed with 503.
//! - [`telemetry`]: the Prometheus recorder and scrape-time gauges.
//! - [`metric_catalog`]: every exported metric, its labels and meaning.
//! - [`openapi`]: the OpenAPI document served at `/openapi.json`.
//! - [`responses`]: the error response sets operations share in that document.

pub mod auth;
pub mod error;
pub mod error_code;
pub mod idempotency;
pub mod jwks;
pub mod limits;
pub mod metric_catalog;
pub mod middleware;
pub mod openapi;
pub mod overload;
mod payments_settings;
pub mod queue_token;
pub mod queue_watch;
mod red_metrics;
pub mod responses;
pub mod routes;
mod settings;
mod state;
pub mod telemetry;
pub mod token_verifier;
pub mod verification;

pub use limits::RateLimitSettings;
pub use payments_settings::PaymentSettings;
pub use settings::{AuthSettings, HttpSettings};
pub use state::{AppState, SharedState, StateParts};

use axum::extract::DefaultBodyLimit;
use axum::Router;
use tower::ServiceBuilder;

/// The whole application router with its middleware.
///
/// The middleware is given as one layer: axum wraps every route once per
/// `layer` call and clones each wrapping per request, so two calls would
/// cost a second boxed clone and future on every request.
pub fn router(state: AppState) -> Router {
    let body_limit = state.http.body_limit_bytes;
    let max_in_flight = state.http.max_in_flight;
    let around_every_request = ServiceBuilder::new()
        .layer(middleware::AroundRequestLayer::new(max_in_flight))
        .layer(DefaultBodyLimit::max(body_limit));
    routes::router()
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(around_every_request)
        .with_state(state)
}
