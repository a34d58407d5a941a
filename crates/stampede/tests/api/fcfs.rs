//! First-come-first-served issuance under a burst, in both modes.

use crate::helpers::*;
use futures::StreamExt;
use stampede_api::auth::Role;
use stampede_core::fcfs::{PoolKind, PoolRef};
use std::collections::{HashMap, HashSet};
use std::time::Duration;

const BURST: usize = 5000;
const USERS: u64 = 3000;
const STOCK: u64 = 1000;

/// Sends BURST issue requests from USERS users, 200 at a time; returns (status, user, body) per request.
async fn burst(app: &TestApp, policy: u64) -> Vec<(u16, u64, serde_json::Value)> {
    let tokens: HashMap<u64, String> = (1..=USERS).map(|u| (u, app.token(u, Role::User))).collect();
    let path = format!("/coupons/{policy}/issue");
    futures::stream::iter((0..BURST).map(|n| {
        let user = (n as u64 * 7919) % USERS + 1;
        let token = tokens[&user].clone();
        let path = path.clone();
        async move {
            let response = app.post(&path, &token, None).await;
            let status = response.status().as_u16();
            (
                status,
                user,
                response
                    .json::<serde_json::Value>()
                    .await
                    .unwrap_or_default(),
            )
        }
    }))
    .buffer_unordered(200)
    .collect()
    .await
}

async fn db_state(app: &TestApp, policy: u64) -> (i64, i64, u64) {
    let (rows, users): (i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), COUNT(DISTINCT user_id) FROM user_coupons WHERE policy_id = ?",
    )
    .bind(policy)
    .fetch_one(&app.infra.pool)
    .await
    .unwrap();
    let remaining: u64 = sqlx::query_scalar("SELECT remaining FROM coupon_policies WHERE id = ?")
        .bind(policy)
        .fetch_one(&app.infra.pool)
        .await
        .unwrap();
    (rows, users, remaining)
}

/// Waits until the whole stock is rows, then checks the rows, the database
/// counter and the Redis counter agree; returns the gate's snapshot.
async fn settled(
    app: &TestApp,
    policy: u64,
    timeout: Duration,
) -> stampede_infra::redis::GateSnapshot {
    let all_rows = eventually(timeout, || async {
        db_state(app, policy).await.0 == STOCK as i64
    })
    .await;
    assert!(all_rows, "the whole stock became rows");
    let (rows, users, remaining) = db_state(app, policy).await;
    assert_eq!((rows, users, remaining), (STOCK as i64, STOCK as i64, 0));
    let pool = PoolRef {
        kind: PoolKind::Coupon,
        id: policy,
    };
    let snapshot = app.infra.gate.snapshot(pool).await.unwrap();
    assert_eq!(snapshot.stock, Some(0));
    snapshot
}

#[tokio::test]
async fn gate_mode_issues_exactly_the_stock_to_distinct_users_and_db_and_redis_agree() {
    let app = spawn_app().await;
    let policy = app.open_policy(STOCK, "GATE").await;
    let answers = burst(&app, policy).await;

    let winners: Vec<u64> = answers
        .iter()
        .filter(|(s, _, _)| *s == 201)
        .map(|(_, u, _)| *u)
        .collect();
    assert_eq!(winners.len(), STOCK as usize, "exactly the stock won");
    assert_eq!(
        winners.iter().collect::<HashSet<_>>().len(),
        winners.len(),
        "nobody won twice"
    );
    for (status, _, body) in &answers {
        match status {
            201 => assert!(body["issue_id"].is_string()),
            409 => {
                assert!(["SOLD_OUT", "ALREADY_ISSUED"].contains(&body["code"].as_str().unwrap()))
            }
            other => panic!("unexpected status {other}: {body}"),
        }
    }
    let snapshot = settled(&app, policy, Duration::from_secs(30)).await;
    assert_eq!(snapshot.marks.len(), STOCK as usize);
    let persisted: HashSet<u64> =
        sqlx::query_scalar::<_, u64>("SELECT user_id FROM user_coupons WHERE policy_id = ?")
            .bind(policy)
            .fetch_all(&app.infra.pool)
            .await
            .unwrap()
            .into_iter()
            .collect();
    assert_eq!(
        persisted,
        winners.into_iter().collect::<HashSet<_>>(),
        "the winners told 201 are the rows"
    );
    let view: serde_json::Value = app
        .get(&format!("/coupons/{policy}"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(view["stock_left"], 0);
    assert_eq!(view["issued"], STOCK);
    assert_eq!(view["persisted"], STOCK);
    app.stop().await;
}

#[tokio::test]
async fn queue_mode_issues_exactly_the_stock_in_order_and_every_request_is_decided() {
    let app = spawn_app().await;
    let policy = app.open_policy(STOCK, "QUEUE").await;
    let answers = burst(&app, policy).await;
    assert!(
        answers
            .iter()
            .all(|(s, _, b)| *s == 202 && b["status"] == "PENDING"),
        "every request queued"
    );

    settled(&app, policy, Duration::from_secs(120)).await;

    // Every request ends ISSUED or REJECTED with a reason; ISSUED ones match the rows.
    let mut issued = 0;
    let mut reasons: HashMap<String, usize> = HashMap::new();
    for (_, user, body) in &answers {
        let id = body["request_id"].as_str().unwrap();
        let token = app.token(*user, Role::User);
        let path = format!("/coupon-requests/{id}");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        let status = loop {
            let status: serde_json::Value =
                app.get(&path, Some(&token)).await.json().await.unwrap();
            if status["status"] != "PENDING" || tokio::time::Instant::now() > deadline {
                break status;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let decided = status["status"] != "PENDING";
        assert!(decided, "request {id} decided");
        match status["status"].as_str().unwrap() {
            "ISSUED" => {
                issued += 1;
                assert_eq!(status["coupon"]["policy_id"], policy);
            }
            "REJECTED" => {
                *reasons
                    .entry(status["reason"].as_str().unwrap().to_owned())
                    .or_default() += 1
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(issued, STOCK as usize);
    assert_eq!(reasons.values().sum::<usize>(), BURST - STOCK as usize);
    assert!(
        reasons
            .keys()
            .all(|r| r == "SOLD_OUT" || r == "ALREADY_ISSUED"),
        "{reasons:?}"
    );
    let metrics = app.metrics().await;
    assert_eq!(
        metric(
            &metrics,
            "stampede_coupon_queue_outcomes_total",
            &[("outcome", "issued")]
        ),
        STOCK as f64
    );
    app.stop().await;
}
