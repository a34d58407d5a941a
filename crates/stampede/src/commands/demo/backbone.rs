//! Part 1: the event backbone. Events are committed to the outbox in
//! transactions, as domain code does (plus one transaction that rolls
//! back); the *server's* relay publishes them; a fresh consumer group reads
//! them. Every committed event must arrive once, the rolled-back one never,
//! and no aggregate may see its events out of order.

use super::client::{metric_sum, Api};
use super::yes_no;
use crate::probe::{percentile, start_probe, ProbePinged};
use stampede_core::events::{DomainEvent, EventEnvelope};
use stampede_infra::kafka::ensure_topics;
use stampede_infra::Infra;
use std::time::{Duration, Instant};
use uuid::Uuid;

pub async fn run(api: &Api, infra: &Infra, events: u64, aggregates: u64) -> anyhow::Result<bool> {
    ensure_topics(infra.kafka(), &[ProbePinged::EVENT_TYPE.to_owned()]).await?;
    let run = Uuid::now_v7();
    let probe = start_probe(infra, run, "demo-probe").await?;
    let recorder = probe.recorder.clone();

    println!(
        "Stampede demo — 1. event backbone (server {})",
        api.urls().join(", ")
    );
    let started = Instant::now();
    let committed = commit_events(infra, run, events, aggregates).await?;
    let arrived = recorder
        .wait_for(committed as usize, Duration::from_secs(60))
        .await;
    let elapsed = started.elapsed();
    probe.stop.cancel();
    let _ = probe.task.await;

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
    let published = metric_sum(&api.metrics().await?, "stampede_outbox_published_total");

    println!("  events committed to the outbox   {committed} (in transactions of 10, over {aggregates} aggregates)");
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
    println!("  server outbox_published_total    {published}");
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
    Ok(ok)
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
