//! `stampede bench fcfs --instances N`: the gate-mode burst against one
//! `stampede serve` process, then spread round-robin over N of them, in
//! one run, beside the bare EVALSHA ceiling. Every burst must issue exactly
//! the stock.
//!
//! On one machine N processes share its cores with the client, Redis,
//! MariaDB and the brokers, so N instances are not expected to be faster:
//! the run shows what scaling out costs per request instead, in Redis
//! commands per request (the coordination every instance pays, counted by
//! Redis itself) and in latency.

use super::closed_model::{burst, ms};
use super::fcfs::{ceiling, open_policy, FcfsBenchArgs};
use super::report::Report;
use crate::configuration::Settings;
use anyhow::Context;
use stampede_api::auth::{JwtKeys, Role};
use stampede_infra::mysql::bench::coupons_of_policy;
use stampede_infra::Infra;
use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};

/// How long an instance may take to serve (connect, migrate, topics).
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// One `stampede serve` child, killed when dropped.
struct Instance {
    url: String,
    _child: Child,
}

/// How a child `serve` is told the settings [`super::harness::isolated`]
/// changed, so it and this process share the database and prefixes.
fn child_environment(settings: &Settings) -> Vec<(&'static str, String)> {
    let consumer = &settings.kafka.consumer;
    vec![
        ("STAMPEDE__DATABASE__URL", settings.database.url.clone()),
        ("STAMPEDE__DATABASE__NAME", settings.database.name.clone()),
        ("STAMPEDE__REDIS__URL", settings.redis.url.clone()),
        (
            "STAMPEDE__KAFKA__TOPIC_PREFIX",
            settings.kafka.topic_prefix.clone(),
        ),
        (
            "STAMPEDE__KAFKA__GROUP_PREFIX",
            settings.kafka.group_prefix.clone(),
        ),
        (
            "STAMPEDE__REDIS__KEY_PREFIX",
            settings.redis.key_prefix.clone(),
        ),
        (
            "STAMPEDE__KAFKA__CONSUMER__SESSION_TIMEOUT_MS",
            consumer.session_timeout_ms.to_string(),
        ),
        (
            "STAMPEDE__KAFKA__CONSUMER__HEARTBEAT_INTERVAL_MS",
            consumer.heartbeat_interval_ms.to_string(),
        ),
        (
            "STAMPEDE__RATE_LIMIT__PER_USER_PER_SEC",
            settings.rate_limit.per_user_per_sec.to_string(),
        ),
        (
            "STAMPEDE__RATE_LIMIT__GLOBAL_PER_SEC",
            settings.rate_limit.global_per_sec.to_string(),
        ),
        (
            "STAMPEDE__RECONCILE__ENABLED",
            settings.reconcile.enabled.to_string(),
        ),
        ("STAMPEDE__LOG__LEVEL", "warn".into()),
    ]
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Starts `stampede serve` (this binary) with `vars` and waits for /ready.
async fn start_instance(
    http: &reqwest::Client,
    vars: &[(&'static str, String)],
) -> anyhow::Result<Instance> {
    let port = free_port()?;
    let child = Command::new(std::env::current_exe()?)
        .arg("serve")
        // A bench fleet is local processes signing with this one's secret.
        .env("STAMPEDE__PROFILE", "local")
        .envs(vars.iter().map(|(k, v)| (*k, v.as_str())))
        .env("STAMPEDE__HTTP__PORT", port.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("starting stampede serve")?;
    let url = format!("http://127.0.0.1:{port}");
    let deadline = tokio::time::Instant::now() + START_TIMEOUT;
    loop {
        let ready = http.get(format!("{url}/ready")).send().await;
        if ready.is_ok_and(|r| r.status().is_success()) {
            return Ok(Instance { url, _child: child });
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "an instance on {port} did not serve within {START_TIMEOUT:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

struct Spread {
    label: String,
    rate: f64,
    p50_ms: f64,
    p99_ms: f64,
    commands_per_request: Option<f64>,
    exact: bool,
}

/// One gate burst over `targets` (request n to target n mod len), checked
/// exact: the stock answered 201 and persisted, nothing but 201/409.
async fn spread_burst(
    infra: &Infra,
    settings: &Settings,
    http: &reqwest::Client,
    tokens: &[String],
    args: &FcfsBenchArgs,
    targets: &[&Instance],
) -> anyhow::Result<Spread> {
    let id = open_policy(http, &targets[0].url, settings, args.stock, "GATE").await?;
    let urls: Vec<String> = targets
        .iter()
        .map(|i| format!("{}/coupons/{id}/issue", i.url))
        .collect();
    let label = format!("gate on {}", targets.len());
    let before = super::redis_info::commands(&infra.redis).await;
    let result = burst(args.requests, args.concurrency, &label, args.json, |n| {
        http.post(&urls[n % urls.len()])
            .bearer_auth(&tokens[n % tokens.len()])
    })
    .await?;
    let after = super::redis_info::commands(&infra.redis).await;
    let won = result.statuses.iter().filter(|s| **s == 201).count() as u64;
    let unexpected = result.statuses.iter().any(|s| ![201, 409].contains(s));
    let persisted = || async { coupons_of_policy(&infra.pool, id).await.unwrap_or(0) };
    while persisted().await < args.stock && result.ended.elapsed() < Duration::from_secs(120) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(Spread {
        label,
        rate: result.rate,
        p50_ms: ms(&result.latency, 0.5),
        p99_ms: ms(&result.latency, 0.99),
        commands_per_request: before
            .zip(after)
            .map(|(b, a)| a.saturating_sub(b) as f64 / args.requests as f64),
        exact: won == args.stock && persisted().await == args.stock && !unexpected,
    })
}

pub async fn run(settings: Settings, args: FcfsBenchArgs) -> anyhow::Result<Report> {
    let settings = super::harness::isolated(settings, "fleet");
    let vars = child_environment(&settings);
    super::harness::drop_database(&settings).await?;
    let http = super::harness::client(args.concurrency);
    // The first creates the database and the topics the others find.
    let mut instances = vec![start_instance(&http, &vars).await?];
    for _ in 1..args.instances {
        instances.push(start_instance(&http, &vars).await?);
    }
    let infra = Infra::connect(settings.infra()).await?;
    let keys = JwtKeys::new(&settings.auth);
    let tokens: Vec<String> = (1..=args.users)
        .map(|user| keys.issue(user, Role::User))
        .collect();

    let (roof, _) = ceiling(
        &infra.redis,
        &settings.redis.key_prefix,
        &http,
        &tokens,
        &args,
    )
    .await?;
    let one = spread_burst(&infra, &settings, &http, &tokens, &args, &[&instances[0]]).await?;
    let all: Vec<&Instance> = instances.iter().collect();
    let many = spread_burst(&infra, &settings, &http, &tokens, &args, &all).await?;
    drop(instances);

    let mut report = Report::new("fcfs-fleet");
    args.describe(&mut report)
        .setup("instances", args.instances)
        .ceiling("bare_evalsha_requests_per_sec", roof.rate);
    report.line(format!(
        "FCFS gate, one instance against {}: {} requests from {} users on {} coupons, {} concurrent",
        args.instances, args.requests, args.users, args.stock, args.concurrency
    ));
    report.line(format!(
        "  {:<16} {:>12} {:>9} {:>9} {:>16} {:>7}",
        "target", "requests/s", "p50 ms", "p99 ms", "Redis cmds/req", "exact"
    ));
    report.line(format!(
        "  {:<16} {:>12.0} {:>9} {:>9.1}",
        "bare EVALSHA",
        roof.rate,
        "",
        ms(&roof.latency, 0.99)
    ));
    for (name, spread) in [("one", &one), ("many", &many)] {
        let commands = spread
            .commands_per_request
            .map_or("n/a".to_owned(), |c| format!("{c:.2}"));
        report.line(format!(
            "  {:<16} {:>12.0} {:>9.1} {:>9.1} {:>16} {:>7}",
            spread.label,
            spread.rate,
            spread.p50_ms,
            spread.p99_ms,
            commands,
            if spread.exact { "yes" } else { "NO" }
        ));
        report
            .figure(format!("gate_on_{name}_requests_per_sec"), spread.rate)
            .figure(format!("gate_on_{name}_p99_ms"), spread.p99_ms)
            .check(
                format!("gate_on_{name}_issued_exactly_the_stock"),
                spread.exact,
            );
        if let Some(commands) = spread.commands_per_request {
            report.figure(
                format!("gate_on_{name}_redis_commands_per_request"),
                commands,
            );
        }
    }
    report.ratio("many_vs_one", many.rate, one.rate);
    report.ratio("one_vs_bare_evalsha", one.rate, roof.rate);
    report.ratio("many_vs_bare_evalsha", many.rate, roof.rate);
    Ok(report)
}
