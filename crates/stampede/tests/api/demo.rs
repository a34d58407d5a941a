//! The README's demo, run against the real app and pg-sim: it must tell the
//! whole story without a problem, and afterwards `/metrics` must export
//! every metric of the catalog (and so of the dashboards) that the story
//! exercises, and nothing the catalog does not know.

use crate::helpers::*;
use crate::support::pg_sim::{free_port, start_pg_sim};
use stampede::commands::demo::{self, DemoArgs};
use stampede::commands::pg_sim::PgSimConfig;
use stampede_api::metric_catalog::{self, METRICS};
use std::collections::BTreeSet;

const SECRET: &str = "demo-test-callback-secret-0123456789";

/// Metrics only failure paths or other flows record; the demo's happy
/// story cannot show them (each has its own test).
const NOT_IN_THE_STORY: &[&str] = &[
    "stampede_consumer_retries_total",
    "stampede_consumer_dead_lettered_total",
    "stampede_consumer_commit_failures_total",
    "stampede_reconcile_outcomes_total",
    "stampede_campaign_verification_total",
    "stampede_coupon_queue_outcomes_total",
    "stampede_seat_hold_confirmations_total",
    // Only a failure (a publish reported failed that landed after all) skips a winner.
    "stampede_winners_revoked_skipped_total",
    // Only a crash or a Redis loss gives the healer work.
    "stampede_healer_returned_total",
    "stampede_gate_rebuilds_total",
    // Only a Redis that does not answer leaves the shared rate limits uncounted.
    "stampede_rate_limit_unshared_total",
    // Only an instance past http.max_in_flight sheds requests.
    "stampede_http_shed_total",
    // Only keys older than idempotency.retention_hours are pruned.
    "stampede_idempotency_keys_pruned_total",
    // Only an identity provider (auth.jwks_url) has keys to fetch.
    "stampede_auth_jwks_fetches_total",
    // The demo's buyers keep what they bought.
    "stampede_refunds_requested_total",
    "stampede_refunds_total",
];

#[tokio::test]
async fn the_demo_tells_the_whole_story_and_every_dashboard_metric_is_exported() {
    let sim = PgSimConfig {
        secret: SECRET.into(),
        latency_min_ms: 10,
        latency_max_ms: 50,
        ..PgSimConfig::default()
    };
    let (_sim, pg_port) = start_pg_sim(&sim).await;
    let port = free_port();
    let mut settings = test_settings();
    settings.http.port = port;
    settings.pg.base_url = format!("http://127.0.0.1:{pg_port}");
    settings.pg.callback_url = format!("http://127.0.0.1:{port}/pg/callbacks");
    settings.pg.callback_secret = SECRET.into();
    // The app's warnings go to the test's captured output, shown when the
    // demo fails: a retrying consumer or a failed commit says so there.
    settings.log.level = "warn,librdkafka=warn".into();
    stampede::tracing_setup::init(&settings.log);
    let app = spawn_app_with(settings.clone(), vec![]).await;

    let args = DemoArgs {
        url: vec![app.address.clone()],
        events: 100,
        aggregates: 5,
        coupons: 60,
        users: 300,
        buyers: 30,
        seats: 10,
    };
    demo::run(settings, args)
        .await
        .expect("the demo tells its story without a problem");

    let exported: BTreeSet<String> = app
        .metrics()
        .await
        .lines()
        .filter(|line| line.starts_with("stampede_"))
        .filter_map(|line| line.split(['{', ' ']).next().map(str::to_owned))
        .collect();
    let unknown: Vec<&String> = exported
        .iter()
        .filter(|series| metric_catalog::find(series).is_none())
        .collect();
    assert!(
        unknown.is_empty(),
        "exported but not in the catalog: {unknown:?}"
    );
    let missing: Vec<&str> = METRICS
        .iter()
        .map(|m| m.name)
        .filter(|name| !NOT_IN_THE_STORY.contains(name))
        .filter(|name| {
            !exported
                .iter()
                .any(|series| metric_catalog::find(series).is_some_and(|m| m.name == *name))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "the story should have exported: {missing:?}"
    );
    app.stop().await;
}
