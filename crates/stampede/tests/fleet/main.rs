//! Stampede scaled out: three `stampede serve` processes sharing MariaDB,
//! Redis and the three-broker Kafka cluster (the dev broker where Apache
//! Kafka cannot run), as behind a load balancer; and the gate, the waiting
//! queue, seat holds and rate limits on a three-master Redis Cluster. The
//! brokers and the Redis Cluster are shared, so scripts/test.sh runs this
//! binary one test at a time, after the fast suite.

mod burst;
mod demo;
mod kill_one;
mod limits;
mod redis_cluster;
mod rolling_restart;
#[path = "../support/mod.rs"]
mod support;
mod waiting_room;

use stampede::commands::pg_sim::PgSimConfig;
use stampede::configuration::Settings;
use support::brokers::{apache_kafka_unavailable, Cluster};
use support::client::Client;
use support::fleet::{Balancer, Fleet};
use support::pg_sim::{start_pg_sim, PgSimProcess};
use support::settings::Overrides;

/// Unique settings on the Kafka cluster (started if needed) when Apache
/// Kafka runs here, else on the dev broker; a healer that notices a dead
/// instance within seconds.
pub async fn fleet_overrides() -> Overrides {
    let mut overrides = Overrides::unique();
    if apache_kafka_unavailable().is_none() {
        Cluster::up().await;
        overrides
            .set("kafka.bootstrap_servers", Cluster::BOOTSTRAP)
            .set("kafka.replication_factor", 3);
    }
    overrides
        .set("healer.interval_ms", 500)
        .set("healer.heartbeat_ttl_ms", 1500);
    overrides
}

/// Three instances with `overrides`, a client of them and the database
/// they share.
pub async fn three_instances(overrides: &Overrides) -> (Fleet, Client, sqlx::MySqlPool) {
    let settings = overrides.settings();
    let fleet = Fleet::start(3, overrides).await;
    let db = stampede_infra::mysql::connect(&settings.database)
        .await
        .unwrap();
    (fleet, Client::new(&settings), db)
}

/// Callbacks from pg-sim are signed with this.
const PG_SECRET: &str = "fleet-test-callback-secret-0123456789";

/// A shop as it is deployed: pg-sim (`pg`'s knobs), and three instances
/// behind a load balancer, which is where the PG calls back.
pub struct Shop {
    pub fleet: Fleet,
    pub balancer: Balancer,
    pub settings: Settings,
    pub pg_port: u16,
    _sim: PgSimProcess,
}

impl Shop {
    /// `adjust` changes the instances' settings further.
    pub async fn start(pg: PgSimConfig, adjust: impl FnOnce(&mut Overrides)) -> Self {
        let (sim, pg_port) = start_pg_sim(&PgSimConfig {
            secret: PG_SECRET.into(),
            ..pg
        })
        .await;
        let mut balancer = Balancer::bind().await;
        let mut overrides = fleet_overrides().await;
        overrides
            .set("pg.base_url", format!("http://127.0.0.1:{pg_port}"))
            .set("pg.callback_url", balancer.url("/pg/callbacks"))
            .set("pg.callback_secret", PG_SECRET);
        adjust(&mut overrides);
        let fleet = Fleet::start(3, &overrides).await;
        balancer.serve(fleet.ports());
        Self {
            fleet,
            balancer,
            settings: overrides.settings(),
            pg_port,
            _sim: sim,
        }
    }
}

/// What one request got: its status and body, or None when no instance answered.
pub type Answer = Option<(u16, serde_json::Value)>;

/// POSTs as `user` to the instance on `ports[first]`, and while an instance refuses the
/// connection (it is dead) to the next ones, as a load balancer would.
/// None when the request was cut after it was sent (whether it took
/// effect is unknown) or no instance took it.
pub async fn post_spread(
    client: &Client,
    ports: &[u16],
    first: usize,
    path: &str,
    user: u64,
) -> Answer {
    for k in 0..ports.len() {
        let url = format!(
            "http://127.0.0.1:{}{path}",
            ports[(first + k) % ports.len()]
        );
        match client.post(&url, user, None).await {
            Ok(answer) => return Some(answer),
            Err(error) if error.is_connect() => continue,
            Err(_) => return None,
        }
    }
    None
}
