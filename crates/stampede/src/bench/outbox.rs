//! `stampede bench outbox`: the event backbone's throughput and latency.
//!
//! Four measurements in one run, on a private database (`<name>_bench`)
//! and private topics:
//! 1. the raw producer rate (acks=all, idempotent): the broker's ceiling;
//! 2. the bare claim loop on MariaDB without Kafka (`SELECT … FOR UPDATE
//!    SKIP LOCKED` a batch, mark it published, commit): the database's
//!    ceiling. The lower of the two says which side bounds the relay;
//! 3. commit → handled latency with events committed at a fixed rate;
//! 4. end to end: a committed backlog of outbox rows → relay → broker →
//!    consumer handled.

use super::progress;
use super::report::{Goal, Report};
use crate::configuration::Settings;
use crate::probe::{percentile, start_probe, ProbePinged, Recorder};
use futures::StreamExt;
use stampede_core::events::{DomainEvent, EventEnvelope};
use stampede_infra::kafka::{ensure_topics, OutgoingRecord};
use stampede_infra::mysql::bench;
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
    /// Print the report as JSON instead of the table.
    #[arg(long)]
    pub json: bool,
}

const AGGREGATES: u64 = 1000;

pub async fn run(mut settings: Settings, args: OutboxBenchArgs) -> anyhow::Result<Report> {
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
    bench::clear_outbox(&infra.pool).await?;
    ensure_topics(
        infra.kafka(),
        &[ProbePinged::EVENT_TYPE.to_owned(), "probe.raw".to_owned()],
    )
    .await?;

    let raw_rate = raw_producer_rate(&infra, run, args.events, args.json).await?;
    let claim_rate = claim_loop_rate(
        &infra,
        run,
        args.events,
        settings.outbox.batch_size,
        args.json,
    )
    .await?;

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
    let (p50, p99) = (
        ms(percentile(&latencies, 50.0)),
        ms(percentile(&latencies, 99.0)),
    );
    let max = ms(latencies.last().copied().unwrap_or_default());
    let mut report = Report::new("outbox");
    report
        .setup("events", args.events)
        .setup("fixed_rate_events_per_sec", args.rate)
        .setup("broker", &settings.kafka.bootstrap_servers)
        .ceiling("raw_producer_events_per_sec", raw_rate)
        .ceiling("bare_claim_loop_events_per_sec", claim_rate)
        .figure("end_to_end_events_per_sec", e2e_rate)
        .figure("fixed_rate_p50_ms", p50)
        .figure("fixed_rate_p99_ms", p99)
        .figure("fixed_rate_max_ms", max);
    report.ratio("end_to_end_vs_raw_producer", e2e_rate, raw_rate);
    report.ratio("end_to_end_vs_bare_claim_loop", e2e_rate, claim_rate);
    report
        .goal("end_to_end_vs_raw_producer", Goal::AtLeast(0.3))
        .goal("fixed_rate_p99_ms", Goal::AtMost(100.0))
        .check(
            "every_fixed_rate_event_handled",
            latencies.len() as u64 == args.rate * args.rate_seconds,
        );
    let bound = if raw_rate < claim_rate {
        "the broker (raw producer) is the lower ceiling"
    } else {
        "MariaDB (bare claim loop) is the lower ceiling"
    };
    report
        .line(format!(
            "Outbox backbone benchmark ({} events, broker {})",
            args.events, settings.kafka.bootstrap_servers
        ))
        .line(format!(
            "  raw producer (acks=all, idempotent)   {raw_rate:>10.0} events/s"
        ))
        .line(format!(
            "  bare claim loop (MariaDB, no Kafka)   {claim_rate:>10.0} events/s   → {bound}"
        ))
        .line(format!(
            "  outbox → relay → broker → consumer    {e2e_rate:>10.0} events/s"
        ))
        .line(format!(
            "  commit → handled at {:>5} events/s   p50 {p50:.1} ms  p99 {p99:.1} ms  max {max:.1} ms",
            args.rate
        ));
    Ok(report)
}

/// The bare claim loop over a committed backlog of `events` rows: claim a
/// batch, mark it, commit, until none is left.
async fn claim_loop_rate(
    infra: &Infra,
    run: Uuid,
    events: u64,
    batch: u32,
    quiet: bool,
) -> anyhow::Result<f64> {
    bench::seed_outbox(&infra.pool, &backlog(run, events)).await?;
    let bar = progress(events, "bare claim loop");
    bar.set_draw_target(draw_target(quiet));
    let started = Instant::now();
    let mut marked = 0;
    loop {
        let step = bench::bare_claim_and_mark(&infra.pool, batch).await?;
        if step == 0 {
            break;
        }
        marked += step;
        bar.set_position(marked);
    }
    let elapsed = started.elapsed();
    bar.finish();
    anyhow::ensure!(
        marked == events,
        "the claim loop marked {marked} of {events} rows"
    );
    Ok(events as f64 / elapsed.as_secs_f64())
}

/// `events` pings as outbox envelopes, for a committed backlog.
fn backlog(run: Uuid, events: u64) -> Vec<EventEnvelope> {
    (0..events)
        .map(|n| EventEnvelope::wrap(&ping(run, n)))
        .collect()
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
    bench::seed_outbox(&infra.pool, &backlog(run, events)).await?;
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
