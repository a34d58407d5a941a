//! `stampede bench outbox`: the event backbone's throughput and latency.
//!
//! Three measurements in one run, on a private database (`<name>_bench`)
//! and private topics:
//! 1. the raw producer rate (acks=all, idempotent) — the ceiling;
//! 2. commit → handled latency with events committed at a fixed rate;
//! 3. end to end: a committed backlog of outbox rows → relay → broker →
//!    consumer handled.

use super::progress;
use crate::configuration::Settings;
use crate::probe::{percentile, start_probe, ProbePinged, Recorder};
use futures::StreamExt;
use serde::Serialize;
use sqlx::QueryBuilder;
use stampede_core::events::{DomainEvent, EventEnvelope};
use stampede_infra::kafka::{ensure_topics, OutgoingRecord};
use stampede_infra::Infra;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

#[derive(Debug, clap::Args)]
pub struct OutboxBenchArgs {
    /// Events for the throughput measurements.
    #[arg(long, default_value_t = 100_000)]
    events: u64,
    /// Fixed rate (events/s) of the latency measurement.
    #[arg(long, default_value_t = 1000)]
    rate: u64,
    /// Duration of the latency measurement, in seconds.
    #[arg(long, default_value_t = 10)]
    rate_seconds: u64,
    /// Print a JSON summary instead of the table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Serialize)]
struct Summary {
    events: u64,
    raw_producer_events_per_sec: f64,
    end_to_end_events_per_sec: f64,
    end_to_end_vs_raw: f64,
    fixed_rate_events_per_sec: u64,
    latency_p50_ms: f64,
    latency_p99_ms: f64,
    latency_max_ms: f64,
    goal_throughput_met: bool,
    goal_latency_met: bool,
}

const AGGREGATES: u64 = 1000;

pub async fn run(mut settings: Settings, args: OutboxBenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.events > 0 && args.rate > 0 && args.rate_seconds > 0,
        "counts must be positive"
    );
    let run = Uuid::now_v7();
    settings.database.name = format!("{}_bench", settings.database.name);
    settings.kafka.topic_prefix = format!("bench-{}.", run.simple());
    settings.kafka.group_prefix = settings.kafka.topic_prefix.clone();
    let infra = Infra::connect(settings.infra()).await?;
    stampede_infra::mysql::migrate(&infra.pool).await?;
    sqlx::query("DELETE FROM outbox")
        .execute(&infra.pool)
        .await?;
    ensure_topics(
        infra.kafka(),
        &[ProbePinged::EVENT_TYPE.to_owned(), "probe.raw".to_owned()],
    )
    .await?;

    let raw_rate = raw_producer_rate(&infra, run, args.events, args.json).await?;

    let probe = start_probe(&infra, run, "bench-probe").await?;
    let (recorder, stop) = (probe.recorder.clone(), probe.stop.clone());

    // Latency first, on a quiet database; then the bulk run with a fresh relay.
    let latency_relay = CancellationToken::new();
    let relay = tokio::spawn(infra.relay().run(latency_relay.clone()));
    let latencies = fixed_rate_latencies(&infra, &recorder, run, &args).await?;
    latency_relay.cancel();
    let _ = relay.await;
    let e2e_rate =
        end_to_end_rate(&infra, &recorder, run, args.events, args.json, stop.clone()).await?;
    stop.cancel();
    let _ = probe.task.await;

    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let summary = Summary {
        events: args.events,
        raw_producer_events_per_sec: raw_rate,
        end_to_end_events_per_sec: e2e_rate,
        end_to_end_vs_raw: e2e_rate / raw_rate,
        fixed_rate_events_per_sec: args.rate,
        latency_p50_ms: ms(percentile(&latencies, 50.0)),
        latency_p99_ms: ms(percentile(&latencies, 99.0)),
        latency_max_ms: ms(latencies.last().copied().unwrap_or_default()),
        goal_throughput_met: e2e_rate >= 20_000.0,
        goal_latency_met: ms(percentile(&latencies, 99.0)) < 100.0,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        let met = |ok: bool| if ok { "met" } else { "NOT met" };
        println!(
            "\nOutbox backbone benchmark ({} events, broker {})",
            args.events, settings.kafka.bootstrap_servers
        );
        println!(
            "  raw producer (acks=all, idempotent)   {:>10.0} events/s",
            summary.raw_producer_events_per_sec
        );
        println!(
            "  outbox → relay → broker → consumer    {:>10.0} events/s  ({:.2}× raw)",
            summary.end_to_end_events_per_sec, summary.end_to_end_vs_raw
        );
        println!(
            "  commit → handled at {:>5} events/s   p50 {:.1} ms  p99 {:.1} ms  max {:.1} ms",
            args.rate, summary.latency_p50_ms, summary.latency_p99_ms, summary.latency_max_ms
        );
        println!(
            "  goal ≥ 20000 events/s end to end: {}",
            met(summary.goal_throughput_met)
        );
        println!(
            "  goal p99 < 100 ms at {} events/s: {}",
            args.rate,
            met(summary.goal_latency_met)
        );
    }
    Ok(())
}

fn ping(run: Uuid, n: u64) -> ProbePinged {
    ProbePinged {
        run,
        key: format!("agg-{}", n % AGGREGATES),
        seq: n / AGGREGATES,
    }
}

async fn raw_producer_rate(
    infra: &Infra,
    run: Uuid,
    events: u64,
    quiet: bool,
) -> anyhow::Result<f64> {
    let topic = infra.topics.physical("probe.raw");
    let records: Vec<OutgoingRecord> = (0..events)
        .map(|n| OutgoingRecord::event(topic.clone(), &EventEnvelope::wrap(&ping(run, n))))
        .collect();
    let bar = progress(events, "raw producer");
    bar.set_draw_target(draw_target(quiet));
    let started = Instant::now();
    let mut sends = futures::stream::iter(records.iter().map(|r| infra.producer.send(r)))
        .buffer_unordered(20_000);
    while let Some(result) = sends.next().await {
        result?;
        bar.inc(1);
    }
    let elapsed = started.elapsed();
    bar.finish();
    Ok(events as f64 / elapsed.as_secs_f64())
}

async fn end_to_end_rate(
    infra: &Infra,
    recorder: &Recorder,
    run: Uuid,
    events: u64,
    quiet: bool,
    stop: CancellationToken,
) -> anyhow::Result<f64> {
    // The backlog is committed first (not timed), then the relay is started.
    for chunk_start in (0..events).step_by(1000) {
        let mut insert = QueryBuilder::new(
            "INSERT INTO outbox (id, aggregatetype, aggregateid, type, schema_version, payload, created_at) ",
        );
        insert.push_values(
            chunk_start..(chunk_start + 1000).min(events),
            |mut row, n| {
                let envelope = EventEnvelope::wrap(&ping(run, n));
                row.push_bind(envelope.event_id.to_string())
                    .push_bind(envelope.aggregate_type)
                    .push_bind(envelope.aggregate_id)
                    .push_bind(envelope.event_type)
                    .push_bind(envelope.schema_version)
                    .push_bind(envelope.payload.to_string())
                    .push_bind(envelope.occurred_at.naive_utc());
            },
        );
        insert.build().execute(&infra.pool).await?;
    }
    let before = recorder.count() as u64;
    let bar = progress(events, "outbox end to end");
    bar.set_draw_target(draw_target(quiet));
    let started = Instant::now();
    tokio::spawn(infra.relay().run(stop));
    let target = (before + events) as usize;
    while !recorder.wait_for(target, Duration::from_millis(200)).await {
        bar.set_position(recorder.count() as u64 - before);
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(600),
            "end-to-end run did not finish in 10 minutes"
        );
    }
    let elapsed = started.elapsed();
    bar.finish();
    Ok(events as f64 / elapsed.as_secs_f64())
}

async fn fixed_rate_latencies(
    infra: &Infra,
    recorder: &Recorder,
    run: Uuid,
    args: &OutboxBenchArgs,
) -> anyhow::Result<Vec<Duration>> {
    let total = args.rate * args.rate_seconds;
    let committed_at: Arc<Mutex<HashMap<Uuid, Instant>>> = Arc::default();
    let before = recorder.count();
    let bar = progress(total, "fixed-rate latency");
    bar.set_draw_target(draw_target(args.json));
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / args.rate as f64));
    for n in 0..total {
        ticker.tick().await;
        let envelope = EventEnvelope::wrap(&ping(run, args.events + n));
        let mut tx = infra.pool.begin().await?;
        infra.outbox.append(&mut tx, &envelope).await?;
        infra.outbox.commit(tx).await?;
        committed_at
            .lock()
            .unwrap()
            .insert(envelope.event_id, Instant::now());
        bar.inc(1);
    }
    bar.finish();
    anyhow::ensure!(
        recorder
            .wait_for(before + total as usize, Duration::from_secs(60))
            .await,
        "not every fixed-rate event arrived"
    );
    let committed_at = committed_at.lock().unwrap();
    let mut latencies: Vec<Duration> = recorder.received()[before..]
        .iter()
        .filter_map(|r| {
            committed_at
                .get(&r.event.envelope.event_id)
                .map(|c| r.at.saturating_duration_since(*c))
        })
        .collect();
    latencies.sort();
    Ok(latencies)
}

fn draw_target(quiet: bool) -> indicatif::ProgressDrawTarget {
    if quiet {
        indicatif::ProgressDrawTarget::hidden()
    } else {
        indicatif::ProgressDrawTarget::stderr()
    }
}
