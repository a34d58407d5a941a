//! A single broker configured as the dev broker, restarted between publish
//! and consume: its topics and records survive (a memory-only broker lost them).

use crate::support::brokers::{apache_kafka_unavailable, PrivateBroker};
use crate::support::checks::*;
use crate::support::client::Client;
use crate::support::serve::ServeProcess;
use crate::support::settings::Overrides;
use std::collections::HashSet;

/// Not the dev broker's 9092: this one restarts without disturbing the others.
const PORT: u16 = 49092;

#[tokio::test]
async fn a_broker_restart_between_publish_and_consume_loses_nothing() {
    crate::skip_if!(apache_kafka_unavailable());
    let broker = PrivateBroker::start("restart-test", PORT).await;
    let mut overrides = Overrides::unique();
    overrides.set("kafka.bootstrap_servers", broker.bootstrap());
    let settings = overrides.settings();
    let db = stampede_infra::mysql::connect(&settings.database)
        .await
        .unwrap();
    let client = Client::new(&settings);

    // Publish: winners and payments through an instance that consumes nothing.
    let mut api = ServeProcess::start_with("api", &overrides, &["--no-consumers"]).await;
    let base = api.url("");
    let policy = client.open_policy(&base, 100).await;
    let options = client.product(&base, 1, 100).await;
    let mut winners = HashSet::new();
    for user in 2..62u64 {
        let url = format!("{base}/coupons/{policy}/issue");
        let (status, body) = client.post(&url, user, None).await.unwrap();
        assert_eq!(status, 201, "{body}");
        winners.insert(user);
    }
    for user in 100..120u64 {
        client.grant_points(&base, user, 5000).await;
        let order = client.order(&base, user, options[0]).await;
        let url = format!("{base}/orders/{order}/payments");
        let (status, body) = client
            .post(&url, user, Some(serde_json::json!({"method": "POINTS"})))
            .await
            .unwrap();
        assert_eq!(status, 201, "{body}");
    }
    let relayed = outbox_drained(&db).await;
    assert!(relayed, "every payment event is on the broker");
    assert!(api.terminate().await, "the API instance stops cleanly");
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM user_coupons").await,
        0,
        "nothing consumed yet"
    );

    broker.stop().await;
    broker.restart().await;

    // Consume: a full instance after the restart finds every record.
    let _worker = ServeProcess::start("worker", &overrides).await;
    winners_persisted_once(&db, policy, 100, &winners).await;
    paid_orders_consumed_once(&db, 20).await;
}
