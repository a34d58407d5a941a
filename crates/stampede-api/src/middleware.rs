//! What happens around every request, in one middleware: the overload
//! shield, the request id, the `http` span, RED metrics, and a panic turned
//! into the JSON 500.
//!
//! One service instead of four `tower-http` layers (request id set and
//! propagated, trace, catch-panic) plus a metrics layer: axum clones a
//! route's whole layer stack for every request, and in an FCFS burst those
//! clones, drops and nested futures were a sixth of the gate's CPU. It is
//! a hand-written `Service` rather than `axum::middleware::from_fn`, which
//! clones and boxes the route once more per request.

use crate::error::panic_response;
use crate::overload::{self, InFlight};
use crate::red_metrics::RouteMetrics;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue};
use axum::response::Response;
use futures::future::BoxFuture;
use futures::FutureExt;
use std::convert::Infallible;
use std::panic::AssertUnwindSafe;
use std::task::{Context, Poll};
use std::time::Instant;
use tower::{Layer, Service};
use tracing::Instrument;

/// The header carrying a request's id: taken from the caller when present,
/// made (UUID v4) otherwise, and always echoed on the response.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Wraps each route in [`AroundRequest`]; every route shares one
/// [`InFlight`] count.
#[derive(Debug, Clone)]
pub struct AroundRequestLayer {
    in_flight: InFlight,
}

impl AroundRequestLayer {
    /// At most `max_in_flight` requests at once (0: no limit).
    pub fn new(max_in_flight: usize) -> Self {
        AroundRequestLayer {
            in_flight: InFlight::new(max_in_flight),
        }
    }
}

impl<S> Layer<S> for AroundRequestLayer {
    type Service = AroundRequest<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AroundRequest {
            inner,
            in_flight: self.in_flight.clone(),
            metrics: RouteMetrics::default(),
        }
    }
}

/// Runs the route inside the request's span, logs a 5xx answer at ERROR
/// (status and latency, in the span), and records
/// `stampede_http_requests_total` and `stampede_http_request_duration_seconds`
/// per method, route template and status.
#[derive(Debug, Clone)]
pub struct AroundRequest<S> {
    inner: S,
    in_flight: InFlight,
    metrics: RouteMetrics,
}

impl<S> Service<Request> for AroundRequest<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let started = Instant::now();
        let request_id = request
            .headers()
            .get(&REQUEST_ID)
            .cloned()
            .unwrap_or_else(new_request_id);
        let method = request.method().clone();
        let route = request.extensions().get::<MatchedPath>().cloned();
        let admitted = self.in_flight.admit(route.as_ref().map(|r| r.as_str()));
        let span = tracing::info_span!(
            "http",
            method = %method,
            uri = %request.uri(),
            request_id = request_id.to_str().unwrap_or("-"),
        );
        // A panic while the route is called (not only while it is polled)
        // must become the 500 too.
        let metrics = self.metrics.clone();
        let called = admitted.as_ref().map(|_| {
            std::panic::catch_unwind(AssertUnwindSafe(|| {
                span.in_scope(|| self.inner.call(request))
            }))
        });
        Box::pin(
            async move {
                let shed = called.is_none();
                let mut response = match called {
                    None => overload::shed(),
                    Some(Ok(future)) => AssertUnwindSafe(future)
                        .catch_unwind()
                        .await
                        .map(|Ok(response)| response)
                        .unwrap_or_else(panic_response),
                    Some(Err(panic)) => panic_response(panic),
                };
                drop(admitted);
                let latency = started.elapsed();
                // A shed request is the shield working, counted by its own
                // metric: not an error to log once per request.
                if response.status().is_server_error() && !shed {
                    tracing::error!(
                        status = response.status().as_u16(),
                        latency_ms = latency.as_millis() as u64,
                        "response failed"
                    );
                }
                response.headers_mut().insert(REQUEST_ID, request_id);
                let route = route.as_ref().map_or("unmatched", |r| r.as_str());
                metrics.record(&method, route, response.status(), latency);
                Ok(response)
            }
            .instrument(span),
        )
    }
}

/// A request id for a request that came without one (UUID v4). It goes to
/// the span and the response; no handler reads it from the request.
fn new_request_id() -> HeaderValue {
    let mut text = uuid::Uuid::encode_buffer();
    let id = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut text);
    HeaderValue::from_str(id).expect("a UUID is a valid header value")
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
            .layer(AroundRequestLayer::new(0))
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
    async fn a_service_panicking_when_called_answers_the_json_500_too() {
        let panics_when_called = tower::service_fn(
            |_: Request| -> std::future::Ready<Result<Response, Infallible>> {
                panic!("a bug before the first poll")
            },
        );
        let response = AroundRequestLayer::new(0)
            .layer(panics_when_called)
            .oneshot(Request::get("/").body(Body::empty()).unwrap())
            .await
            .expect("the service is infallible");
        assert_eq!(response.status(), 500);
        assert!(!response.headers()[&REQUEST_ID].is_empty());
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

    #[tokio::test]
    async fn past_max_in_flight_a_request_is_shed_with_503_overloaded() {
        use std::sync::Arc;
        use tokio::sync::Notify;
        let (entered, release) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
        let (inside, held) = (entered.clone(), release.clone());
        let app = Router::new()
            .route(
                "/slow",
                get(move || {
                    let (inside, held) = (inside.clone(), held.clone());
                    async move {
                        inside.notify_one();
                        held.notified().await;
                        "done"
                    }
                }),
            )
            .route("/health", get(|| async { "ok" }))
            .layer(AroundRequestLayer::new(1));
        let first = tokio::spawn(
            app.clone()
                .oneshot(Request::get("/slow").body(Body::empty()).unwrap()),
        );
        entered.notified().await;
        let shed = app
            .clone()
            .oneshot(Request::get("/slow").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(shed.status(), 503);
        assert_eq!(shed.headers()["retry-after"], "1");
        let body = axum::body::to_bytes(shed.into_body(), 1024).await.unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["code"], "OVERLOADED");
        let probe = app
            .clone()
            .oneshot(Request::get("/health").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(probe.status(), 200, "probes are never shed");
        release.notify_one();
        assert_eq!(first.await.unwrap().unwrap().status(), 200);
    }
}
