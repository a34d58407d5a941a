//! An in-process Stampede on a private database and private topics, for
//! benchmarks that drive it over HTTP like real clients would.

use super::network_hop::{self, DelayProxy};
use crate::configuration::Settings;
use crate::startup::Application;
use stampede_infra::Infra;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub struct BenchApp {
    pub address: String,
    pub infra: Infra,
    pub settings: Settings,
    stop: CancellationToken,
    handle: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// Starts the service on a fresh `<database>_bench_<name>` database with
/// unique topic, group and key prefixes, rate limits and the reconciliation
/// scheduler off. `adjust` may change settings further.
pub async fn start(
    settings: Settings,
    name: &str,
    adjust: impl FnOnce(&mut Settings),
) -> anyhow::Result<BenchApp> {
    start_running(settings, name, adjust, true).await
}

/// `settings` made a benchmark's own: the `<database>_bench_<name>`
/// database, unique topic, group and key prefixes, fast group joins, rate
/// limits and the reconciliation scheduler off.
pub fn isolated(mut settings: Settings, name: &str) -> Settings {
    let run = Uuid::now_v7().simple().to_string();
    settings.database.name = format!("{}_bench_{name}", settings.database.name);
    let prefix = format!("bench{name}-{run}.");
    settings.kafka.topic_prefix = prefix.clone();
    settings.kafka.group_prefix = prefix.clone();
    settings.redis.key_prefix = format!("{prefix}:");
    settings.kafka.consumer.session_timeout_ms = 2000;
    settings.kafka.consumer.heartbeat_interval_ms = 300;
    settings.rate_limit.per_user_per_sec = 0;
    settings.rate_limit.global_per_sec = 0;
    settings.reconcile.enabled = false;
    settings
}

/// [`start`], with or without the registry's consumers (an API-only
/// instance is how a deployment keeps consumers off the request path).
pub async fn start_running(
    settings: Settings,
    name: &str,
    adjust: impl FnOnce(&mut Settings),
    consumers: bool,
) -> anyhow::Result<BenchApp> {
    let mut settings = isolated(settings, name);
    settings.http.port = 0;
    adjust(&mut settings);
    drop_database(&settings).await?;
    let app = if consumers {
        Application::build(settings.clone()).await?
    } else {
        Application::build_running(settings.clone(), |_| vec![]).await?
    };
    let address = format!("http://127.0.0.1:{}", app.port());
    let infra = app.infra().clone();
    let stop = app.shutdown_token();
    let handle = tokio::spawn(app.run_until_stopped());
    Ok(BenchApp {
        address,
        infra,
        settings,
        stop,
        handle,
    })
}

/// Drops the benchmark's database of an earlier run, so this one starts empty.
pub async fn drop_database(settings: &Settings) -> anyhow::Result<()> {
    let pool = stampede_infra::mysql::connect(&settings.database).await?;
    stampede_infra::mysql::drop_database(&pool, &settings.database.name).await?;
    pool.close().await;
    Ok(())
}

/// Puts MariaDB and Redis `delay_ms` (a round trip's worth) away from
/// `settings`' users: their URLs are pointed at [`DelayProxy`]s, which must
/// live as long as the run. No proxies for a delay of 0.
pub fn one_hop_away(settings: &mut Settings, delay_ms: f64) -> anyhow::Result<Vec<DelayProxy>> {
    anyhow::ensure!(
        (0.0..=1000.0).contains(&delay_ms),
        "--network-delay-ms must be between 0 and 1000"
    );
    if delay_ms == 0.0 {
        return Ok(Vec::new());
    }
    anyhow::ensure!(
        settings.redis.cluster_nodes().is_empty(),
        "--network-delay-ms needs a single Redis: a cluster's clients follow the addresses its nodes announce"
    );
    let delay = std::time::Duration::from_secs_f64(delay_ms / 1000.0);
    let database = DelayProxy::start(
        &network_hop::upstream_of(&settings.database.url, 3306)?,
        delay,
    )?;
    let redis = DelayProxy::start(&network_hop::upstream_of(&settings.redis.url, 6379)?, delay)?;
    settings.database.url = network_hop::through(&settings.database.url, database.address())?;
    settings.redis.url = network_hop::through(&settings.redis.url, redis.address())?;
    Ok(vec![database, redis])
}

impl BenchApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn stop(self) -> anyhow::Result<()> {
        self.stop.cancel();
        self.handle.await?
    }
}

/// An HTTP client for `concurrency` parallel requests.
pub fn client(concurrency: usize) -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()
        .expect("a reqwest client builds")
}
