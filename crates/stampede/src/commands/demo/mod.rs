//! `stampede demo`: drives a running server end to end and prints what happened.
//!
//! 1. The event backbone: it commits events to the outbox (in transactions,
//!    as domain code does, plus one transaction that rolls back), lets the
//!    *server's* relay publish them, consumes them with a fresh consumer
//!    group, and checks: every committed event arrived once, the rolled-back
//!    one never did, no aggregate saw its events out of order.
//! 2. A flash sale: an admin opens a coupon policy with a few hundred
//!    coupons, thousands of simulated users hit "get coupon" at once, the
//!    winners are persisted by the batch consumer, and the audit compares
//!    Redis with the database.

use crate::configuration::Settings;
use crate::probe::{percentile, start_probe, ProbePinged};
use anyhow::{bail, Context};
use futures::StreamExt;
use stampede_api::auth::{JwtKeys, Role};
use stampede_core::events::{DomainEvent, EventEnvelope};
use stampede_infra::kafka::ensure_topics;
use stampede_infra::Infra;
use std::time::{Duration, Instant};
use uuid::Uuid;

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Base URL of the running server (default: from http.host/http.port).
    #[arg(long)]
    url: Option<String>,
    /// Events to commit in the backbone check.
    #[arg(long, default_value_t = 500)]
    events: u64,
    /// Aggregates they are spread over (ordering is checked per aggregate).
    #[arg(long, default_value_t = 20)]
    aggregates: u64,
    /// Coupons in the flash sale.
    #[arg(long, default_value_t = 300)]
    coupons: u64,
    /// Simulated users; each asks once, and one in five asks twice.
    #[arg(long, default_value_t = 3000)]
    users: u64,
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
    let probe = start_probe(&infra, run, "demo-probe").await?;
    let recorder = probe.recorder.clone();

    println!("Stampede demo — event backbone (server {url})");
    let started = Instant::now();
    let committed = commit_events(&infra, run, args.events, args.aggregates).await?;
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
    flash_sale(&settings, &infra, &http, &url, args.coupons, args.users).await
}

/// The flash sale: open a policy, burst it, wait for persistence, audit.
async fn flash_sale(
    settings: &Settings,
    infra: &Infra,
    http: &reqwest::Client,
    url: &str,
    coupons: u64,
    users: u64,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        coupons > 0 && users > 0,
        "--coupons and --users must be positive"
    );
    let keys = JwtKeys::new(&settings.auth);
    let admin = keys.issue(1, Role::Admin);
    let now = chrono::Utc::now();
    let policy = serde_json::json!({
        "name": "Stampede demo flash sale",
        "discount": {"kind": "PERCENT", "percent": 30, "cap": 10000},
        "total_stock": coupons,
        "issue_window": {"opens_at": now - chrono::Duration::seconds(5), "closes_at": now + chrono::Duration::hours(1)},
        "valid_days": 7,
    });
    let created: serde_json::Value = http
        .post(format!("{url}/admin/coupon-policies"))
        .bearer_auth(&admin)
        .json(&policy)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let id = created["id"]
        .as_u64()
        .context("the server returned no policy id")?;
    http.post(format!("{url}/admin/coupon-policies/{id}/open"))
        .bearer_auth(&admin)
        .send()
        .await?
        .error_for_status()?;

    // Users 1000+ so the demo's shoppers are not the admin; one in five asks twice.
    let shoppers: Vec<u64> = (0..users)
        .map(|n| 1000 + n)
        .chain((0..users / 5).map(|n| 1000 + n * 5))
        .collect();
    let tokens: Vec<String> = shoppers
        .iter()
        .map(|&user| keys.issue(user, Role::User))
        .collect();
    println!(
        "\nStampede demo — flash sale: {coupons} coupons, {users} users, {} requests",
        tokens.len()
    );
    let bar = crate::bench::progress(tokens.len() as u64, "requests");
    let started = Instant::now();
    let issue = format!("{url}/coupons/{id}/issue");
    let answers: Vec<(u16, String)> = futures::stream::iter(tokens.iter().map(|token| {
        let (http, issue, bar) = (http.clone(), issue.clone(), bar.clone());
        async move {
            let answer = match http.post(&issue).bearer_auth(token).send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let body: serde_json::Value = response.json().await.unwrap_or_default();
                    (status, body["code"].as_str().unwrap_or("").to_owned())
                }
                Err(_) => (0, "NETWORK".to_owned()),
            };
            bar.inc(1);
            answer
        }
    }))
    .buffer_unordered(100)
    .collect()
    .await;
    let burst = started.elapsed();
    bar.finish_and_clear();
    let count = |status: u16, code: &str| {
        answers
            .iter()
            .filter(|(s, c)| *s == status && c == code)
            .count()
    };
    let won = count(201, "");
    let others = answers.len()
        - won
        - count(409, "SOLD_OUT")
        - count(409, "ALREADY_ISSUED")
        - count(429, "RATE_LIMITED");

    let persisted_at = Instant::now();
    let mut persisted = false;
    while persisted_at.elapsed() < Duration::from_secs(30) {
        let view: serde_json::Value = http
            .get(format!("{url}/coupons/{id}"))
            .send()
            .await?
            .json()
            .await?;
        if view["persisted"].as_u64() == Some(won as u64) {
            persisted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let persist_time = persisted_at.elapsed();
    println!(
        "  requests answered                {} in {burst:.2?} ({:.0}/s)",
        answers.len(),
        answers.len() as f64 / burst.as_secs_f64()
    );
    println!("  201 won                          {won}");
    println!(
        "  409 SOLD_OUT                     {}",
        count(409, "SOLD_OUT")
    );
    println!(
        "  409 ALREADY_ISSUED               {}",
        count(409, "ALREADY_ISSUED")
    );
    println!(
        "  429 RATE_LIMITED                 {}",
        count(429, "RATE_LIMITED")
    );
    println!("  anything else                    {others}");
    println!(
        "  all winners in the database      {} ({persist_time:.2?} after the burst)",
        yes_no(persisted)
    );
    let report = crate::commands::audit::audit_coupons(infra, id).await?;
    println!("\n{report}");
    let ok = won as u64 == coupons && others == 0 && persisted && report.in_agreement();
    println!(
        "\n  verdict                          {}",
        if ok {
            "OK: exactly the stock issued, nobody twice, Redis and the database agree"
        } else {
            "FAILED"
        }
    );
    if !ok {
        bail!("the flash sale demo failed");
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
