//! Metrics: the Prometheus recorder and gauges read at scrape time (the
//! HTTP RED metrics are recorded by [`crate::middleware`]).

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Instant;

/// Latency buckets (seconds) for every `*_seconds` histogram.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Installs the process-wide Prometheus recorder once and returns its handle
/// (later calls, e.g. a second app in one test process, share it).
pub fn prometheus() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
                .expect("buckets are non-empty")
                .set_buckets_for_metric(
                    Matcher::Full("stampede_consumer_batch_size".into()),
                    &[1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 500.0],
                )
                .expect("buckets are non-empty")
                .install_recorder()
                .inspect(|_| crate::metric_catalog::describe_all())
                .expect("the Prometheus recorder is installed once")
        })
        .clone()
}

/// Refreshes gauges that are cheapest to read at scrape time.
pub fn record_pool_gauges(pool: &sqlx::MySqlPool) {
    metrics::gauge!("stampede_db_pool_connections").set(pool.size() as f64);
    metrics::gauge!("stampede_db_pool_idle_connections").set(pool.num_idle() as f64);
    metrics::gauge!("stampede_db_pool_max_connections")
        .set(pool.options().get_max_connections() as f64);
}

/// Redis is one multiplexed connection, not a pool: what an operator needs
/// is whether it answers and how fast (`stampede_redis_up`,
/// `stampede_redis_ping_seconds`), measured at scrape time.
pub async fn record_redis_gauges(infra: &stampede_infra::Infra) {
    let started = Instant::now();
    let up = infra
        .redis_reachable(std::time::Duration::from_secs(1))
        .await;
    metrics::gauge!("stampede_redis_up").set(if up { 1.0 } else { 0.0 });
    if up {
        metrics::gauge!("stampede_redis_ping_seconds").set(started.elapsed().as_secs_f64());
    }
}
