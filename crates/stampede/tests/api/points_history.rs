//! A credit of points (a paid top-up, an admin grant) is `points.credited`
//! through the outbox, and the transaction-history consumer makes a user's
//! `points_history` of it, once however often the event is delivered.

use crate::helpers::*;
use crate::top_ups::{approving_without_callbacks, callback, pending_top_up};
use rdkafka::Message;
use stampede_api::auth::Role;
use stampede_core::events::topics;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

/// The user's history: (source, source id, amount), oldest source first.
async fn history(app: &TestApp, user: u64) -> Vec<(String, u64, u64)> {
    sqlx::query_as(
        "SELECT source, source_id, amount FROM points_history WHERE user_id = ? ORDER BY recorded_at, source",
    )
    .bind(user)
    .fetch_all(&app.infra.pool)
    .await
    .unwrap()
}

fn handled_by_history(metrics: &str) -> f64 {
    metric(
        metrics,
        "stampede_consumer_handled_total",
        &[("consumer", "transaction-history")],
    )
}

#[tokio::test]
async fn top_ups_and_grants_reach_the_history_once_even_when_redelivered() {
    let shop = crate::card::shop(approving_without_callbacks()).await;
    let app = &shop.app;
    let user = 86;
    let (top_up_id, key) = pending_top_up(app, user, 4_000).await;
    assert_eq!(
        callback(app, &key, "SUCCESS").await["result"],
        "top_up_credited"
    );
    let granted = app
        .post(
            &format!("/admin/users/{user}/points/grants"),
            &app.token(2, Role::Admin),
            Some(serde_json::json!({"amount": 700, "reason": "goodwill"})),
        )
        .await;
    assert_eq!(granted.status(), 201);
    let grant_id = granted.json::<serde_json::Value>().await.unwrap()["grant_id"]
        .as_u64()
        .unwrap();
    let expected = vec![
        ("TOP_UP".to_owned(), top_up_id, 4_000),
        ("GRANT".to_owned(), grant_id, 700),
    ];
    let recorded = eventually(WAIT, || async { history(app, user).await.len() == 2 }).await;
    assert!(recorded, "{:?}", history(app, user).await);
    let mut stored = history(app, user).await;
    stored.sort_by_key(|(source, ..)| source != "TOP_UP");
    assert_eq!(stored, expected);

    // The events as published, keyed by the user, each delivered three more times.
    let credited = read_topic(
        &app.settings,
        &app.physical(topics::POINTS_CREDITED),
        2,
        WAIT,
    )
    .await;
    assert_eq!(credited.len(), 2);
    assert!(credited
        .iter()
        .all(|m| m.key() == Some(user.to_string().as_bytes())));
    let handled = handled_by_history(&app.metrics().await);
    for original in &credited {
        redeliver(app, original, 3).await;
    }
    let handled_all = eventually(WAIT, || async {
        handled_by_history(&app.metrics().await) >= handled + 6.0
    })
    .await;
    assert!(handled_all, "the redeliveries were consumed");
    let mut stored = history(app, user).await;
    stored.sort_by_key(|(source, ..)| source != "TOP_UP");
    assert_eq!(stored, expected, "nothing recorded twice");
}
