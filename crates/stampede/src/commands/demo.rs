//! `stampede demo`: drives a running server end to end and prints what happened.
//!
//! Today it exercises the event backbone: it commits events to the outbox
//! (in transactions, as domain code does, plus one transaction that rolls
//! back), lets the *server's* relay publish them, consumes them with a fresh
//! consumer group, and checks: every committed event arrived, the rolled-back
//! one never did, no aggregate saw its events out of order.

use crate::configuration::Settings;
use crate::probe::{percentile, ProbePinged, Recorder};
use anyhow::{bail, Context};
use stampede_core::events::{DomainEvent, EventEnvelope};
use stampede_infra::kafka::consumer::{run_consumer, ConsumerSpec};
use stampede_infra::kafka::ensure_topics;
use stampede_infra::Infra;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Base URL of the running server (default: from http.host/http.port).
    #[arg(long)]
    url: Option<String>,
    /// Events to commit.
    #[arg(long, default_value_t = 1000)]
    events: u64,
    /// Aggregates they are spread over (ordering is checked per aggregate).
    #[arg(long, default_value_t = 20)]
    aggregates: u64,
}

pub async fn run(settings: Settings, args: DemoArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.events > 0 && args.aggregates > 0,
        "--events and --aggregates must be positive"
    );
    let url = args
        .url
        .unwrap_or_else(|| format!("http://{}:{}", settings.http.host, settings.http.port));
    let http = reqwest::Client::new();
    let ready = http
        .get(format!("{url}/ready"))
        .send()
        .await
        .with_context(|| format!("no server at {url}"))?;
    if !ready.status().is_success() {
        bail!(
            "server at {url} is not ready: {}",
            ready.text().await.unwrap_or_default()
        );
    }

    let infra = Infra::connect(settings.infra()).await?;
    ensure_topics(infra.kafka(), &[ProbePinged::EVENT_TYPE.to_owned()]).await?;
    let run = Uuid::now_v7();
    let recorder = Recorder::new(run);
    let stop = CancellationToken::new();
    let spec = ConsumerSpec::per_record(
        "demo-probe",
        format!("demo-{run}"),
        &[ProbePinged::EVENT_TYPE],
        recorder.clone(),
    );
    let consumer = tokio::spawn(run_consumer(
        spec,
        infra.kafka().clone(),
        infra.producer.clone(),
        stop.clone(),
    ));

    println!("Stampede demo — event backbone (server {url})");
    let started = Instant::now();
    let committed = commit_events(&infra, run, args.events, args.aggregates).await?;
    let arrived = recorder
        .wait_for(committed as usize, Duration::from_secs(60))
        .await;
    let elapsed = started.elapsed();
    stop.cancel();
    let _ = consumer.await;

    let mut latencies: Vec<Duration> = recorder
        .received()
        .iter()
        .filter_map(|r| {
            let occurred = r.event.envelope.occurred_at;
            (chrono::Utc::now() - occurred)
                .to_std()
                .ok()
                .map(|age| age.saturating_sub(r.at.elapsed()))
        })
        .collect();
    latencies.sort();
    let rolled_back_seen = recorder.received().iter().any(|r| {
        r.event
            .envelope
            .payload_as::<ProbePinged>()
            .is_ok_and(|p| p.key.ends_with("rolled-back"))
    });
    let out_of_order = recorder.out_of_order_keys();
    let metrics = http
        .get(format!("{url}/metrics"))
        .send()
        .await?
        .text()
        .await?;
    let published_total = metric_value(&metrics, "stampede_outbox_published_total");

    println!("  events committed to the outbox   {committed} (in transactions of 10, over {} aggregates)", args.aggregates);
    println!(
        "  rolled-back transaction          1 event, seen by the consumer: {}",
        yes_no(rolled_back_seen)
    );
    println!(
        "  events consumed                  {} ({} distinct)",
        recorder.count(),
        recorder.distinct()
    );
    println!("  aggregates out of order          {}", out_of_order.len());
    println!(
        "  commit → consumed latency        p50 {:?}  p99 {:?}",
        percentile(&latencies, 50.0),
        percentile(&latencies, 99.0)
    );
    println!("  wall time                        {elapsed:.2?}");
    println!(
        "  server outbox_published_total    {}",
        published_total.map_or("n/a".into(), |v| v.to_string())
    );
    let ok = arrived
        && !rolled_back_seen
        && out_of_order.is_empty()
        && recorder.distinct() as u64 == committed;
    println!(
        "  verdict                          {}",
        if ok {
            "OK: every committed event arrived once, in order; nothing rolled back leaked"
        } else {
            "FAILED"
        }
    );
    if !ok {
        bail!("the event backbone demo failed");
    }
    Ok(())
}

/// Commits `events` probe events in transactions of 10, then one that rolls back.
async fn commit_events(
    infra: &Infra,
    run: Uuid,
    events: u64,
    aggregates: u64,
) -> anyhow::Result<u64> {
    let mut next_seq = vec![0u64; aggregates as usize];
    let mut written = 0;
    while written < events {
        let mut tx = infra.pool.begin().await?;
        for _ in 0..10.min(events - written) {
            let aggregate = (written % aggregates) as usize;
            let ping = ProbePinged {
                run,
                key: format!("demo-{run}-{aggregate}"),
                seq: next_seq[aggregate],
            };
            next_seq[aggregate] += 1;
            infra
                .outbox
                .append(&mut tx, &EventEnvelope::wrap(&ping))
                .await?;
            written += 1;
        }
        infra.outbox.commit(tx).await?;
    }
    let mut tx = infra.pool.begin().await?;
    let ghost = ProbePinged {
        run,
        key: format!("demo-{run}-rolled-back"),
        seq: 0,
    };
    infra
        .outbox
        .append(&mut tx, &EventEnvelope::wrap(&ghost))
        .await?;
    tx.rollback().await?;
    Ok(written)
}

fn metric_value(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .filter(|line| line.starts_with(name) && !line.starts_with('#'))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .reduce(|a, b| a + b)
}

fn yes_no(value: bool) -> &'static str {
    if value {
        "yes"
    } else {
        "no"
    }
}
