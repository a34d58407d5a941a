//! `stampede bench queue`: the waiting room under an open-model crowd.
//!
//! Fans arrive on a schedule (5,000 a second for 10 s by default), not as a
//! fixed number of connections, and each takes a queue token; then, for as
//! long again, fans who joined poll their position at `--poll-rate`. The
//! admission scheduler admits at `--admit-per-second` all along.
//!
//! Reported: the p99 of joining and of a position poll, beside a bare
//! handler doing one Redis call (ZADD, ZRANK) under the same schedule;
//! Redis commands per poll (`INFO stats`' total_commands_processed, which
//! counts the commands inside Lua scripts one by one; the admission
//! scheduler's few included); and admission accuracy: tokens admitted per second while fans
//! were waiting ÷ the target rate, sampled every second.

use super::closed_model::ms;
use super::harness;
use super::open_model::{self, OpenLoad};
use super::report::{Goal, Report};
use crate::configuration::Settings;
use axum::extract::Path;
use axum::routing::{get, post};
use stampede_api::auth::{JwtKeys, Role};
use stampede_infra::redis::RedisConnection;
use std::time::Duration;

#[derive(Debug, clap::Args)]
pub struct QueueBenchArgs {
    /// Fans arriving per second, each taking a queue token.
    #[arg(long, default_value_t = 5000.0)]
    arrival_rate: f64,
    /// For how long fans arrive; the polls run as long again.
    #[arg(long, default_value_t = 10)]
    arrival_seconds: u64,
    /// Position polls per second, by fans who joined.
    #[arg(long, default_value_t = 2000.0)]
    poll_rate: f64,
    /// Tokens the scheduler admits per second (in 200 ms steps).
    #[arg(long, default_value_t = 500)]
    admit_per_second: u64,
    /// Print the report as JSON instead of the table.
    #[arg(long)]
    pub json: bool,
}

/// The admission scheduler's step.
const ADMIT_INTERVAL_MS: u64 = 200;
/// The open-model client's bound on requests in flight: far above what a
/// join or a poll keeps in flight at these rates, so arrivals stay open.
const VIRTUAL_USERS: usize = 20_000;

pub async fn run(settings: Settings, args: QueueBenchArgs) -> anyhow::Result<Report> {
    anyhow::ensure!(
        args.arrival_rate > 0.0
            && args.poll_rate > 0.0
            && args.arrival_seconds > 0
            && args.admit_per_second >= 1000 / ADMIT_INTERVAL_MS,
        "rates and seconds must be positive, --admit-per-second at least {}",
        1000 / ADMIT_INTERVAL_MS
    );
    anyhow::ensure!(
        settings.redis.cluster_nodes().is_empty(),
        "bench queue counts Redis commands with INFO on a single Redis"
    );
    let per_interval = args.admit_per_second * ADMIT_INTERVAL_MS / 1000;
    let app = harness::start(settings, "queue", |s| {
        s.concert.admit_interval_ms = ADMIT_INTERVAL_MS;
        s.concert.admit_per_interval = per_interval;
    })
    .await?;
    let seconds = Duration::from_secs(args.arrival_seconds);
    // At least one fan, so the polls always have someone to ask for.
    let fans = (args.arrival_rate * seconds.as_secs_f64()).round().max(1.0) as u64;
    let keys = JwtKeys::new(&app.settings.auth);
    let tokens: Vec<String> = (1..=fans).map(|fan| keys.issue(fan, Role::User)).collect();
    let http = harness::client(1024);
    let concert = on_sale(&http, &app.address, &keys).await?;

    let ceiling = bare_redis(
        &app.infra.redis,
        &app.settings.redis.key_prefix,
        &args,
        fans,
    )
    .await?;

    let sampler = AdmissionSampler::start(http.clone(), app.url("/metrics"), concert);
    let join_url = app.url("/queue/tokens");
    let body = serde_json::json!({ "concert_id": concert });
    let joins = open_model::run(args.arrival_rate, seconds, VIRTUAL_USERS, |n| {
        http.post(&join_url).bearer_auth(&tokens[n]).json(&body)
    })
    .await?;
    let poll_url = app.url(&format!("/queue/tokens/me?concert_id={concert}"));
    let redis_commands = || async {
        super::redis_info::commands(&app.infra.redis)
            .await
            .ok_or_else(|| anyhow::anyhow!("Redis's INFO has no command count"))
    };
    let commands_before = redis_commands().await?;
    let polls = open_model::run(args.poll_rate, seconds, VIRTUAL_USERS, |n| {
        http.get(&poll_url)
            .bearer_auth(&tokens[polled_fan(n, fans) as usize])
    })
    .await?;
    let commands = redis_commands().await? - commands_before;
    let admitted_per_second = sampler.stop().await;
    app.stop().await?;

    Ok(queue_report(
        &args,
        &joins,
        &polls,
        &ceiling,
        commands,
        &admitted_per_second,
    ))
}

/// A concert with one schedule on sale now; its id.
async fn on_sale(http: &reqwest::Client, base: &str, keys: &JwtKeys) -> anyhow::Result<u64> {
    let body = serde_json::json!({
        "title": "bench queue",
        "schedules": [{
            "starts_at": chrono::Utc::now() + chrono::Duration::days(30),
            "venue": "Hall",
            "booking_opens_at": chrono::Utc::now() - chrono::Duration::minutes(1),
            "seats": [{"grade": "R", "price": 1000, "count": 100}],
        }],
    });
    let created: serde_json::Value = http
        .post(format!("{base}/admin/concerts"))
        .bearer_auth(keys.issue(1, Role::Admin))
        .json(&body)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    created["id"]
        .as_u64()
        .ok_or_else(|| anyhow::anyhow!("the concert was not created: {created}"))
}

/// Both answers of the bare handler: one ZADD per join, one ZRANK per poll.
struct BareRedis {
    joins: OpenLoad,
    polls: OpenLoad,
}

/// The ceiling: an axum handler doing one Redis call per request and
/// nothing else, under the same open-model schedule.
async fn bare_redis(
    redis: &RedisConnection,
    key_prefix: &str,
    args: &QueueBenchArgs,
    fans: u64,
) -> anyhow::Result<BareRedis> {
    let key = format!("{key_prefix}bench-queue-ceiling");
    let (join_redis, poll_redis) = (redis.clone(), redis.clone());
    let (join_key, poll_key) = (key.clone(), key);
    let join = move |Path(fan): Path<u64>| {
        let (mut redis, key) = (join_redis.clone(), join_key.clone());
        async move {
            let added: redis::RedisResult<i64> = redis::cmd("ZADD")
                .arg(&key)
                .arg(fan)
                .arg(fan)
                .query_async(&mut redis)
                .await;
            status_of(added)
        }
    };
    let poll = move |Path(fan): Path<u64>| {
        let (mut redis, key) = (poll_redis.clone(), poll_key.clone());
        async move {
            let rank: redis::RedisResult<Option<i64>> = redis::cmd("ZRANK")
                .arg(&key)
                .arg(fan)
                .query_async(&mut redis)
                .await;
            status_of(rank)
        }
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let router = axum::Router::new()
        .route("/join/{fan}", post(join))
        .route("/poll/{fan}", get(poll));
    let server = tokio::spawn(async move { axum::serve(listener, router).await });
    let http = harness::client(1024);
    let seconds = Duration::from_secs(args.arrival_seconds);
    let joins = open_model::run(args.arrival_rate, seconds, VIRTUAL_USERS, |n| {
        http.post(format!("{base}/join/{n}"))
    })
    .await;
    let polls = open_model::run(args.poll_rate, seconds, VIRTUAL_USERS, |n| {
        http.get(format!("{base}/poll/{}", polled_fan(n, fans)))
    })
    .await;
    server.abort();
    Ok(BareRedis {
        joins: joins?,
        polls: polls?,
    })
}

/// Which of `fans` (0-based) asks poll `n`: spread over everyone who
/// joined, as a crowd refreshing would, the same for Stampede and the bare
/// handler.
fn polled_fan(n: usize, fans: u64) -> u64 {
    (n as u64 * 7_919) % fans
}

fn status_of<T>(answer: redis::RedisResult<T>) -> axum::http::StatusCode {
    match answer {
        Ok(_) => axum::http::StatusCode::OK,
        Err(_) => axum::http::StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// Reads `stampede_queue_admitted_total` and `stampede_queue_waiting` for
/// the concert every second: the tokens admitted in each second that began
/// with fans waiting.
struct AdmissionSampler {
    stop: tokio_util::sync::CancellationToken,
    task: tokio::task::JoinHandle<Vec<f64>>,
}

impl AdmissionSampler {
    fn start(http: reqwest::Client, metrics_url: String, concert: u64) -> Self {
        let stop = tokio_util::sync::CancellationToken::new();
        let until = stop.clone();
        let task = tokio::spawn(async move {
            let label = format!("concert=\"{concert}\"");
            let read = |name: &'static str| {
                let (http, url, label) = (http.clone(), metrics_url.clone(), label.clone());
                async move {
                    let text = http.get(&url).send().await.ok()?.text().await.ok()?;
                    Some(series_value(&text, name, &label).unwrap_or(0.0))
                }
            };
            let mut per_second = Vec::new();
            let mut ticks = tokio::time::interval(Duration::from_secs(1));
            ticks.tick().await;
            let mut last = read("stampede_queue_admitted_total").await;
            let mut waiting = read("stampede_queue_waiting").await;
            loop {
                tokio::select! {
                    _ = until.cancelled() => break,
                    _ = ticks.tick() => {}
                }
                let now = read("stampede_queue_admitted_total").await;
                if let (Some(before), Some(after), Some(w)) = (last, now, waiting) {
                    if w > 0.0 {
                        per_second.push(after - before);
                    }
                }
                last = now;
                waiting = read("stampede_queue_waiting").await;
            }
            per_second
        });
        AdmissionSampler { stop, task }
    }

    async fn stop(self) -> Vec<f64> {
        self.stop.cancel();
        self.task.await.unwrap_or_default()
    }
}

/// The value of the series `name{…label…}` in a Prometheus text page.
fn series_value(text: &str, name: &str, label: &str) -> Option<f64> {
    text.lines()
        .filter(|line| line.starts_with(name) && line.contains(label))
        .find_map(|line| line.rsplit(' ').next()?.parse().ok())
}

fn queue_report(
    args: &QueueBenchArgs,
    joins: &OpenLoad,
    polls: &OpenLoad,
    ceiling: &BareRedis,
    commands: u64,
    admitted_per_second: &[f64],
) -> Report {
    let mut report = Report::new("queue");
    report
        .setup("arrival_rate", args.arrival_rate)
        .setup("arrival_seconds", args.arrival_seconds)
        .setup("poll_rate", args.poll_rate)
        .setup("admit_per_second", args.admit_per_second);
    let p99 = |load: &OpenLoad| ms(&load.served_latency, 0.99);
    let answered_polls = polls.count(200).max(1);
    let commands_per_poll = commands as f64 / answered_polls as f64;
    let target = args.admit_per_second as f64;
    let mean_admitted = if admitted_per_second.is_empty() {
        0.0
    } else {
        admitted_per_second.iter().sum::<f64>() / admitted_per_second.len() as f64
    };
    let worst_second = admitted_per_second
        .iter()
        .map(|admitted| (admitted - target).abs() / target)
        .fold(0.0, f64::max);
    report
        .figure("join_p99_ms", p99(joins))
        .figure("poll_p99_ms", p99(polls))
        .figure("joins_answered_per_sec", joins.answered_rate)
        .figure("tokens_taken", joins.count(201) as f64)
        .figure("joins_shed", joins.shed() as f64)
        .figure("polls_answered_per_sec", polls.answered_rate)
        .figure("redis_commands_per_poll", commands_per_poll)
        .figure("admitted_per_sec", mean_admitted)
        .figure("worst_second_admission_error", worst_second)
        .ceiling("bare_zadd_p99_ms", p99(&ceiling.joins))
        .ceiling("bare_zrank_p99_ms", p99(&ceiling.polls));
    report.ratio("join_p99 ÷ bare_zadd_p99", p99(joins), p99(&ceiling.joins));
    report.ratio("poll_p99 ÷ bare_zrank_p99", p99(polls), p99(&ceiling.polls));
    report.ratio("admitted ÷ target", mean_admitted, target);
    report
        .goal("admitted ÷ target", Goal::AtLeast(0.9))
        .goal("poll_p99 ÷ bare_zrank_p99", Goal::AtMost(5.0));
    report
        // Shedding (503 OVERLOADED) and drops under overload are figures;
        // an error answer is a failure.
        .check("no join answered 500", joins.count(500) == 0)
        .check("no poll answered 500", polls.count(500) == 0)
        .check(
            "never more admitted than the rate allows",
            admitted_per_second.iter().all(|a| *a <= target * 1.5),
        );
    report.line(format!(
        "Queue benchmark: {:.0} fans/s for {} s, then {:.0} polls/s as long; admitting {}/s",
        args.arrival_rate, args.arrival_seconds, args.poll_rate, args.admit_per_second
    ));
    report.line(format!(
        "  {:<22} {:>12} {:>9} {:>9} {:>9} {:>9}",
        "", "answered/s", "p50 ms", "p99 ms", "shed", "dropped"
    ));
    for (name, load) in [
        ("join (Stampede)", joins),
        ("join (bare ZADD)", &ceiling.joins),
        ("poll (Stampede)", polls),
        ("poll (bare ZRANK)", &ceiling.polls),
    ] {
        report.line(format!(
            "  {:<22} {:>12.0} {:>9.1} {:>9.1} {:>9} {:>9}",
            name,
            load.answered_rate,
            ms(&load.served_latency, 0.5),
            p99(load),
            load.shed(),
            load.dropped()
        ));
    }
    report.line(format!(
        "  Redis commands per poll {commands_per_poll:.2}; admitted {mean_admitted:.0}/s of {target:.0}/s \
         (worst second {:.0}% off, {} seconds sampled)",
        worst_second * 100.0,
        admitted_per_second.len()
    ));
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_series_is_read_by_its_name_and_label() {
        let page = "# HELP x\nstampede_queue_waiting{concert=\"7\"} 12\n\
                    stampede_queue_waiting{concert=\"8\"} 3\n\
                    stampede_queue_admitted_total{concert=\"7\"} 40\n";
        assert_eq!(
            series_value(page, "stampede_queue_waiting", "concert=\"8\""),
            Some(3.0)
        );
        assert_eq!(
            series_value(page, "stampede_queue_admitted_total", "concert=\"7\""),
            Some(40.0)
        );
        assert_eq!(
            series_value(page, "stampede_queue_active", "concert=\"7\""),
            None
        );
    }
}
