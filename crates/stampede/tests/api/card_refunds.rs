//! Card refunds through the PG simulator: SUCCEEDED or FAILED as the PG
//! answers (a FAILED one keeps the money and may be asked again), late
//! payments refunded by themselves, and PENDING refunds the reconciler
//! finishes.

use crate::card::{order, pay_card, quiet, reconciler, shop, status_of, stock};
use crate::helpers::*;
use stampede_api::auth::Role;
use stampede_core::payment::{RefundStatus, Refunder};
use stampede_infra::mysql::refunds::{self, RefundRequest};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

async fn refund(
    app: &TestApp,
    user: u64,
    payment: u64,
    amount: Option<u64>,
) -> (u16, serde_json::Value) {
    let response = app
        .post(
            &format!("/payments/{payment}/refunds"),
            &app.token(user, Role::User),
            Some(serde_json::json!({"amount": amount, "reason": "returned"})),
        )
        .await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

/// A COMPLETED card payment of one unit of a fresh option; (order, option, payment).
async fn paid_by_card(app: &TestApp, user: u64) -> (u64, u64, u64) {
    let (order_id, option) = order(app, user, 3).await;
    let answer: serde_json::Value = pay_card(app, user, order_id).await.json().await.unwrap();
    assert!(
        eventually(WAIT, || async {
            status_of(app, order_id).await.0 == "COMPLETED"
        })
        .await
    );
    (order_id, option, answer["payment_id"].as_u64().unwrap())
}

/// Sets the simulator's decline rate while it runs.
async fn pg_declines(app: &TestApp, rate: f64) {
    let response = app
        .client
        .put(format!(
            "{}/api/v1/simulator/faults",
            app.settings.pg.base_url
        ))
        .json(&serde_json::json!({"failureRate": rate}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
}

#[tokio::test]
async fn a_card_refund_declined_by_the_pg_keeps_the_money_and_a_retry_works() {
    let mut shop = shop(quiet()).await;
    let app = &shop.app;
    let (order_id, option, payment) = paid_by_card(app, 61).await;

    pg_declines(app, 1.0).await;
    let (status, declined) = refund(app, 61, payment, None).await;
    assert_eq!(
        (status, declined["status"].as_str()),
        (201, Some("FAILED")),
        "{declined}"
    );
    assert_eq!(
        status_of(app, order_id).await.0,
        "COMPLETED",
        "nothing went back"
    );
    assert_eq!(stock(app, option).await, 2);

    pg_declines(app, 0.0).await;
    let (status, retried) = refund(app, 61, payment, Some(400)).await;
    assert_eq!(
        (status, retried["status"].as_str()),
        (201, Some("SUCCEEDED")),
        "{retried}"
    );
    let (status, rest) = refund(app, 61, payment, None).await;
    assert_eq!(
        (status, rest["amount"].as_u64()),
        (201, Some(600)),
        "{rest}"
    );
    assert_eq!(status_of(app, order_id).await.0, "REFUNDED");
    assert_eq!(
        stock(app, option).await,
        3,
        "a full refund returns the stock"
    );
    let (status, over) = refund(app, 61, payment, Some(1)).await;
    assert_eq!(
        (status, over["code"].as_str()),
        (409, Some("REFUND_EXCEEDS_CAPTURED"))
    );
    shop.sim.cancel();
}

#[tokio::test]
async fn a_late_payment_for_stock_that_ran_out_is_refunded_by_itself_and_the_buyer_told_why() {
    let mut shop = shop(quiet()).await;
    let app = &shop.app;
    // One unit, two buyers paying by card at once: one gets it, the other's
    // money comes back.
    let (first, option) = order(app, 62, 1).await;
    let body = serde_json::json!({"items": [{"option_id": option, "quantity": 1}]});
    let second: serde_json::Value = app
        .post("/orders", &app.token(63, Role::User), Some(body))
        .await
        .json()
        .await
        .unwrap();
    let second = second["id"].as_u64().unwrap();
    let (a, b) = tokio::join!(pay_card(app, 62, first), pay_card(app, 63, second));
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (202, 202));
    let settled = || async {
        let refunds: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM refunds WHERE requested_by = 'SYSTEM' AND status = ?",
        )
        .bind(RefundStatus::Succeeded.as_str())
        .fetch_one(&app.infra.pool)
        .await
        .unwrap();
        refunds == 1
    };
    assert!(
        eventually(WAIT, settled).await,
        "the unfulfilled payment is refunded"
    );
    let mut statuses = [
        status_of(app, first).await.0,
        status_of(app, second).await.0,
    ];
    statuses.sort();
    assert_eq!(statuses, ["COMPLETED".to_owned(), "FAILED".to_owned()]);
    assert_eq!(stock(app, option).await, 0, "never sold twice");
    let reason: String =
        sqlx::query_scalar("SELECT reason FROM refunds WHERE requested_by = 'SYSTEM'")
            .fetch_one(&app.infra.pool)
            .await
            .unwrap();
    assert!(reason.starts_with("LATE_PAYMENT: OUT_OF_STOCK"), "{reason}");
    assert!(
        eventually(WAIT, || async {
            let told: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM notifications WHERE kind = 'PAYMENT_REFUNDED' AND body LIKE '%LATE_PAYMENT%'",
            )
            .fetch_one(&app.infra.pool)
            .await
            .unwrap();
            told == 1
        })
        .await,
        "the buyer is told why"
    );
    shop.sim.cancel();
}

#[tokio::test]
async fn a_refund_left_pending_is_finished_by_the_reconciler() {
    let mut shop = shop(quiet()).await;
    let app = &shop.app;
    let (order_id, _, payment) = paid_by_card(app, 64).await;
    // As if the process stopped between writing the refund and asking the PG.
    let pending = refunds::begin_refund(
        &app.infra.pool,
        &app.infra.outbox,
        RefundRequest {
            payment_id: payment,
            by: Refunder::User(64),
            amount: None,
            reason: "returned",
            request_key: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(pending.status, RefundStatus::Pending);
    // Its amount is reserved meanwhile: nothing more can be refunded.
    assert_eq!(refund(app, 64, payment, Some(1)).await.0, 409);
    let outcomes = reconciler(app, 4).reconcile_refunds().await.unwrap();
    assert_eq!(
        outcomes.get(&RefundStatus::Succeeded),
        Some(&1),
        "{outcomes:?}"
    );
    assert_eq!(status_of(app, order_id).await.0, "REFUNDED");
    // A second round finds nothing, and the PG refunded once.
    assert!(reconciler(app, 4)
        .reconcile_refunds()
        .await
        .unwrap()
        .is_empty());
    shop.sim.cancel();
}
