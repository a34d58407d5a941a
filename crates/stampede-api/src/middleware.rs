//! What happens around every request, in one middleware: the request id,
//! the `http` span, RED metrics, and a panic turned into the JSON 500.
//!
//! One function instead of four `tower-http` layers (request id set and
//! propagated, trace, catch-panic) plus a metrics layer: axum clones a
//! route's whole layer stack for every request, and in an FCFS burst those
//! clones, drops and nested futures were a sixth of the gate's CPU.

use crate::error::panic_response;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use futures::FutureExt;
use std::panic::AssertUnwindSafe;
use std::time::Instant;
use tracing::Instrument;

/// The header carrying a request's id: taken from the caller when present,
/// made (UUID v4) otherwise, and always echoed on the response.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Runs `next` inside the request's span and records
/// `stampede_http_requests_total` and `stampede_http_request_duration_seconds`
/// per method, route template and status.
pub async fn around_request(mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id = match request.headers().get(&REQUEST_ID) {
        Some(id) => id.clone(),
        None => {
            let id = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string())
                .expect("a UUID is a valid header value");
            request.headers_mut().insert(REQUEST_ID, id.clone());
            id
        }
    };
    let method = request.method().clone();
    let route = request.extensions().get::<MatchedPath>().cloned();
    let span = tracing::info_span!(
        "http",
        method = %method,
        uri = %request.uri(),
        request_id = request_id.to_str().unwrap_or("-"),
    );
    let mut response = AssertUnwindSafe(next.run(request))
        .catch_unwind()
        .instrument(span)
        .await
        .unwrap_or_else(panic_response);
    response.headers_mut().insert(REQUEST_ID, request_id);
    let labels = [
        ("method", method.as_str().to_owned()),
        (
            "route",
            route.map_or("unmatched".to_owned(), |r| r.as_str().to_owned()),
        ),
        ("status", response.status().as_str().to_owned()),
    ];
    metrics::counter!("stampede_http_requests_total", &labels).increment(1);
    metrics::histogram!("stampede_http_request_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::routing::get;
    use axum::Router;
    use tower::ServiceExt;

    fn app() -> Router {
        Router::new()
            .route("/fine", get(|| async { "fine" }))
            .route(
                "/boom",
                get(|| async {
                    if std::hint::black_box(true) {
                        panic!("a handler bug");
                    }
                    "unreachable"
                }),
            )
            .layer(axum::middleware::from_fn(around_request))
    }

    async fn call(request: axum::http::Request<Body>) -> Response {
        app()
            .oneshot(request)
            .await
            .expect("the router is infallible")
    }

    #[tokio::test]
    async fn a_panicking_handler_answers_the_json_500_with_a_request_id() {
        let response = call(Request::get("/boom").body(Body::empty()).unwrap()).await;
        assert_eq!(response.status(), 500);
        assert!(!response.headers()[&REQUEST_ID].is_empty());
        let body = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["code"], "INTERNAL");
    }

    #[tokio::test]
    async fn the_callers_request_id_is_echoed_and_a_missing_one_is_made() {
        let given = Request::get("/fine")
            .header(REQUEST_ID, "abc-123")
            .body(Body::empty())
            .unwrap();
        assert_eq!(call(given).await.headers()[&REQUEST_ID], "abc-123");
        let made = call(Request::get("/fine").body(Body::empty()).unwrap()).await;
        let id = made.headers()[&REQUEST_ID].to_str().unwrap();
        assert!(uuid::Uuid::parse_str(id).is_ok(), "{id} is a UUID");
    }
}
