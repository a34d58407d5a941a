//! `stampede bench fcfs`: a 100,000-request burst on 1,000 coupons, per
//! issue mode, side by side with the naive baseline and the ceiling.
//!
//! Modes: `gate` (one Lua script, winners persisted by a batch consumer),
//! `queue` (202 at once, decided in order by a consumer), `db-lock` (a
//! transaction with `SELECT … FOR UPDATE` on the policy row). The ceiling is
//! a bare handler that runs one Redis EVALSHA and nothing else, measured in
//! the same run through the same HTTP client. Every mode must issue exactly
//! the stock; the run fails otherwise.

use super::harness::{self, BenchApp};
use super::progress;
use crate::configuration::Settings;
use axum::routing::post;
use futures::StreamExt;
use hdrhistogram::Histogram;
use serde::Serialize;
use stampede_api::auth::{JwtKeys, Role};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    Gate,
    Queue,
    DbLock,
    All,
}

#[derive(Debug, clap::Args)]
pub struct FcfsBenchArgs {
    #[arg(long, default_value_t = 100_000)]
    pub requests: usize,
    #[arg(long, default_value_t = 100_000)]
    pub users: u64,
    #[arg(long, default_value_t = 1000)]
    pub stock: u64,
    #[arg(long, default_value_t = 200)]
    pub concurrency: usize,
    #[arg(long, value_enum, default_value_t = Mode::All)]
    mode: Mode,
    /// With more than one: the gate burst against one `stampede serve`
    /// process and then spread over this many, side by side (see
    /// `bench/fleet.rs`).
    #[arg(long, default_value_t = 1)]
    pub instances: usize,
    /// Print a JSON summary instead of the table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Serialize)]
struct ModeResult {
    mode: &'static str,
    requests_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
    issued: u64,
    persisted_after_burst_secs: Option<f64>,
    exact: bool,
}

#[derive(Debug, Serialize)]
struct Summary {
    requests: usize,
    users: u64,
    stock: u64,
    concurrency: usize,
    ceiling_requests_per_sec: f64,
    ceiling_p99_ms: f64,
    modes: Vec<ModeResult>,
}

pub(super) struct Burst {
    pub rate: f64,
    pub latency: Histogram<u64>,
    pub statuses: Vec<u16>,
    pub ended: Instant,
}

/// Fires `requests` requests built by `request(n)`, `concurrency` in flight.
pub(super) async fn burst(
    args: &FcfsBenchArgs,
    label: &str,
    quiet: bool,
    request: impl Fn(usize) -> reqwest::RequestBuilder,
) -> anyhow::Result<Burst> {
    let bar = progress(args.requests as u64, label);
    if quiet {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let started = Instant::now();
    let answers: Vec<(u16, Duration)> = futures::stream::iter((0..args.requests).map(|n| {
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
    .buffer_unordered(args.concurrency)
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
        latency,
        statuses: answers.into_iter().map(|(s, _)| s).collect(),
        ended,
    })
}

pub(super) fn ms(latency: &Histogram<u64>, quantile: f64) -> f64 {
    latency.value_at_quantile(quantile) as f64 / 1000.0
}

async fn run_mode(
    app: &BenchApp,
    http: &reqwest::Client,
    tokens: &[String],
    args: &FcfsBenchArgs,
    mode: Mode,
) -> anyhow::Result<ModeResult> {
    let (name, wire) = match mode {
        Mode::Gate => ("gate", "GATE"),
        Mode::Queue => ("queue", "QUEUE"),
        _ => ("db-lock", "DB_LOCK"),
    };
    let id = open_policy(http, &app.address, &app.settings, args.stock, wire).await?;
    let url = app.url(&format!("/coupons/{id}/issue"));
    let result = burst(args, name, args.json, |n| {
        http.post(&url).bearer_auth(&tokens[n % tokens.len()])
    })
    .await?;
    let persisted = || async {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM user_coupons WHERE policy_id = ?")
            .bind(id)
            .fetch_one(&app.infra.pool)
            .await
            .unwrap_or(0) as u64
    };
    let mut persisted_after = None;
    while result.ended.elapsed() < Duration::from_secs(120) {
        if persisted().await >= args.stock {
            persisted_after = Some(result.ended.elapsed().as_secs_f64());
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let issued = match mode {
        Mode::Queue => persisted().await,
        _ => result.statuses.iter().filter(|s| **s == 201).count() as u64,
    };
    let db_rows = persisted().await;
    let unexpected = result
        .statuses
        .iter()
        .filter(|s| ![201, 202, 409].contains(*s))
        .count();
    Ok(ModeResult {
        mode: name,
        requests_per_sec: result.rate,
        p50_ms: ms(&result.latency, 0.5),
        p99_ms: ms(&result.latency, 0.99),
        issued,
        persisted_after_burst_secs: persisted_after,
        exact: issued == args.stock && db_rows == args.stock && unexpected == 0,
    })
}

/// Creates and opens a coupon policy of `stock` in issue mode `wire` on
/// the server at `base`; its id.
pub(super) async fn open_policy(
    http: &reqwest::Client,
    base: &str,
    settings: &Settings,
    stock: u64,
    wire: &str,
) -> anyhow::Result<u64> {
    let admin = JwtKeys::new(&settings.auth).issue(1, Role::Admin);
    let now = chrono::Utc::now();
    let policy = serde_json::json!({
        "name": format!("bench {wire}"), "discount": {"kind": "FIXED", "amount": 1000}, "total_stock": stock,
        "issue_window": {"opens_at": now - chrono::Duration::minutes(1), "closes_at": now + chrono::Duration::hours(2)},
        "valid_days": 7, "issue_mode": wire,
    });
    let created: serde_json::Value = http
        .post(format!("{base}/admin/coupon-policies"))
        .bearer_auth(&admin)
        .json(&policy)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let id = created["id"]
        .as_u64()
        .ok_or_else(|| anyhow::anyhow!("no policy id"))?;
    http.post(format!("{base}/admin/coupon-policies/{id}/open"))
        .bearer_auth(&admin)
        .send()
        .await?
        .error_for_status()?;
    Ok(id)
}

/// The ceiling: an axum handler doing one EVALSHA, served in-process.
pub(super) async fn ceiling(
    redis: &stampede_infra::redis::RedisConnection,
    key_prefix: &str,
    http: &reqwest::Client,
    args: &FcfsBenchArgs,
) -> anyhow::Result<Burst> {
    let key = format!("{key_prefix}bench-ceiling");
    let redis = redis.clone();
    let script = std::sync::Arc::new(redis::Script::new("return redis.call('DECR', KEYS[1])"));
    let handler = move || {
        let (mut redis, script, key) = (redis.clone(), script.clone(), key.clone());
        async move {
            match script.key(&key).invoke_async::<i64>(&mut redis).await {
                Ok(_) => axum::http::StatusCode::OK,
                Err(_) => axum::http::StatusCode::SERVICE_UNAVAILABLE,
            }
        }
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/", listener.local_addr()?);
    let server = tokio::spawn(async move {
        axum::serve(listener, axum::Router::new().route("/", post(handler))).await
    });
    let result = burst(args, "bare EVALSHA", args.json, |_| http.post(&url)).await;
    server.abort();
    result
}

pub async fn run(settings: Settings, args: FcfsBenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.requests > 0
            && args.users > 0
            && args.stock > 0
            && args.concurrency > 0
            && args.instances > 0,
        "counts must be positive"
    );
    if args.instances > 1 {
        return super::fleet::run(settings, args).await;
    }
    let app = harness::start(settings, "fcfs", |_| {}).await?;
    let keys = JwtKeys::new(&app.settings.auth);
    let tokens: Vec<String> = (1..=args.users)
        .map(|user| keys.issue(user, Role::User))
        .collect();
    let http = harness::client(args.concurrency);
    let modes = match args.mode {
        Mode::All => vec![Mode::Gate, Mode::Queue, Mode::DbLock],
        one => vec![one],
    };
    let roof = ceiling(
        &app.infra.redis,
        &app.settings.redis.key_prefix,
        &http,
        &args,
    )
    .await?;
    let mut results = Vec::new();
    for mode in modes {
        results.push(run_mode(&app, &http, &tokens, &args, mode).await?);
    }
    app.stop().await?;
    let summary = Summary {
        requests: args.requests,
        users: args.users,
        stock: args.stock,
        concurrency: args.concurrency,
        ceiling_requests_per_sec: roof.rate,
        ceiling_p99_ms: ms(&roof.latency, 0.99),
        modes: results,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print_table(&summary);
    }
    anyhow::ensure!(
        summary.modes.iter().all(|m| m.exact),
        "a mode did not issue exactly the stock"
    );
    Ok(())
}

fn print_table(s: &Summary) {
    println!(
        "\nFCFS benchmark: {} requests from {} users on {} coupons, {} concurrent",
        s.requests, s.users, s.stock, s.concurrency
    );
    println!(
        "  {:<14} {:>12} {:>9} {:>9} {:>8} {:>18} {:>7}",
        "mode", "requests/s", "p50 ms", "p99 ms", "issued", "persisted after", "exact"
    );
    println!(
        "  {:<14} {:>12.0} {:>9} {:>9.1} {:>8} {:>18} {:>7}",
        "bare EVALSHA", s.ceiling_requests_per_sec, "", s.ceiling_p99_ms, "", "", ""
    );
    for m in &s.modes {
        let persisted = m
            .persisted_after_burst_secs
            .map_or("never".to_owned(), |t| format!("{t:.2} s"));
        println!(
            "  {:<14} {:>12.0} {:>9.1} {:>9.1} {:>8} {:>18} {:>7}",
            m.mode,
            m.requests_per_sec,
            m.p50_ms,
            m.p99_ms,
            m.issued,
            persisted,
            if m.exact { "yes" } else { "NO" }
        );
    }
    let rate = |name: &str| {
        s.modes
            .iter()
            .find(|m| m.mode == name)
            .map(|m| m.requests_per_sec)
    };
    let met = |ok: bool| if ok { "met" } else { "NOT met" };
    if let Some(gate) = s.modes.iter().find(|m| m.mode == "gate") {
        if let Some(db) = rate("db-lock") {
            println!(
                "  gate ÷ db-lock throughput   {:.1}×  (goal ≥ 10×: {})",
                gate.requests_per_sec / db,
                met(gate.requests_per_sec >= 10.0 * db)
            );
        }
        let ratio = gate.requests_per_sec / s.ceiling_requests_per_sec;
        println!(
            "  gate ÷ bare ceiling         {ratio:.2}×  (goal ≥ 0.5×: {})",
            met(ratio >= 0.5)
        );
        println!(
            "  gate p99                    {:.1} ms (goal < 50 ms: {})",
            gate.p99_ms,
            met(gate.p99_ms < 50.0)
        );
        let persisted = gate.persisted_after_burst_secs.unwrap_or(f64::INFINITY);
        println!(
            "  gate winners persisted      {persisted:.2} s after the burst (goal ≤ 2 s: {})",
            met(persisted <= 2.0)
        );
    }
}
