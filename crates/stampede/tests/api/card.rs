//! Card payments through the PG simulator (`stampede pg-sim` as its own
//! process): callbacks, failures of every kind, and reconciliation.

use crate::helpers::*;
use crate::payments::product;
use crate::support::pg_sim::{free_port, start_pg_sim, PgSimProcess};
use stampede::commands::pg_sim::PgSimConfig;
use stampede::reconcile::{Outcome, Reconciler};
use stampede_api::auth::Role;
use stampede_infra::pg::{signature, PgClient, PgSettings as PgClientSettings, PgStatus};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(30);
pub const SECRET: &str = "card-test-callback-secret-0123456789";

pub struct Shop {
    pub app: TestApp,
    pub sim: PgSimProcess,
}

/// The shop and a PG simulator (its own process) configured by `sim`, wired to each other.
pub async fn shop(sim: PgSimConfig) -> Shop {
    let config = PgSimConfig {
        secret: SECRET.into(),
        latency_min_ms: 10,
        latency_max_ms: 40,
        ..sim
    };
    let (stop, pg_port) = start_pg_sim(&config).await;
    // The callback URL needs the shop's port before the shop exists.
    let port = free_port();
    let mut settings = test_settings();
    settings.http.port = port;
    settings.pg.base_url = format!("http://127.0.0.1:{pg_port}");
    settings.pg.callback_url = format!("http://127.0.0.1:{port}/pg/callbacks");
    settings.pg.callback_secret = SECRET.into();
    settings.pg.request_timeout_ms = 500;
    settings.pg.retries = 1;
    settings.pg.retry_backoff_ms = 50;
    settings.pg.breaker_threshold = 3;
    settings.reconcile.enabled = false;
    settings.reconcile.stale_after_secs = 0;
    Shop {
        app: spawn_app_with(settings, vec![]).await,
        sim: stop,
    }
}

pub fn quiet() -> PgSimConfig {
    PgSimConfig {
        failure_rate: 0.0,
        ..PgSimConfig::default()
    }
}

/// An order of one unit of a fresh option with `stock`; returns (order id, option id).
pub async fn order(app: &TestApp, user: u64, stock: u64) -> (u64, u64) {
    let option = product(app, 1, stock, None).await[0];
    let body = serde_json::json!({"items": [{"option_id": option, "quantity": 1}]});
    let created: serde_json::Value = app
        .post("/orders", &app.token(user, Role::User), Some(body))
        .await
        .json()
        .await
        .unwrap();
    (created["id"].as_u64().unwrap(), option)
}

pub async fn pay_card(app: &TestApp, user: u64, order: u64) -> reqwest::Response {
    let body = serde_json::json!({"method": "CARD", "card_type": "VISA", "card_no": "4111-1111-1111-1111"});
    app.post(
        &format!("/orders/{order}/payments"),
        &app.token(user, Role::User),
        Some(body),
    )
    .await
}

pub async fn status_of(app: &TestApp, order: u64) -> (String, Vec<String>) {
    let status: String = sqlx::query_scalar("SELECT status FROM orders WHERE id = ?")
        .bind(order)
        .fetch_one(&app.infra.pool)
        .await
        .unwrap();
    let payments: Vec<String> =
        sqlx::query_scalar("SELECT status FROM payments WHERE order_id = ? ORDER BY id")
            .bind(order)
            .fetch_all(&app.infra.pool)
            .await
            .unwrap();
    (status, payments)
}

pub async fn stock(app: &TestApp, option: u64) -> u64 {
    sqlx::query_scalar("SELECT stock FROM product_options WHERE id = ?")
        .bind(option)
        .fetch_one(&app.infra.pool)
        .await
        .unwrap()
}

async fn events(app: &TestApp, kind: &str, order: u64) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE type = ? AND aggregateid = ?")
        .bind(kind)
        .bind(order.to_string())
        .fetch_one(&app.infra.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_card_payment_completes_on_the_signed_callback_and_duplicates_change_nothing() {
    let mut shop = shop(PgSimConfig {
        duplicate_callback_rate: 1.0,
        ..quiet()
    })
    .await;
    let app = &shop.app;
    let (order_id, option) = order(app, 50, 3).await;
    let answer = pay_card(app, 50, order_id).await;
    assert_eq!(answer.status(), 202);
    let body: serde_json::Value = answer.json().await.unwrap();
    assert!(body["transaction_key"].as_str().unwrap().starts_with("TR:"));
    assert!(
        eventually(WAIT, || async {
            status_of(app, order_id).await.0 == "COMPLETED"
        })
        .await
    );
    assert_eq!(status_of(app, order_id).await.1, vec!["SUCCESS"]);
    let settled_twice = || async {
        metric(
            &app.metrics().await,
            "stampede_pg_callbacks_total",
            &[("outcome", "already_settled")],
        ) >= 1.0
    };
    assert!(
        eventually(WAIT, settled_twice).await,
        "the duplicate callback arrived and changed nothing"
    );
    assert_eq!(stock(app, option).await, 2, "stock taken once");
    assert_eq!(events(app, "payment.success", order_id).await, 1);
    shop.sim.cancel();
}

#[tokio::test]
async fn a_declined_card_fails_the_payment_and_the_order() {
    let mut shop = shop(PgSimConfig {
        failure_rate: 1.0,
        ..quiet()
    })
    .await;
    let app = &shop.app;
    let (order_id, option) = order(app, 51, 3).await;
    assert_eq!(pay_card(app, 51, order_id).await.status(), 202);
    assert!(
        eventually(WAIT, || async {
            status_of(app, order_id).await.0 == "FAILED"
        })
        .await
    );
    assert_eq!(status_of(app, order_id).await.1, vec!["FAILED"]);
    assert_eq!(stock(app, option).await, 3);
    assert_eq!(events(app, "payment.failed", order_id).await, 1);
    shop.sim.cancel();
}

#[tokio::test]
async fn pg_errors_and_timeouts_fail_the_payment_with_a_reason_and_open_the_breaker() {
    let mut shop = shop(PgSimConfig {
        error_rate: 1.0,
        ..quiet()
    })
    .await;
    let app = &shop.app;
    let mut codes = Vec::new();
    for _ in 0..3 {
        let (order_id, _) = order(app, 52, 3).await;
        let answer = pay_card(app, 52, order_id).await;
        assert_eq!(answer.status(), 502);
        codes.push(
            answer.json::<serde_json::Value>().await.unwrap()["code"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
        let (status, payments) = status_of(app, order_id).await;
        assert_eq!(
            (status.as_str(), payments),
            ("FAILED", vec!["FAILED".to_owned()]),
            "not left dangling"
        );
        let reason: String =
            sqlx::query_scalar("SELECT failure_reason FROM payments WHERE order_id = ?")
                .bind(order_id)
                .fetch_one(&app.infra.pool)
                .await
                .unwrap();
        assert!(reason.starts_with("PG_UNAVAILABLE"), "{reason}");
    }
    // Three failed requests (each retried once) opened the breaker: the next answers at once.
    let (order_id, _) = order(app, 52, 3).await;
    let started = Instant::now();
    let answer = pay_card(app, 52, order_id).await;
    assert_eq!(
        answer.json::<serde_json::Value>().await.unwrap()["code"],
        "PG_CIRCUIT_OPEN"
    );
    assert!(
        started.elapsed() < Duration::from_millis(400),
        "answered without calling the PG"
    );
    assert!(
        codes
            .iter()
            .all(|c| c == "PG_UNAVAILABLE" || c == "PG_CIRCUIT_OPEN"),
        "{codes:?}"
    );
    shop.sim.cancel();

    let mut shop = self::shop(PgSimConfig {
        timeout_rate: 1.0,
        ..quiet()
    })
    .await;
    let app = &shop.app;
    let (order_id, _) = order(app, 53, 3).await;
    let started = Instant::now();
    assert_eq!(pay_card(app, 53, order_id).await.status(), 502);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "bounded by the timeout"
    );
    assert_eq!(status_of(app, order_id).await.0, "FAILED");
    shop.sim.cancel();
}

pub async fn signed_callback(
    app: &TestApp,
    body: &serde_json::Value,
    timestamp: i64,
    secret: &str,
) -> reqwest::Response {
    let bytes = serde_json::to_vec(body).unwrap();
    app.client
        .post(app.url("/pg/callbacks"))
        .header(signature::TIMESTAMP_HEADER, timestamp.to_string())
        .header(
            signature::SIGNATURE_HEADER,
            signature::sign(secret, timestamp, &bytes),
        )
        .header("content-type", "application/json")
        .body(bytes)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn callbacks_are_verified_and_a_callback_after_failed_changes_nothing() {
    let mut shop = shop(PgSimConfig {
        lost_callback_rate: 1.0,
        failure_rate: 1.0,
        ..quiet()
    })
    .await;
    let app = &shop.app;
    let (order_id, option) = order(app, 54, 3).await;
    let answer: serde_json::Value = pay_card(app, 54, order_id).await.json().await.unwrap();
    let key = answer["transaction_key"].as_str().unwrap().to_owned();
    let now = chrono::Utc::now().timestamp();
    let success = serde_json::json!({"transactionKey": key, "orderId": order_id.to_string(), "amount": 1000, "status": "SUCCESS", "reason": null});
    let code = |r: reqwest::Response| async move {
        (
            r.status().as_u16(),
            r.json::<serde_json::Value>().await.unwrap()["code"].clone(),
        )
    };
    assert_eq!(
        code(signed_callback(app, &success, now, "a-wrong-secret-of-some-length").await).await,
        (401, "INVALID_SIGNATURE".into())
    );
    assert_eq!(
        code(signed_callback(app, &success, now - 3600, SECRET).await).await,
        (401, "STALE_CALLBACK".into())
    );
    let unsigned = app
        .client
        .post(app.url("/pg/callbacks"))
        .json(&success)
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 401);
    assert_eq!(status_of(app, order_id).await.0, "PENDING", "nothing moved");
    // A key no payment holds (yet): the PG is asked to send it again.
    let early = serde_json::json!({"transactionKey": "TR:not-recorded-yet", "orderId": order_id.to_string(), "amount": 1000, "status": "SUCCESS", "reason": null});
    let answer = signed_callback(app, &early, now, SECRET).await;
    assert_eq!(answer.headers()["retry-after"], "1");
    assert_eq!(code(answer).await, (503, "PAYMENT_NOT_RECORDED".into()));
    assert_eq!(status_of(app, order_id).await.0, "PENDING", "nothing moved");

    let failed = serde_json::json!({"transactionKey": key, "orderId": order_id.to_string(), "amount": 1000, "status": "FAILED", "reason": "limit"});
    assert_eq!(
        signed_callback(app, &failed, now, SECRET).await.status(),
        200
    );
    assert_eq!(status_of(app, order_id).await.0, "FAILED");
    let late: serde_json::Value = signed_callback(app, &success, now, SECRET)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(late["result"], "already_settled");
    assert_eq!(
        status_of(app, order_id).await,
        ("FAILED".into(), vec!["FAILED".into()]),
        "terminal states never move"
    );
    assert_eq!(stock(app, option).await, 3);
    shop.sim.cancel();
}

#[tokio::test]
async fn a_success_for_an_option_sold_out_meanwhile_fails_with_a_refund_flag() {
    let mut shop = shop(PgSimConfig {
        lost_callback_rate: 1.0,
        ..quiet()
    })
    .await;
    let app = &shop.app;
    let (order_id, option) = order(app, 55, 1).await;
    let answer: serde_json::Value = pay_card(app, 55, order_id).await.json().await.unwrap();
    sqlx::query("UPDATE product_options SET stock = 0 WHERE id = ?")
        .bind(option)
        .execute(&app.infra.pool)
        .await
        .unwrap();
    let success = serde_json::json!({"transactionKey": answer["transaction_key"], "orderId": order_id.to_string(), "amount": 1000, "status": "SUCCESS", "reason": null});
    let settled: serde_json::Value =
        signed_callback(app, &success, chrono::Utc::now().timestamp(), SECRET)
            .await
            .json()
            .await
            .unwrap();
    assert_eq!(settled["result"], "refund_required");
    assert_eq!(
        status_of(app, order_id).await,
        ("FAILED".into(), vec!["FAILED".into()])
    );
    let refund: bool =
        sqlx::query_scalar("SELECT refund_required FROM payments WHERE order_id = ?")
            .bind(order_id)
            .fetch_one(&app.infra.pool)
            .await
            .unwrap();
    assert!(refund);
    shop.sim.cancel();
}

pub fn reconciler(app: &TestApp, concurrency: usize) -> Reconciler {
    let mut settings = app.settings.reconcile.clone();
    settings.concurrency = concurrency;
    Reconciler::new(
        app.infra.pool.clone(),
        app.infra.outbox.clone(),
        PgClient::new(app.settings.pg.clone()),
        settings,
    )
}

#[tokio::test]
async fn lost_callbacks_are_settled_by_two_reconcilers_at_once_each_order_exactly_once() {
    let mut shop = shop(PgSimConfig {
        lost_callback_rate: 1.0,
        ..quiet()
    })
    .await;
    let app = &shop.app;
    let mut orders = Vec::new();
    let mut keys = Vec::new();
    for user in 60..80 {
        let (order_id, _) = order(app, user, 5).await;
        let answer: serde_json::Value = pay_card(app, user, order_id).await.json().await.unwrap();
        keys.push(answer["transaction_key"].as_str().unwrap().to_owned());
        orders.push(order_id);
    }
    // An order never paid, and one whose PG request never got a key.
    let (unpaid, _) = order(app, 81, 5).await;
    let (keyless, _) = order(app, 82, 5).await;
    stampede_infra::mysql::payments::begin_card_payment(&app.infra.pool, keyless, 82)
        .await
        .unwrap();
    // Reconcile once the PG has decided every transaction.
    let pg = PgClient::new(app.settings.pg.clone());
    let decided = eventually(WAIT, || async {
        for key in &keys {
            if pg.payment_status(key).await.unwrap() == PgStatus::Pending {
                return false;
            }
        }
        true
    })
    .await;
    assert!(decided);

    let (first, second) = (reconciler(app, 5), reconciler(app, 5));
    let (a, b) = tokio::join!(
        first.run_once(|_| {}, || {}),
        second.run_once(|_| {}, || {})
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    let total = |outcome| a.get(&outcome).unwrap_or(&0) + b.get(&outcome).unwrap_or(&0);
    assert_eq!(total(Outcome::Completed), 20, "{a:?} {b:?}");
    assert_eq!(total(Outcome::FailedNoPayment), 1);
    assert_eq!(total(Outcome::FailedNoTransactionKey), 1);
    assert_eq!(
        a.values().sum::<usize>() + b.values().sum::<usize>(),
        22,
        "every order claimed by exactly one"
    );
    for order_id in &orders {
        assert_eq!(status_of(app, *order_id).await.0, "COMPLETED");
        assert_eq!(events(app, "payment.success", *order_id).await, 1);
    }
    assert_eq!(status_of(app, unpaid).await.0, "FAILED");
    assert_eq!(
        status_of(app, keyless).await,
        ("FAILED".into(), vec!["FAILED".into()])
    );
    shop.sim.cancel();
}

#[tokio::test]
async fn a_hanging_pg_query_costs_its_timeout_once_not_once_per_order() {
    let mut shop = shop(PgSimConfig {
        lost_callback_rate: 1.0,
        query_latency_ms: 5_000,
        ..quiet()
    })
    .await;
    let app = &shop.app;
    for user in 90..110 {
        let (order_id, _) = order(app, user, 5).await;
        assert_eq!(pay_card(app, user, order_id).await.status(), 202);
    }
    let mut settings = app.settings.pg.clone();
    settings.retries = 0;
    let reconciler = Reconciler::new(
        app.infra.pool.clone(),
        app.infra.outbox.clone(),
        PgClient::new(PgClientSettings {
            breaker_threshold: 1000,
            ..settings
        }),
        app.settings.reconcile.clone(),
    );
    let started = Instant::now();
    let outcomes = reconciler.run_once(|_| {}, || {}).await.unwrap();
    let elapsed = started.elapsed();
    assert_eq!(outcomes.get(&Outcome::Error), Some(&20), "{outcomes:?}");
    assert!(
        elapsed < Duration::from_secs(3),
        "20 hanging queries took {elapsed:?}: they ran in parallel, each bounded by 500 ms"
    );
    shop.sim.cancel();
}
