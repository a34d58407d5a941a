//! An open-model load: requests start on a schedule, whether or not the
//! earlier ones have been answered (k6's constant-arrival-rate).
//!
//! A closed model (N clients, each waiting for its answer before the next
//! request) slows down with the server and so never overloads it, and when
//! latency is measured from the moment a waiting client finally sends, a
//! stall hides in the numbers ("coordinated omission"). Fans in a flash
//! sale do not wait for each other. Here request `n` is due at
//! `start + n ÷ rate`; its latency is counted from when it was due, so a
//! server that falls behind shows it. What the client cannot start (all
//! its virtual users wait for answers already) or what gets no answer
//! within `TIMEOUT` is counted as dropped, never silently skipped.
//!
//! Virtual users bound the client as k6's `maxVUs` does: at most that many
//! requests are in flight, each on a kept-alive connection of the client's
//! pool (size the pool to match), so a server that falls behind meets a
//! fixed number of connections and not a storm of new ones — which on a
//! shared box would spend on accepting connections the cores the server
//! needs to answer, and measure the client's collapse instead of the
//! server's.

use hdrhistogram::Histogram;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// A request with no answer by then is dropped.
const TIMEOUT: Duration = Duration::from_secs(10);

/// How the requests of an open-model run went.
pub struct OpenLoad {
    /// Requests per second scheduled.
    pub offered_rate: f64,
    /// Requests in flight at most.
    pub virtual_users: usize,
    pub scheduled: u64,
    /// Answers by status (0: no answer: a connection error or the timeout).
    pub statuses: Vec<u16>,
    /// Due time → answer, for answers the server worked on (not shed).
    pub served_latency: Histogram<u64>,
    /// Due time → answer, for requests shed with 429 or 503.
    pub shed_latency: Histogram<u64>,
    /// Due but not started: every virtual user waited for an answer.
    pub not_started: u64,
    /// Answers per second the server gave, shed ones included.
    pub answered_rate: f64,
}

impl OpenLoad {
    pub fn count(&self, status: u16) -> u64 {
        self.statuses.iter().filter(|s| **s == status).count() as u64
    }

    /// Answered 429 or 503: refused cheaply, to be retried.
    pub fn shed(&self) -> u64 {
        self.count(429) + self.count(503)
    }

    /// No answer at all, or not started.
    pub fn dropped(&self) -> u64 {
        self.count(0) + self.not_started
    }
}

fn is_shed(status: u16) -> bool {
    status == 429 || status == 503
}

/// Runs `rate` requests per second for `duration` with at most
/// `virtual_users` in flight, request `n` built by `request(n)`.
pub async fn run(
    rate: f64,
    duration: Duration,
    virtual_users: usize,
    request: impl Fn(usize) -> reqwest::RequestBuilder,
) -> anyhow::Result<OpenLoad> {
    anyhow::ensure!(
        rate > 0.0 && duration > Duration::ZERO && virtual_users > 0,
        "an open-model run needs a positive rate, duration and number of virtual users"
    );
    let total = (rate * duration.as_secs_f64()).round().max(1.0) as u64;
    let outstanding = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    let mut not_started = 0;
    let start = Instant::now() + Duration::from_millis(20);
    for n in 0..total {
        let due = start + Duration::from_secs_f64(n as f64 / rate);
        tokio::time::sleep_until(due).await;
        if outstanding.load(Ordering::Relaxed) >= virtual_users {
            not_started += 1;
            continue;
        }
        outstanding.fetch_add(1, Ordering::Relaxed);
        let (request, outstanding) = (request(n as usize).timeout(TIMEOUT), outstanding.clone());
        tasks.spawn(async move {
            let status = request
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0);
            outstanding.fetch_sub(1, Ordering::Relaxed);
            (status, due.elapsed())
        });
    }
    let mut statuses = Vec::with_capacity(total as usize);
    let mut served_latency = Histogram::<u64>::new(3)?;
    let mut shed_latency = Histogram::<u64>::new(3)?;
    while let Some(answer) = tasks.join_next().await {
        let (status, took) = answer?;
        statuses.push(status);
        let micros = took.as_micros().max(1) as u64;
        match status {
            0 => {}
            s if is_shed(s) => shed_latency.record(micros)?,
            _ => served_latency.record(micros)?,
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let answered = statuses.iter().filter(|s| **s != 0).count();
    Ok(OpenLoad {
        offered_rate: rate,
        virtual_users,
        scheduled: total,
        statuses,
        served_latency,
        shed_latency,
        not_started,
        answered_rate: answered as f64 / elapsed,
    })
}

/// `--arrival-rate`: requests per second, or `<k>x` for k times the
/// closed-model gate rate measured in the same run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ArrivalRate {
    PerSecond(f64),
    TimesClosed(f64),
}

impl ArrivalRate {
    pub fn resolve(self, closed_rate: f64) -> f64 {
        match self {
            ArrivalRate::PerSecond(rate) => rate,
            ArrivalRate::TimesClosed(factor) => factor * closed_rate,
        }
    }
}

impl std::str::FromStr for ArrivalRate {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (number, times) = match text.strip_suffix('x') {
            Some(factor) => (factor, true),
            None => (text, false),
        };
        let value: f64 = number
            .trim()
            .parse()
            .map_err(|_| format!("`{text}` is not a rate (e.g. 5000, or 2x)"))?;
        if !(value.is_finite() && value > 0.0) {
            return Err(format!("`{text}`: the rate must be positive"));
        }
        Ok(if times {
            ArrivalRate::TimesClosed(value)
        } else {
            ArrivalRate::PerSecond(value)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_arrival_rate_is_a_number_or_a_multiple_of_the_closed_rate() {
        assert_eq!("5000".parse(), Ok(ArrivalRate::PerSecond(5000.0)));
        assert_eq!("2x".parse(), Ok(ArrivalRate::TimesClosed(2.0)));
        assert_eq!(ArrivalRate::TimesClosed(2.0).resolve(800.0), 1600.0);
        assert!("0".parse::<ArrivalRate>().is_err());
        assert!("-1x".parse::<ArrivalRate>().is_err());
        assert!("fast".parse::<ArrivalRate>().is_err());
    }

    #[tokio::test]
    async fn requests_start_on_schedule_even_when_answers_are_slow() {
        // A server that answers after 300 ms: a closed client of one would
        // manage 3 requests a second; the open model starts 20 in 0.5 s.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let slow = axum::Router::new().route(
            "/",
            axum::routing::get(|| async {
                tokio::time::sleep(Duration::from_millis(300)).await;
                "late"
            }),
        );
        tokio::spawn(async move { axum::serve(listener, slow).await });
        let http = reqwest::Client::new();
        let load = run(40.0, Duration::from_millis(500), 100, |_| http.get(&url))
            .await
            .unwrap();
        assert_eq!(load.scheduled, 20);
        assert_eq!(load.count(200), 20, "every scheduled request was answered");
        assert_eq!(load.dropped(), 0);
        assert!(
            load.served_latency.min() >= 300_000,
            "latency counts from the due time, so no answer is faster than the server"
        );
        // Two virtual users: the third due request finds both waiting.
        let load = run(40.0, Duration::from_millis(500), 2, |_| http.get(&url))
            .await
            .unwrap();
        assert_eq!(load.count(200) + load.not_started, 20);
        assert!(load.count(200) <= 6, "{} answered", load.count(200));
        assert!(load.not_started >= 14, "{} not started", load.not_started);
    }
}
