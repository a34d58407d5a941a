//! The RED metrics of every request: `stampede_http_requests_total` and
//! `stampede_http_request_duration_seconds`, by method, route template and
//! status, with their handles kept.
//!
//! `metrics::counter!(name, &labels)` builds the labelled key (three label
//! strings), hashes it and looks it up in the registry on every call; for
//! the FCFS gate, whose whole request costs tens of microseconds, that was
//! a visible share. A route answers with a handful of (method, status)
//! pairs, so their handles are registered once and reused.

use axum::http::{Method, StatusCode};
use metrics::{Counter, Histogram};
use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

/// One route's metric handles by method and status. The middleware layer
/// gives every route its own (axum layers each route separately), so each
/// cache sees one route; a request of another route, which is not
/// expected, is recorded without the cache rather than under the wrong
/// label.
#[derive(Debug, Clone, Default)]
pub struct RouteMetrics {
    handles: Arc<RwLock<HashMap<(Method, StatusCode), Handles>>>,
}

#[derive(Debug)]
struct Handles {
    route: Box<str>,
    requests: Counter,
    duration: Histogram,
}

impl Handles {
    fn register(method: &Method, route: &str, status: StatusCode) -> Self {
        let labels = [
            ("method", method.as_str().to_owned()),
            ("route", route.to_owned()),
            ("status", status.as_str().to_owned()),
        ];
        Handles {
            route: route.into(),
            requests: metrics::counter!("stampede_http_requests_total", &labels),
            duration: metrics::histogram!("stampede_http_request_duration_seconds", &labels),
        }
    }

    fn record(&self, latency: Duration) {
        self.requests.increment(1);
        self.duration.record(latency.as_secs_f64());
    }
}

impl RouteMetrics {
    /// Counts one answered request of `route` (its template, or
    /// `unmatched`) and its latency.
    pub fn record(&self, method: &Method, route: &str, status: StatusCode, latency: Duration) {
        let key = (method.clone(), status);
        if let Some(handles) = self
            .handles
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
        {
            if &*handles.route == route {
                handles.record(latency);
            } else {
                Handles::register(method, route, status).record(latency);
            }
            return;
        }
        let handles = Handles::register(method, route, status);
        handles.record(latency);
        self.handles
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(key)
            .or_insert(handles);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use metrics_exporter_prometheus::PrometheusBuilder;

    #[test]
    fn kept_handles_count_under_the_labels_of_each_request() {
        let recorder = PrometheusBuilder::new().build_recorder();
        let prometheus = recorder.handle();
        let metrics = RouteMetrics::default();
        let ms = Duration::from_millis(1);
        metrics::with_local_recorder(&recorder, || {
            for _ in 0..3 {
                metrics.record(
                    &Method::POST,
                    "/coupons/{id}/issue",
                    StatusCode::CONFLICT,
                    ms,
                );
            }
            metrics.record(
                &Method::POST,
                "/coupons/{id}/issue",
                StatusCode::CREATED,
                ms,
            );
            metrics.record(&Method::POST, "/elsewhere", StatusCode::CONFLICT, ms);
        });
        let text = prometheus.render();
        for (labels, count) in [
            (
                r#"method="POST",route="/coupons/{id}/issue",status="409""#,
                3,
            ),
            (
                r#"method="POST",route="/coupons/{id}/issue",status="201""#,
                1,
            ),
            (r#"method="POST",route="/elsewhere",status="409""#, 1),
        ] {
            let line = format!("stampede_http_requests_total{{{labels}}} {count}");
            assert!(text.contains(&line), "{line} is not in:\n{text}");
            let seen = format!("stampede_http_request_duration_seconds_count{{{labels}}} {count}");
            assert!(text.contains(&seen), "{seen} is not in:\n{text}");
        }
    }
}
