//! `stampede bench fcfs`: a 100,000-request burst on 1,000 coupons, per
//! issue mode, side by side with the naive baseline and the ceiling.
//!
//! Modes: `gate` (one Lua script, winners persisted by a batch consumer),
//! `queue` (202 at once, decided in order by a consumer), `db-lock` (a
//! transaction with `SELECT … FOR UPDATE` on the policy row). The ceiling is
//! a bare handler that runs one Redis EVALSHA and nothing else, measured in
//! the same run through the same HTTP client. Every mode must issue exactly
//! the stock; the run fails otherwise.

use super::closed_model::{burst, ms, Burst};
use super::cpu::{CpuMark, CpuPerRequest};
use super::harness::{self, BenchApp};
use super::open_model::{self, ArrivalRate};
use super::report::{median, Goal, Report};
use crate::configuration::Settings;
use axum::routing::post;
use stampede_api::auth::{JwtKeys, Role};
use stampede_infra::mysql::bench::coupons_of_policy;
use std::time::Duration;

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
    /// Issue modes to run, comma-separated (`gate,db-lock`), or `all`.
    #[arg(
        long = "mode",
        value_enum,
        value_delimiter = ',',
        default_value = "all"
    )]
    modes: Vec<Mode>,
    /// With more than one: the gate burst against one `stampede serve`
    /// process and then spread over this many, side by side (see
    /// `bench/fleet.rs`).
    #[arg(long, default_value_t = 1)]
    pub instances: usize,
    /// Put MariaDB and Redis this many milliseconds (per round trip) away,
    /// through a delay proxy (see `bench/network_hop.rs`).
    #[arg(long, default_value_t = 0.0)]
    pub network_delay_ms: f64,
    /// After the closed-model bursts, an open-model gate run at this rate:
    /// requests per second, or `2x` for twice the closed gate rate just
    /// measured (see `bench/open_model.rs`).
    #[arg(long)]
    pub arrival_rate: Option<ArrivalRate>,
    /// How long the open-model run lasts, in seconds.
    #[arg(long, default_value_t = 10)]
    pub arrival_seconds: u64,
    /// The open-model client's virtual users (k6's `maxVUs`): at most this
    /// many requests in flight, each on a kept-alive connection; a due
    /// request that finds them all waiting is dropped and counted.
    #[arg(long, default_value_t = 1000)]
    pub arrival_vus: usize,
    /// How many times the ceiling and every mode run, in turn, each round
    /// on fresh policies: ratios are taken within a round (the ceiling and
    /// the gate minutes apart, not the box's mood of another hour) and the
    /// median round's is reported beside the lowest and the highest.
    /// The queue mode runs in the first round only (its consumer is still
    /// deciding that round's losers afterwards). One instance only
    /// (`--instances 1`).
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Print the report as JSON instead of the table.
    #[arg(long)]
    pub json: bool,
}

impl FcfsBenchArgs {
    /// The burst's shape, as a report's setup.
    pub(super) fn describe<'r>(&self, report: &'r mut Report) -> &'r mut Report {
        report
            .setup("requests", self.requests)
            .setup("users", self.users)
            .setup("stock", self.stock)
            .setup("concurrency", self.concurrency)
            .setup("network_delay_ms", self.network_delay_ms)
    }
}

/// One round: the ceiling's burst, then each mode's, back to back.
struct Round {
    roof: Burst,
    roof_cpu: Option<CpuPerRequest>,
    modes: Vec<ModeResult>,
}

impl Round {
    fn mode(&self, name: &str) -> Option<&ModeResult> {
        self.modes.iter().find(|m| m.mode == name)
    }
}

struct ModeResult {
    mode: &'static str,
    requests_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
    issued: u64,
    persisted_after_burst_secs: Option<f64>,
    exact: bool,
    cpu: Option<CpuPerRequest>,
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
    let before = CpuMark::now(&app.infra.redis).await;
    let result = burst(args.requests, args.concurrency, name, args.json, |n| {
        http.post(&url).bearer_auth(&tokens[n % tokens.len()])
    })
    .await?;
    let cpu = before.per_request(&CpuMark::now(&app.infra.redis).await, args.requests);
    let persisted = || async { coupons_of_policy(&app.infra.pool, id).await.unwrap_or(0) };
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
        cpu,
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

/// The ceiling: an axum handler doing one EVALSHA, served in-process; its
/// burst and what that cost in CPU. It is sent the gate's own requests
/// (`POST /coupons/{id}/issue` with user `n`'s bearer token, which it does
/// not look at), so the client builds, sends and the server parses the same
/// bytes in both runs and the ratio compares only what the servers do.
pub(super) async fn ceiling(
    redis: &stampede_infra::redis::RedisConnection,
    key_prefix: &str,
    http: &reqwest::Client,
    tokens: &[String],
    args: &FcfsBenchArgs,
) -> anyhow::Result<(Burst, Option<CpuPerRequest>)> {
    let key = format!("{key_prefix}bench-ceiling");
    let served = redis.clone();
    let script = std::sync::Arc::new(redis::Script::new("return redis.call('DECR', KEYS[1])"));
    let handler = move || {
        let (mut redis, script, key) = (served.clone(), script.clone(), key.clone());
        async move {
            match script.key(&key).invoke_async::<i64>(&mut redis).await {
                Ok(_) => axum::http::StatusCode::OK,
                Err(_) => axum::http::StatusCode::SERVICE_UNAVAILABLE,
            }
        }
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/coupons/1/issue", listener.local_addr()?);
    let router = axum::Router::new().route("/coupons/{id}/issue", post(handler));
    let server = tokio::spawn(async move { axum::serve(listener, router).await });
    let before = CpuMark::now(redis).await;
    let result = burst(
        args.requests,
        args.concurrency,
        "bare EVALSHA",
        args.json,
        |n| http.post(&url).bearer_auth(&tokens[n % tokens.len()]),
    )
    .await;
    server.abort();
    let cpu = before.per_request(&CpuMark::now(redis).await, args.requests);
    Ok((result?, cpu))
}

pub async fn run(mut settings: Settings, args: FcfsBenchArgs) -> anyhow::Result<Report> {
    anyhow::ensure!(
        args.requests > 0
            && args.users > 0
            && args.stock > 0
            && args.concurrency > 0
            && args.instances > 0
            && args.rounds > 0
            && args.arrival_seconds > 0,
        "counts must be positive"
    );
    let _hop = harness::one_hop_away(&mut settings, args.network_delay_ms)?;
    if args.instances > 1 {
        return super::fleet::run(settings, args).await;
    }
    let app = harness::start(settings, "fcfs", |_| {}).await?;
    let keys = JwtKeys::new(&app.settings.auth);
    let tokens: Vec<String> = (1..=args.users)
        .map(|user| keys.issue(user, Role::User))
        .collect();
    let http = harness::client(args.concurrency);
    let modes = if args.modes.contains(&Mode::All) {
        vec![Mode::Gate, Mode::Queue, Mode::DbLock]
    } else {
        args.modes.clone()
    };
    let mut rounds = Vec::new();
    for _ in 0..args.rounds {
        let (roof, roof_cpu) = ceiling(
            &app.infra.redis,
            &app.settings.redis.key_prefix,
            &http,
            &tokens,
            &args,
        )
        .await?;
        let mut results = Vec::new();
        for &mode in &modes {
            // The queue's consumer decides every queued request in order,
            // losers too, long after the burst: a second round's would wait
            // behind the first's, so the queue runs in the first round only.
            if mode == Mode::Queue && !rounds.is_empty() {
                continue;
            }
            results.push(run_mode(&app, &http, &tokens, &args, mode).await?);
        }
        rounds.push(Round {
            roof,
            roof_cpu,
            modes: results,
        });
    }
    let mut report = closed_report(&args, &rounds);
    if let Some(arrival) = args.arrival_rate {
        let closed_gate = median(
            rounds
                .iter()
                .map(|r| r.mode("gate").map_or(r.roof.rate, |m| m.requests_per_sec)),
        );
        let rate = arrival.resolve(closed_gate);
        let id = open_policy(&http, &app.address, &app.settings, args.stock, "GATE").await?;
        let url = app.url(&format!("/coupons/{id}/issue"));
        let open = harness::client(args.arrival_vus);
        let seconds = Duration::from_secs(args.arrival_seconds);
        let load = open_model::run(rate, seconds, args.arrival_vus, |n| {
            open.post(&url).bearer_auth(&tokens[n % tokens.len()])
        })
        .await?;
        open_report(&mut report, &load, closed_gate, args.stock);
    }
    app.stop().await?;
    Ok(report)
}

fn closed_report(args: &FcfsBenchArgs, rounds: &[Round]) -> Report {
    let mut report = Report::new("fcfs");
    args.describe(&mut report).setup("rounds", rounds.len());
    let roof_rate = median(rounds.iter().map(|r| r.roof.rate));
    report
        .ceiling("bare_evalsha_requests_per_sec", roof_rate)
        .ceiling(
            "bare_evalsha_p99_ms",
            median(rounds.iter().map(|r| ms(&r.roof.latency, 0.99))),
        );
    report.line(format!(
        "FCFS benchmark: {} requests from {} users on {} coupons, {} concurrent{}; {} round(s), each the ceiling then every mode",
        args.requests,
        args.users,
        args.stock,
        args.concurrency,
        hop_label(args.network_delay_ms),
        rounds.len()
    ));
    report.line(format!(
        "  {:>5} {:<14} {:>12} {:>9} {:>9} {:>8} {:>18} {:>7}",
        "round", "mode", "requests/s", "p50 ms", "p99 ms", "issued", "persisted after", "exact"
    ));
    for (n, round) in rounds.iter().enumerate() {
        report.line(format!(
            "  {:>5} {:<14} {:>12.0} {:>9} {:>9.1} {:>8} {:>18} {:>7}",
            n + 1,
            "bare EVALSHA",
            round.roof.rate,
            "",
            ms(&round.roof.latency, 0.99),
            "",
            "",
            ""
        ));
        for m in &round.modes {
            let persisted = m
                .persisted_after_burst_secs
                .map_or("never".to_owned(), |t| format!("{t:.2} s"));
            report.line(format!(
                "  {:>5} {:<14} {:>12.0} {:>9.1} {:>9.1} {:>8} {:>18} {:>7}",
                n + 1,
                m.mode,
                m.requests_per_sec,
                m.p50_ms,
                m.p99_ms,
                m.issued,
                persisted,
                if m.exact { "yes" } else { "NO" }
            ));
        }
        let cpu_rows = std::iter::once(("bare EVALSHA", round.roof_cpu))
            .chain(round.modes.iter().map(|m| (m.mode, m.cpu)));
        for (label, cpu) in cpu_rows {
            if let Some(cpu) = cpu {
                report.line(format!("  {:>5} {}", n + 1, cpu.line(label)));
            }
        }
    }
    mode_figures(&mut report, rounds);
    if rounds.iter().all(|r| r.mode("gate").is_some()) {
        let against_roof: Vec<(f64, f64)> = rounds
            .iter()
            .map(|r| {
                let gate = r.mode("gate").map_or(0.0, |g| g.requests_per_sec);
                (gate, r.roof.rate)
            })
            .collect();
        report.ratio_of_rounds("gate_vs_bare_evalsha", &against_roof);
        report
            .goal("gate_vs_bare_evalsha", Goal::AtLeast(0.7))
            .goal("gate_p99_ms", Goal::AtMost(50.0));
        if report.has_figure("gate_persisted_after_burst_secs") {
            report.goal("gate_persisted_after_burst_secs", Goal::AtMost(2.0));
        }
        if rounds.iter().all(|r| r.mode("db-lock").is_some()) {
            let against_lock: Vec<(f64, f64)> = rounds
                .iter()
                .map(|r| {
                    let rate = |name| r.mode(name).map_or(0.0, |m| m.requests_per_sec);
                    (rate("gate"), rate("db-lock"))
                })
                .collect();
            report.ratio_of_rounds("gate_vs_db_lock", &against_lock);
            // Over loopback a lock held across round trips costs little; a
            // network hop is where the naive design falls behind.
            let goal = if args.network_delay_ms > 0.0 {
                20.0
            } else {
                10.0
            };
            report.goal("gate_vs_db_lock", Goal::AtLeast(goal));
        }
    }
    report
}

/// Each mode's figures as the median over the rounds it ran in (the worst
/// round for how long persisting took), its check passed only if every
/// one of them passed; the same for the CPU per request.
fn mode_figures(report: &mut Report, rounds: &[Round]) {
    let Some(first) = rounds.first() else { return };
    for mode in first.modes.iter().map(|m| m.mode) {
        let runs: Vec<&ModeResult> = rounds.iter().filter_map(|r| r.mode(mode)).collect();
        let of = |value: fn(&ModeResult) -> f64| median(runs.iter().map(|m| value(m)));
        report
            .figure(
                format!("{mode}_requests_per_sec"),
                of(|m| m.requests_per_sec),
            )
            .figure(format!("{mode}_p50_ms"), of(|m| m.p50_ms))
            .figure(format!("{mode}_p99_ms"), of(|m| m.p99_ms))
            .check(
                format!("{mode}_issued_exactly_the_stock"),
                runs.iter().all(|m| m.exact),
            );
        let persisted: Option<Vec<f64>> =
            runs.iter().map(|m| m.persisted_after_burst_secs).collect();
        if let Some(worst) = persisted.and_then(|all| all.into_iter().reduce(f64::max)) {
            report.figure(format!("{mode}_persisted_after_burst_secs"), worst);
        }
        let cpus: Vec<CpuPerRequest> = runs.iter().filter_map(|m| m.cpu).collect();
        cpu_figures(report, mode, &cpus, false);
    }
    let roof_cpus: Vec<CpuPerRequest> = rounds.iter().filter_map(|r| r.roof_cpu).collect();
    cpu_figures(report, "bare_evalsha", &roof_cpus, true);
}

/// The median CPU per request of `cpus` under `{name}_…`, as ceilings or
/// figures.
fn cpu_figures(report: &mut Report, name: &str, cpus: &[CpuPerRequest], ceiling: bool) {
    let Some(middle) = CpuPerRequest::median(cpus) else {
        return;
    };
    for (figure, value) in middle.figures() {
        let name = format!("{name}_{figure}");
        if ceiling {
            report.ceiling(name, value);
        } else {
            report.figure(name, value);
        }
    }
}

fn open_report(report: &mut Report, load: &open_model::OpenLoad, closed_gate: f64, stock: u64) {
    let served_p99 = ms(&load.served_latency, 0.99);
    let shed_p99 = ms(&load.shed_latency, 0.99);
    report
        .setup("arrival_rate_per_sec", load.offered_rate)
        .setup("arrival_virtual_users", load.virtual_users)
        .figure("open_offered_per_sec", load.offered_rate)
        .figure("open_answered_per_sec", load.answered_rate)
        .figure("open_served_p50_ms", ms(&load.served_latency, 0.5))
        .figure("open_served_p99_ms", served_p99)
        .figure("open_shed_p99_ms", shed_p99)
        .figure("open_shed", load.shed() as f64)
        .figure("open_dropped", load.dropped() as f64)
        .figure("open_not_started", load.not_started as f64)
        .goal("open_served_p99_ms", Goal::AtMost(250.0))
        .check("open_gate_never_over_issued", load.count(201) <= stock);
    report.ratio(
        "open_offered_vs_closed_gate",
        load.offered_rate,
        closed_gate,
    );
    report.line(format!(
        "  open model: {:.0} requests/s offered ({:.1}× the closed gate) for {} requests",
        load.offered_rate,
        load.offered_rate / closed_gate.max(1.0),
        load.scheduled
    ));
    report.line(format!(
        "    answered {:.0}/s: 201 {} · 409 {} · shed 429/503 {} · dropped {} (no answer {}, not started {})",
        load.answered_rate,
        load.count(201),
        load.count(409),
        load.shed(),
        load.dropped(),
        load.count(0),
        load.not_started
    ));
    report.line(format!(
        "    latency from the scheduled time: served p50 {:.1} ms p99 {served_p99:.1} ms; shed p99 {shed_p99:.1} ms",
        ms(&load.served_latency, 0.5)
    ));
}

fn hop_label(delay_ms: f64) -> String {
    if delay_ms > 0.0 {
        format!(", MariaDB and Redis {delay_ms} ms away")
    } else {
        String::new()
    }
}
