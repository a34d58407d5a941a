//! Points are bought with a card (a top-up through the PG simulator) and
//! credited only on the PG's SUCCESS, exactly once; support grants points
//! through an admin-only, recorded route; the free charge route is gone.

use crate::card::{reconciler, shop, signed_callback, SECRET};
use crate::helpers::*;
use stampede::commands::pg_sim::PgSimConfig;
use stampede_api::auth::Role;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

async fn balance(app: &TestApp, user: u64) -> u64 {
    let body: serde_json::Value = app
        .get("/users/me/points", Some(&app.token(user, Role::User)))
        .await
        .json()
        .await
        .unwrap();
    body["balance"].as_u64().unwrap()
}

async fn top_up(app: &TestApp, user: u64, amount: u64) -> (u16, serde_json::Value) {
    let body = serde_json::json!({"amount": amount, "card_type": "VISA", "card_no": "4111-1111-1111-1111"});
    let response = app
        .post(
            "/users/me/points/top-ups",
            &app.token(user, Role::User),
            Some(body),
        )
        .await;
    (response.status().as_u16(), response.json().await.unwrap())
}

async fn top_up_status(app: &TestApp, user: u64, id: u64) -> String {
    let body: serde_json::Value = app
        .get(
            &format!("/users/me/points/top-ups/{id}"),
            Some(&app.token(user, Role::User)),
        )
        .await
        .json()
        .await
        .unwrap();
    body["status"].as_str().unwrap_or_default().to_owned()
}

pub(crate) async fn callback(app: &TestApp, key: &str, status: &str) -> serde_json::Value {
    let body = serde_json::json!({"transactionKey": key, "status": status, "reason": "declined"});
    let now = chrono::Utc::now().timestamp();
    let answer = signed_callback(app, &body, now, SECRET).await;
    assert_eq!(answer.status(), 200);
    answer.json().await.unwrap()
}

/// A PG that approves every charge but never calls back.
pub(crate) fn approving_without_callbacks() -> PgSimConfig {
    PgSimConfig {
        failure_rate: 0.0,
        lost_callback_rate: 1.0,
        ..PgSimConfig::default()
    }
}

/// Starts a top-up that must answer 202 PENDING; returns (id, transaction key).
pub(crate) async fn pending_top_up(app: &TestApp, user: u64, amount: u64) -> (u64, String) {
    let (status, started) = top_up(app, user, amount).await;
    assert_eq!(status, 202, "{started}");
    assert_eq!(started["status"], "PENDING");
    let id = started["top_up_id"].as_u64().unwrap();
    (id, started["transaction_key"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn a_top_up_is_credited_on_pg_success_once_however_often_the_pg_calls_back() {
    // The simulator's own callbacks are lost: this test delivers them.
    let shop = shop(approving_without_callbacks()).await;
    let app = &shop.app;
    let (id, key) = pending_top_up(app, 81, 5_000).await;
    assert_eq!(
        balance(app, 81).await,
        0,
        "nothing before the PG says SUCCESS"
    );
    assert_eq!(top_up_status(app, 81, id).await, "PENDING");

    // The same callback three times, two of them at once.
    let (first, second) = tokio::join!(
        callback(app, &key, "SUCCESS"),
        callback(app, &key, "SUCCESS")
    );
    let mut results = [first["result"].clone(), second["result"].clone()];
    results.sort_by_key(|r| r.to_string());
    assert_eq!(results, ["already_settled", "top_up_credited"]);
    assert_eq!(
        callback(app, &key, "SUCCESS").await["result"],
        "already_settled"
    );
    // A late FAILED after SUCCESS changes nothing either.
    assert_eq!(
        callback(app, &key, "FAILED").await["result"],
        "already_settled"
    );
    assert_eq!(balance(app, 81).await, 5_000);
    assert_eq!(top_up_status(app, 81, id).await, "SUCCEEDED");
    // Another user does not see it.
    assert_eq!(
        app.get(
            &format!("/users/me/points/top-ups/{id}"),
            Some(&app.token(82, Role::User))
        )
        .await
        .status(),
        404
    );
}

#[tokio::test]
async fn a_declined_top_up_leaves_the_balance_as_it_was() {
    let shop = shop(PgSimConfig {
        failure_rate: 1.0,
        ..PgSimConfig::default()
    })
    .await;
    let app = &shop.app;
    let (status, started) = top_up(app, 83, 7_000).await;
    assert_eq!(status, 202, "{started}");
    let id = started["top_up_id"].as_u64().unwrap();
    let failed = eventually(WAIT, || async {
        top_up_status(app, 83, id).await == "FAILED"
    })
    .await;
    assert!(failed, "the PG's FAILED callback settles the top-up");
    // A SUCCESS arriving after the FAILED cannot credit it.
    let key = started["transaction_key"].as_str().unwrap();
    assert_eq!(
        callback(app, key, "SUCCESS").await["result"],
        "already_settled"
    );
    assert_eq!(balance(app, 83).await, 0);
    let (status, refused) = top_up(app, 83, 0).await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (422, Some("INVALID_AMOUNT"))
    );
}

#[tokio::test]
async fn only_an_admin_grants_points_and_each_grant_is_recorded() {
    let app = spawn_app().await;
    let grant = serde_json::json!({"amount": 2_500, "reason": "ticket printer broke"});
    let path = "/admin/users/84/points/grants";
    let refused = app
        .post(path, &app.token(84, Role::User), Some(grant.clone()))
        .await;
    assert_eq!(refused.status(), 403);
    assert_eq!(balance(&app, 84).await, 0);

    let granted = app
        .post(path, &app.token(2, Role::Admin), Some(grant))
        .await;
    assert_eq!(granted.status(), 201);
    let granted: serde_json::Value = granted.json().await.unwrap();
    assert_eq!(granted["balance"], 2_500);
    assert_eq!(balance(&app, 84).await, 2_500);
    let recorded: (u64, String, String) =
        sqlx::query_as("SELECT amount, reason, granted_by FROM point_grants WHERE id = ?")
            .bind(granted["grant_id"].as_u64().unwrap())
            .fetch_one(&app.infra.pool)
            .await
            .unwrap();
    assert_eq!(recorded, (2_500, "ticket printer broke".into(), "2".into()));

    let no_reason = serde_json::json!({"amount": 10, "reason": " "});
    let answer = app
        .post(path, &app.token(2, Role::Admin), Some(no_reason))
        .await;
    assert_eq!(answer.status(), 422);
    // The free route that minted points is gone.
    let free = app
        .post(
            "/users/me/points/charge",
            &app.token(84, Role::User),
            Some(serde_json::json!({"amount": 10_000_000})),
        )
        .await;
    assert_eq!(free.status(), 404);
    assert_eq!(balance(&app, 84).await, 2_500);
}

#[tokio::test]
async fn a_top_up_whose_callback_is_lost_is_credited_by_reconciliation_once() {
    let shop = shop(approving_without_callbacks()).await;
    let app = &shop.app;
    let (id, key) = pending_top_up(app, 85, 3_000).await;
    // The test settings reconcile anything PENDING (stale_after_secs = 0).
    let reconciler = reconciler(app, 1);
    // The PG decides after its latency; until then the top-up waits.
    let credited = eventually(WAIT, || async {
        reconciler.reconcile_top_ups().await.unwrap();
        top_up_status(app, 85, id).await == "SUCCEEDED"
    })
    .await;
    assert!(credited, "reconciliation settles the lost callback");
    assert_eq!(reconciler.reconcile_top_ups().await.unwrap(), 0);
    assert_eq!(
        callback(app, &key, "SUCCESS").await["result"],
        "already_settled"
    );
    assert_eq!(balance(app, 85).await, 3_000);
}
