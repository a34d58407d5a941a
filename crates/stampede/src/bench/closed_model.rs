//! A closed-model load: a fixed number of clients, each sending its next
//! request when its last one is answered (`concurrency` in flight), the
//! shape of the classic burst benchmarks. Latency is counted from the
//! send; see `open_model.rs` for arrivals on a schedule.

use super::progress;
use futures::StreamExt;
use hdrhistogram::Histogram;
use std::time::{Duration, Instant};

/// What a burst answered, and how fast.
pub struct Burst {
    pub rate: f64,
    pub elapsed: Duration,
    pub latency: Histogram<u64>,
    pub statuses: Vec<u16>,
    pub ended: Instant,
}

impl Burst {
    pub fn count(&self, status: u16) -> usize {
        self.statuses.iter().filter(|s| **s == status).count()
    }
}

/// Fires `requests` requests built by `request(n)`, `concurrency` in flight.
pub async fn burst(
    requests: usize,
    concurrency: usize,
    label: &str,
    quiet: bool,
    request: impl Fn(usize) -> reqwest::RequestBuilder,
) -> anyhow::Result<Burst> {
    let bar = progress(requests as u64, label);
    if quiet {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let started = Instant::now();
    let answers: Vec<(u16, Duration)> = futures::stream::iter((0..requests).map(|n| {
        let (request, bar) = (request(n), bar.clone());
        async move {
            let sent = Instant::now();
            let status = request
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0);
            bar.inc(1);
            (status, sent.elapsed())
        }
    }))
    .buffer_unordered(concurrency)
    .collect()
    .await;
    let ended = Instant::now();
    bar.finish_and_clear();
    let mut latency = Histogram::<u64>::new(3)?;
    for (_, took) in &answers {
        latency.record(took.as_micros().max(1) as u64)?;
    }
    Ok(Burst {
        rate: answers.len() as f64 / (ended - started).as_secs_f64(),
        elapsed: ended - started,
        latency,
        statuses: answers.into_iter().map(|(s, _)| s).collect(),
        ended,
    })
}

/// A ceiling's burst: `router` (answering `POST /{n}` for request `n`)
/// served on a loopback port, `requests` requests fired at it, then stopped.
pub async fn burst_bare_handler(
    router: axum::Router,
    requests: usize,
    concurrency: usize,
    label: &str,
    quiet: bool,
) -> anyhow::Result<Burst> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let server = tokio::spawn(async move { axum::serve(listener, router).await });
    let http = super::harness::client(concurrency);
    let answered = burst(requests, concurrency, label, quiet, |n| {
        http.post(format!("{base}/{n}"))
    })
    .await;
    server.abort();
    answered
}

/// The `quantile` of `latency` (recorded in µs), in milliseconds.
pub fn ms(latency: &Histogram<u64>, quantile: f64) -> f64 {
    latency.value_at_quantile(quantile) as f64 / 1000.0
}
