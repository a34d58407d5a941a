//! Stampede scaled out: three `stampede serve` processes sharing MariaDB,
//! Redis and the three-broker Kafka cluster (the dev broker where Apache
//! Kafka cannot run), as behind a load balancer; and the gate, the waiting
//! queue, seat holds and rate limits on a three-master Redis Cluster. The
//! brokers and the Redis Cluster are shared, so scripts/test.sh runs this
//! binary one test at a time, after the fast suite.

mod burst;
mod kill_one;
mod limits;
mod redis_cluster;
mod rolling_restart;
#[path = "../support/mod.rs"]
mod support;

use support::brokers::{apache_kafka_unavailable, Cluster};
use support::client::Client;
use support::fleet::Fleet;
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
