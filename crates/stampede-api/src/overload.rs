//! The overload shield: at most `http.max_in_flight` requests are worked on
//! at once; one more is answered `503 OVERLOADED` with `Retry-After` at once.
//!
//! Without it, arrivals faster than the service can answer pile up inside
//! it: every queued request waits for all before it, latency grows without
//! bound and clients time out on requests the server still finishes (work
//! done for nobody). With it, an admitted request waits for at most
//! `max_in_flight` others, so its answer time stays near
//! `max_in_flight ÷ throughput`, and the excess is shed cheaply: a flash
//! sale's fans retry, and a shed request never touched Redis or the
//! database. Probes (`/health`, `/ready`, `/metrics`) are never shed, so an
//! overloaded instance is not mistaken for a dead one.

use crate::error::{ApiError, ErrorCode};
use axum::response::{IntoResponse, Response};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Routes answered whatever the load.
const PROBES: [&str; 3] = ["/health", "/ready", "/metrics"];

/// The count of requests being worked on, shared by every route.
#[derive(Debug, Clone)]
pub struct InFlight {
    count: Arc<AtomicUsize>,
    max: usize,
}

/// One admitted request; leaving frees its place.
#[derive(Debug)]
pub struct Admitted {
    count: Option<Arc<AtomicUsize>>,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        if let Some(count) = &self.count {
            count.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl InFlight {
    /// At most `max` at once; 0 admits everything.
    pub fn new(max: usize) -> Self {
        InFlight {
            count: Arc::default(),
            max,
        }
    }

    /// Admits a request for `route`, or `None` when `max` are in flight.
    pub fn admit(&self, route: Option<&str>) -> Option<Admitted> {
        if self.max == 0 || route.is_some_and(|r| PROBES.contains(&r)) {
            return Some(Admitted { count: None });
        }
        let before = self.count.fetch_add(1, Ordering::Relaxed);
        if before >= self.max {
            self.count.fetch_sub(1, Ordering::Relaxed);
            metrics::counter!("stampede_http_shed_total").increment(1);
            return None;
        }
        Some(Admitted {
            count: Some(self.count.clone()),
        })
    }
}

/// The answer to a shed request.
pub fn shed() -> Response {
    ApiError::unavailable(
        ErrorCode::Overloaded,
        "this instance is at its limit of requests in flight; retry shortly",
    )
    .with_header(axum::http::header::RETRY_AFTER, "1")
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_past_the_limit_is_shed_and_a_freed_place_admits_again() {
        let in_flight = InFlight::new(2);
        let first = in_flight.admit(Some("/coupons/{id}/issue")).unwrap();
        let _second = in_flight.admit(None).unwrap();
        assert!(in_flight.admit(Some("/coupons/{id}/issue")).is_none());
        drop(first);
        assert!(in_flight.admit(Some("/coupons/{id}/issue")).is_some());
    }

    #[test]
    fn probes_are_admitted_at_the_limit_and_take_no_place() {
        let in_flight = InFlight::new(1);
        let _busy = in_flight.admit(None).unwrap();
        for probe in PROBES {
            assert!(in_flight.admit(Some(probe)).is_some(), "{probe}");
        }
        assert!(in_flight.admit(None).is_none());
    }

    #[test]
    fn zero_admits_everything() {
        let in_flight = InFlight::new(0);
        let held: Vec<_> = (0..1000).map(|_| in_flight.admit(None).unwrap()).collect();
        assert_eq!(held.len(), 1000);
    }
}
