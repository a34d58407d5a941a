//! Orders and points payments: exact money and stock under concurrency,
//! idempotency, and the campaign verification chain.

use crate::box_office::grant_points;
use crate::helpers::*;
use futures::StreamExt;
use stampede_api::auth::Role;
use std::collections::HashSet;
use std::time::Duration;

/// Creates a product with `options` options of price 1000 and `stock` each; returns option ids.
pub async fn product(app: &TestApp, options: usize, stock: u64, campaign: Option<u64>) -> Vec<u64> {
    let admin = app.token(1, Role::Admin);
    let options: Vec<serde_json::Value> = (0..options)
        .map(|n| serde_json::json!({"name": format!("size {n}"), "price": 1000, "stock": stock}))
        .collect();
    let body = serde_json::json!({"name": "sneaker", "campaign_id": campaign, "options": options});
    let response = app.post("/admin/products", &admin, Some(body)).await;
    assert_eq!(response.status(), 201);
    let created: serde_json::Value = response.json().await.unwrap();
    created["option_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect()
}

async fn order(
    app: &TestApp,
    user: u64,
    option: u64,
    quantity: u32,
    coupons: &[String],
) -> reqwest::Response {
    let body = serde_json::json!({"items": [{"option_id": option, "quantity": quantity}], "coupon_ids": coupons});
    app.post("/orders", &app.token(user, Role::User), Some(body))
        .await
}

/// One integer from `sql` (which casts its result to SIGNED).
pub async fn scalar(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar::<_, Option<i64>>(sql)
        .fetch_one(&app.infra.pool)
        .await
        .unwrap()
        .unwrap_or(0)
}

#[tokio::test]
async fn concurrent_points_payments_never_oversell_and_conserve_money() {
    let app = spawn_app().await;
    let options = product(&app, 10, 5, None).await;
    let users: Vec<u64> = (100..200).collect();
    for &user in &users {
        grant_points(&app, user, 5000).await;
    }
    // Coupons for half the users, each to be used by two orders at once.
    let policy = app.open_policy(50, "GATE").await;
    for &user in &users[..50] {
        assert_eq!(
            app.post(
                &format!("/coupons/{policy}/issue"),
                &app.token(user, Role::User),
                None
            )
            .await
            .status(),
            201
        );
    }
    assert!(
        eventually(Duration::from_secs(30), || async {
            scalar(
                &app,
                &format!("SELECT COUNT(*) FROM user_coupons WHERE policy_id = {policy}"),
            )
            .await
                == 50
        })
        .await
    );
    let mut orders = Vec::new();
    for (n, &user) in users.iter().enumerate() {
        let coupons: Vec<String> = if n < 50 {
            let mine: Vec<serde_json::Value> = app
                .get("/users/me/coupons", Some(&app.token(user, Role::User)))
                .await
                .json()
                .await
                .unwrap();
            vec![mine[0]["id"].as_str().unwrap().to_owned()]
        } else {
            vec![]
        };
        for k in 0..2 {
            let response = order(&app, user, options[(n + k) % 10], 1 + (k as u32), &coupons).await;
            assert_eq!(response.status(), 201);
            let created: serde_json::Value = response.json().await.unwrap();
            orders.push((user, created["id"].as_u64().unwrap()));
        }
    }
    let before = scalar(&app, "SELECT CAST(SUM(balance) AS SIGNED) FROM user_points").await;
    assert_eq!(before, 100 * 5000);

    let answers: Vec<(u16, String)> =
        futures::stream::iter(orders.iter().map(|&(user, order_id)| {
            let token = app.token(user, Role::User);
            let app = &app;
            async move {
                let response = app
                    .post(
                        &format!("/orders/{order_id}/payments"),
                        &token,
                        Some(serde_json::json!({"method": "POINTS"})),
                    )
                    .await;
                let status = response.status().as_u16();
                let body: serde_json::Value = response.json().await.unwrap();
                (status, body["code"].as_str().unwrap_or("").to_owned())
            }
        }))
        .buffer_unordered(200)
        .collect()
        .await;

    for (status, code) in &answers {
        assert!(
            *status == 201
                || (*status == 409
                    && ["OUT_OF_STOCK", "COUPON_NOT_USABLE", "INSUFFICIENT_POINTS"]
                        .contains(&code.as_str())),
            "unexpected answer {status} {code}"
        );
    }
    let paid = answers.iter().filter(|(s, _)| *s == 201).count() as i64;
    assert!(paid > 0);
    let negative = scalar(
        &app,
        "SELECT COUNT(*) FROM product_options WHERE CAST(stock AS SIGNED) < 0",
    )
    .await;
    assert_eq!(negative, 0);
    let sold = scalar(&app, "SELECT CAST(SUM(i.quantity) AS SIGNED) FROM order_items i JOIN orders o ON o.id = i.order_id WHERE o.status = 'PAID'").await;
    let left = scalar(
        &app,
        &format!(
            "SELECT CAST(SUM(stock) AS SIGNED) FROM product_options WHERE id IN ({})",
            options
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(",")
        ),
    )
    .await;
    assert_eq!(sold + left, 50, "stock is conserved");
    let after = scalar(&app, "SELECT CAST(SUM(balance) AS SIGNED) FROM user_points").await;
    let spent = scalar(
        &app,
        "SELECT CAST(COALESCE(SUM(amount), 0) AS SIGNED) FROM payments WHERE status = 'SUCCESS'",
    )
    .await;
    assert_eq!(
        after + spent,
        before,
        "Σ balances + Σ successful payments is constant"
    );
    let paid_orders = scalar(&app, "SELECT COUNT(*) FROM orders WHERE status = 'PAID'").await;
    assert_eq!(paid_orders, paid);
    let coupon_uses: Vec<(String, i64)> = sqlx::query_as(
        "SELECT c.user_coupon_id, COUNT(*) FROM order_coupons c JOIN orders o ON o.id = c.order_id \
         WHERE o.status = 'PAID' GROUP BY c.user_coupon_id",
    )
    .fetch_all(&app.infra.pool)
    .await
    .unwrap();
    assert!(
        coupon_uses.iter().all(|(_, n)| *n == 1),
        "a coupon paid for at most one order"
    );
    let used = scalar(
        &app,
        "SELECT COUNT(*) FROM user_coupons WHERE status = 'USED'",
    )
    .await;
    assert_eq!(
        used,
        coupon_uses.len() as i64,
        "USED coupons are exactly the ones paid with"
    );
    let failed_events = scalar(
        &app,
        "SELECT COUNT(*) FROM outbox WHERE type = 'payment.failed'",
    )
    .await;
    assert_eq!(
        failed_events,
        answers.len() as i64 - paid,
        "every refusal recorded as payment.failed"
    );
    app.stop().await;
}

#[tokio::test]
async fn an_idempotency_key_replays_refuses_other_bodies_and_runs_once_under_concurrency() {
    let app = spawn_app().await;
    let options = product(&app, 1, 100, None).await;
    let token = app.token(5, Role::User);
    let body = serde_json::json!({"items": [{"option_id": options[0], "quantity": 1}]});
    let post = |key: &str, body: serde_json::Value| {
        app.client
            .post(app.url("/orders"))
            .bearer_auth(&token)
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
    };
    let first = post("k-1", body.clone()).await.unwrap();
    assert_eq!(first.status(), 201);
    let first: serde_json::Value = first.json().await.unwrap();
    let again = post("k-1", body.clone()).await.unwrap();
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(
        again.json::<serde_json::Value>().await.unwrap(),
        first,
        "the stored answer, not a new order"
    );
    let other = serde_json::json!({"items": [{"option_id": options[0], "quantity": 2}]});
    let reused = post("k-1", other).await.unwrap();
    assert_eq!(reused.status(), 422);
    assert_eq!(
        reused.json::<serde_json::Value>().await.unwrap()["code"],
        "IDEMPOTENCY_KEY_REUSED"
    );

    let concurrent: Vec<u16> = futures::future::join_all(
        (0..8).map(|_| async { post("k-2", body.clone()).await.unwrap().status().as_u16() }),
    )
    .await;
    assert!(
        concurrent.iter().all(|s| *s == 201 || *s == 409),
        "{concurrent:?}"
    );
    let orders = scalar(&app, "SELECT COUNT(*) FROM orders WHERE user_id = 5").await;
    assert_eq!(orders, 2, "k-1 and k-2 each ran exactly once");

    // Paying twice with one key takes the money once.
    grant_points(&app, 5, 10_000).await;
    let order_id = first["id"].as_u64().unwrap();
    let pay = || {
        app.client
            .post(app.url(&format!("/orders/{order_id}/payments")))
            .bearer_auth(&token)
            .header("Idempotency-Key", "pay-1")
            .json(&serde_json::json!({"method": "POINTS"}))
            .send()
    };
    let paid: serde_json::Value = pay().await.unwrap().json().await.unwrap();
    let replay: serde_json::Value = pay().await.unwrap().json().await.unwrap();
    assert_eq!(paid, replay);
    let balance: serde_json::Value = app
        .get("/users/me/points", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(balance["balance"], 9000);
    app.stop().await;
}

#[tokio::test]
async fn campaign_products_need_a_winning_entry_checked_token_first_then_database_then_age() {
    let app = spawn_app().await;
    let admin = app.token(1, Role::Admin);
    let now = chrono::Utc::now();
    let body = serde_json::json!({"name": "drop", "total_slots": 5,
        "window": {"opens_at": now - chrono::Duration::minutes(1), "closes_at": now + chrono::Duration::hours(1)}});
    let campaign: serde_json::Value = app
        .post("/admin/campaigns", &admin, Some(body))
        .await
        .json()
        .await
        .unwrap();
    let campaign = campaign["id"].as_u64().unwrap();
    assert_eq!(
        app.post(&format!("/admin/campaigns/{campaign}/open"), &admin, None)
            .await
            .status(),
        200
    );
    let options = product(&app, 1, 10, Some(campaign)).await;
    let code = |response: reqwest::Response| async move {
        let status = response.status().as_u16();
        (
            status,
            response.json::<serde_json::Value>().await.unwrap()["code"]
                .as_str()
                .unwrap_or("")
                .to_owned(),
        )
    };
    let steps = |metrics: &str, step: &str| {
        metric(
            metrics,
            "stampede_campaign_verification_total",
            &[("step", step)],
        )
    };

    assert_eq!(
        code(order(&app, 7, options[0], 1, &[]).await).await,
        (403, "CAMPAIGN_ENTRY_REQUIRED".into())
    );
    assert_eq!(
        code(order(&app, 7, options[0], 1, &[]).await).await,
        (403, "CAMPAIGN_ENTRY_REQUIRED".into())
    );
    let metrics = app.metrics().await;
    assert_eq!(steps(&metrics, "not_found"), 1.0);
    assert_eq!(
        steps(&metrics, "negative_cache"),
        1.0,
        "the repeat never reached the database"
    );

    assert_eq!(
        app.post(
            &format!("/campaigns/{campaign}/entries"),
            &app.token(8, Role::User),
            None
        )
        .await
        .status(),
        201
    );
    assert_eq!(order(&app, 8, options[0], 1, &[]).await.status(), 201);
    assert_eq!(steps(&app.metrics().await, "redis_token"), 1.0);

    // Without the token (expired in Redis) the persisted entry still counts…
    assert!(
        eventually(Duration::from_secs(30), || async {
            stampede_infra::mysql::campaigns::entry_created_at(&app.infra.pool, 8, campaign)
                .await
                .unwrap()
                .is_some()
        })
        .await
    );
    let token_key = format!(
        "{}{{fcfs:campaign:{campaign}}}:token:8",
        app.settings.redis.key_prefix
    );
    let mut redis = app.infra.redis.clone();
    redis::cmd("DEL")
        .arg(&token_key)
        .query_async::<()>(&mut redis)
        .await
        .unwrap();
    assert_eq!(order(&app, 8, options[0], 1, &[]).await.status(), 201);
    assert_eq!(steps(&app.metrics().await, "database"), 1.0);
    // …until it is older than 30 minutes.
    sqlx::query("UPDATE campaign_entries SET created_at = created_at - INTERVAL 31 MINUTE WHERE user_id = 8")
        .execute(&app.infra.pool)
        .await
        .unwrap();
    assert_eq!(
        code(order(&app, 8, options[0], 1, &[]).await).await,
        (403, "CAMPAIGN_ENTRY_EXPIRED".into())
    );
    let seen: HashSet<&str> = [
        "redis_token",
        "database",
        "expired",
        "not_found",
        "negative_cache",
    ]
    .into_iter()
    .collect();
    assert_eq!(seen.len(), 5);
    app.stop().await;
}
