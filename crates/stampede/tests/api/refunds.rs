//! Refunds of points payments and cancellations: amounts never beyond what
//! was captured (also under concurrency), replays, who may refund, what a
//! full refund gives back (the conservation audit across a mixed run is
//! `refund_audit.rs`).

use crate::box_office::{admitted, balance, buy, grant_points, hold, on_sale, pay, stored};
use crate::helpers::*;
use crate::payments::{product, scalar};
use stampede_api::auth::Role;
use stampede_infra::mysql::idempotency;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

/// A PENDING order of `quantity` units of `option` with `coupons`; its id.
pub(crate) async fn order(
    app: &TestApp,
    user: u64,
    option: u64,
    quantity: u32,
    coupons: &[String],
) -> u64 {
    let body = serde_json::json!({"items": [{"option_id": option, "quantity": quantity}], "coupon_ids": coupons});
    let response = app
        .post("/orders", &app.token(user, Role::User), Some(body))
        .await;
    assert_eq!(response.status(), 201);
    response.json::<serde_json::Value>().await.unwrap()["id"]
        .as_u64()
        .unwrap()
}

/// `user` given 10,000 points pays for one unit of a new 1,000-point
/// product (five in stock); the order and the payment.
async fn one_unit_paid_in_points(app: &TestApp, user: u64) -> (u64, u64) {
    grant_points(app, user, 10_000).await;
    let option = product(app, 1, 5, None).await[0];
    let order = order(app, user, option, 1, &[]).await;
    (order, pay_points(app, user, order).await)
}

/// Pays `order` with points; the payment id.
pub(crate) async fn pay_points(app: &TestApp, user: u64, order: u64) -> u64 {
    let response = app
        .post(
            &format!("/orders/{order}/payments"),
            &app.token(user, Role::User),
            Some(serde_json::json!({"method": "POINTS"})),
        )
        .await;
    assert_eq!(response.status(), 201);
    response.json::<serde_json::Value>().await.unwrap()["payment_id"]
        .as_u64()
        .unwrap()
}

/// `POST /payments/{payment}/refunds` as `token`, with an optional Idempotency-Key.
pub(crate) async fn refund(
    app: &TestApp,
    token: &str,
    payment: u64,
    amount: Option<u64>,
    key: Option<&str>,
) -> (u16, serde_json::Value) {
    let mut request = app
        .client
        .post(app.url(&format!("/payments/{payment}/refunds")))
        .bearer_auth(token)
        .json(&serde_json::json!({"amount": amount, "reason": "changed my mind"}));
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

async fn order_status(app: &TestApp, order: u64) -> String {
    sqlx::query_scalar("SELECT status FROM orders WHERE id = ?")
        .bind(order)
        .fetch_one(&app.infra.pool)
        .await
        .unwrap()
}

/// Issues `user` a coupon of DB-lock `policy` (written before the answer).
pub(crate) async fn issue_coupon(app: &TestApp, policy: u64, user: u64) {
    let issued = app
        .post(
            &format!("/coupons/{policy}/issue"),
            &app.token(user, Role::User),
            None,
        )
        .await;
    assert_eq!(issued.status(), 201, "{:?}", issued.text().await);
}

/// A user coupon issued to `user` (DB-lock mode: written before the answer); its id.
async fn coupon_for(app: &TestApp, user: u64) -> String {
    let policy = app.open_policy(10, "DB_LOCK").await;
    issue_coupon(app, policy, user).await;
    let find = || async {
        sqlx::query_scalar::<_, String>(
            "SELECT id FROM user_coupons WHERE policy_id = ? AND user_id = ?",
        )
        .bind(policy)
        .bind(user)
        .fetch_optional(&app.infra.pool)
        .await
        .unwrap()
    };
    assert!(eventually(WAIT, || async { find().await.is_some() }).await);
    find().await.unwrap()
}

#[tokio::test]
async fn partial_refunds_add_up_and_the_last_gives_back_stock_and_coupons() {
    let app = spawn_app().await;
    let user = 7001;
    grant_points(&app, user, 10_000).await;
    let option = product(&app, 1, 5, None).await[0];
    let coupon = coupon_for(&app, user).await;
    let order = order(&app, user, option, 2, std::slice::from_ref(&coupon)).await;
    let payment = pay_points(&app, user, order).await;
    let paid_total = 10_000 - balance(&app, user).await;
    let stock_of = |option: u64| {
        let app = &app;
        async move {
            scalar(
                app,
                &format!("SELECT CAST(stock AS SIGNED) FROM product_options WHERE id = {option}"),
            )
            .await
        }
    };
    assert_eq!(stock_of(option).await, 3);
    let token = app.token(user, Role::User);

    let (status, first) = refund(&app, &token, payment, Some(500), None).await;
    assert_eq!(
        (status, first["status"].as_str()),
        (201, Some("SUCCEEDED")),
        "{first}"
    );
    assert_eq!(balance(&app, user).await, 10_000 - paid_total + 500);
    assert_eq!(
        order_status(&app, order).await,
        "PAID",
        "a partial refund keeps the order"
    );
    assert_eq!(stock_of(option).await, 3);

    // Beyond what is left: 409 with a code, and nothing changes.
    let (status, over) = refund(&app, &token, payment, Some(paid_total), None).await;
    assert_eq!(
        (status, over["code"].as_str()),
        (409, Some("REFUND_EXCEEDS_CAPTURED"))
    );
    assert_eq!(balance(&app, user).await, 10_000 - paid_total + 500);
    assert_eq!(
        scalar(
            &app,
            &format!("SELECT COUNT(*) FROM refunds WHERE payment_id = {payment}")
        )
        .await,
        1
    );

    // The rest (no amount): the order is REFUNDED, stock and coupon come back.
    let (status, rest) = refund(&app, &token, payment, None, None).await;
    assert_eq!(status, 201, "{rest}");
    assert_eq!(rest["amount"].as_u64(), Some(paid_total - 500));
    assert_eq!(balance(&app, user).await, 10_000);
    assert_eq!(order_status(&app, order).await, "REFUNDED");
    assert_eq!(stock_of(option).await, 5);
    let coupon_status: String = sqlx::query_scalar("SELECT status FROM user_coupons WHERE id = ?")
        .bind(&coupon)
        .fetch_one(&app.infra.pool)
        .await
        .unwrap();
    assert_eq!(coupon_status, "ISSUED");

    // Nothing is left: a further refund is refused, the terminal order stays.
    let (status, _) = refund(&app, &token, payment, None, None).await;
    assert_eq!(status, 409);
    let listed: serde_json::Value = app
        .get(&format!("/payments/{payment}/refunds"), Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["refunds"].as_array().unwrap().len(), 2);

    // Consumers: two history rows, the buyer told twice, each once.
    assert!(
        eventually(WAIT, || async {
            scalar(
                &app,
                &format!("SELECT COUNT(*) FROM refund_history WHERE payment_id = {payment}"),
            )
            .await
                == 2
                && scalar(
                    &app,
                    "SELECT COUNT(*) FROM notifications WHERE kind = 'PAYMENT_REFUNDED'",
                )
                .await
                    == 2
        })
        .await
    );
    app.stop().await;
}

#[tokio::test]
async fn two_concurrent_refunds_beyond_the_amount_one_succeeds() {
    let app = spawn_app().await;
    let user = 7002;
    let (_, payment) = one_unit_paid_in_points(&app, user).await;
    let token = app.token(user, Role::User);
    // 1000 captured; two refunds of 600 at once.
    let (a, b) = tokio::join!(
        refund(&app, &token, payment, Some(600), None),
        refund(&app, &token, payment, Some(600), None)
    );
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(statuses, [201, 409], "{a:?} {b:?}");
    assert_eq!(balance(&app, user).await, 10_000 - 1000 + 600);
    assert_eq!(
        scalar(
            &app,
            &format!(
                "SELECT CAST(SUM(amount) AS SIGNED) FROM refunds WHERE payment_id = {payment}"
            )
        )
        .await,
        600
    );
    app.stop().await;
}

#[tokio::test]
async fn a_replayed_refund_answers_the_same_and_refunds_once() {
    let app = spawn_app().await;
    let user = 7003;
    let (_, payment) = one_unit_paid_in_points(&app, user).await;
    let token = app.token(user, Role::User);
    let first = refund(&app, &token, payment, Some(300), Some("refund-key-1")).await;
    let again = refund(&app, &token, payment, Some(300), Some("refund-key-1")).await;
    assert_eq!(first.0, 201);
    assert_eq!(first, again);
    assert_eq!(balance(&app, user).await, 10_000 - 1000 + 300);
    app.stop().await;
}

#[tokio::test]
async fn a_refund_whose_first_run_died_before_its_answer_was_stored_is_not_made_twice() {
    let app = spawn_app().await;
    let user = 7006;
    let (_, payment) = one_unit_paid_in_points(&app, user).await;
    let token = app.token(user, Role::User);
    let first = refund(&app, &token, payment, Some(300), Some("died-key")).await;
    assert_eq!(first.0, 201);
    // As if the process died after the refund committed and before the
    // answer was stored, long enough ago for the claim to be taken over.
    sqlx::query(
        "UPDATE idempotency_keys SET response_status = NULL, response_body = NULL, \
         created_at = created_at - INTERVAL ? SECOND WHERE user_id = ? AND idempotency_key = 'died-key'",
    )
    .bind(idempotency::ABANDONED_AFTER_SECS + 1)
    .bind(user)
    .execute(&app.infra.pool)
    .await
    .unwrap();
    let rerun = refund(&app, &token, payment, Some(300), Some("died-key")).await;
    assert_eq!(
        rerun, first,
        "the rerun answers the refund the first run made"
    );
    assert_eq!(
        balance(&app, user).await,
        10_000 - 1000 + 300,
        "refunded once"
    );
    let listed: serde_json::Value = app
        .get(&format!("/payments/{payment}/refunds"), Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["refunds"].as_array().unwrap().len(), 1);
    // Another key is another request: a second partial refund is made.
    let second = refund(&app, &token, payment, Some(300), Some("other-key")).await;
    assert_eq!(second.0, 201);
    assert_ne!(second.1["id"], first.1["id"]);
    app.stop().await;
}

#[tokio::test]
async fn only_the_payer_or_an_admin_refunds_and_bad_input_is_a_4xx() {
    let app = spawn_app().await;
    let user = 7004;
    let (order, payment) = one_unit_paid_in_points(&app, user).await;

    let stranger = app.token(7999, Role::User);
    let (status, body) = refund(&app, &stranger, payment, Some(100), None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("NOT_YOUR_PAYMENT"))
    );
    let listed = app
        .get(&format!("/payments/{payment}/refunds"), Some(&stranger))
        .await;
    assert_eq!(listed.status(), 403);
    let (status, body) = refund(&app, &stranger, 999_999_999, Some(100), None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("PAYMENT_NOT_FOUND"))
    );

    let token = app.token(user, Role::User);
    let (status, _) = refund(&app, &token, payment, Some(0), None).await;
    assert_eq!(status, 422);
    let blank = app
        .post(
            &format!("/payments/{payment}/refunds"),
            &token,
            Some(serde_json::json!({"reason": "  "})),
        )
        .await;
    assert_eq!(blank.status(), 422);
    let no_token = app
        .client
        .post(app.url(&format!("/payments/{payment}/refunds")))
        .json(&serde_json::json!({"reason": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(no_token.status(), 401);

    let admin = app.token(1, Role::Admin);
    let (status, body) = refund(&app, &admin, payment, None, None).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (201, Some("SUCCEEDED")),
        "{body}"
    );
    assert_eq!(
        balance(&app, user).await,
        10_000,
        "the payer gets the money, not the admin"
    );
    assert_eq!(order_status(&app, order).await, "REFUNDED");
    app.stop().await;
}

#[tokio::test]
async fn a_pending_order_is_cancelled_and_a_paid_one_is_refunded_instead() {
    let app = spawn_app().await;
    let user = 7005;
    grant_points(&app, user, 10_000).await;
    let option = product(&app, 1, 5, None).await[0];
    let coupon = coupon_for(&app, user).await;
    let token = app.token(user, Role::User);

    let pending = order(&app, user, option, 1, std::slice::from_ref(&coupon)).await;
    let stranger = app
        .post(
            &format!("/orders/{pending}/cancel"),
            &app.token(7998, Role::User),
            None,
        )
        .await;
    assert_eq!(stranger.status(), 404);
    let cancelled = app
        .post(&format!("/orders/{pending}/cancel"), &token, None)
        .await;
    assert_eq!(cancelled.status(), 200);
    assert_eq!(order_status(&app, pending).await, "CANCELLED");
    let again: serde_json::Value = app
        .post(&format!("/orders/{pending}/cancel"), &token, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["code"], "ORDER_NOT_CANCELLABLE");
    // Its coupon was never taken: another order can use it.
    let paid = order(&app, user, option, 1, std::slice::from_ref(&coupon)).await;
    pay_points(&app, user, paid).await;
    let refused = app
        .post(&format!("/orders/{paid}/cancel"), &token, None)
        .await;
    assert_eq!(refused.status(), 409);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["code"], "ORDER_PAID_REFUND_INSTEAD");
    assert_eq!(order_status(&app, paid).await, "PAID");
    app.stop().await;
}

/// Buys the one seat of a fresh schedule for `user` and refunds it in
/// full; (sale, reservation).
async fn bought_and_refunded(app: &TestApp, user: u64) -> (crate::box_office::OnSale, u64) {
    let sale = on_sale(app, 1, 1, 5000).await;
    let reservation = buy(app, user, &sale, 0, 0).await;
    let payment = scalar(app, &format!("SELECT CAST(id AS SIGNED) FROM payments WHERE reservation_id = {reservation} AND status = 'SUCCESS'")).await as u64;
    let before = balance(app, user).await;
    let (status, body) = refund(app, &app.token(user, Role::User), payment, None, None).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(balance(app, user).await, before + 5000);
    (sale, reservation)
}

#[tokio::test]
async fn a_refunded_seat_is_on_sale_again() {
    let app = spawn_app().await;
    let (_, reservation) = bought_and_refunded(&app, 7006).await;
    assert_eq!(
        stored(&app, reservation).await,
        ("REFUNDED".to_owned(), "AVAILABLE".to_owned())
    );
    app.stop().await;
}

#[tokio::test]
async fn a_refunded_seat_takes_its_schedule_out_of_the_sold_out_ranking() {
    let app = spawn_app().await;
    let (sale, _) = bought_and_refunded(&app, 7008).await;
    let schedule = sale.schedule_ids[0];
    let ranked = || async {
        scalar(
            &app,
            &format!("SELECT COUNT(*) FROM sold_out_rankings WHERE schedule_id = {schedule}"),
        )
        .await
    };
    // The refunded seat sells again (once the paid hold is cleaned up by
    // its consumer), the schedule is sold out, and a refund un-sells it.
    grant_points(&app, 7009, 10_000).await;
    let queue_token = admitted(&app, 7009, sale.concert_id).await;
    let held = std::cell::Cell::new(0);
    assert!(
        eventually(WAIT, || async {
            let (status, body) = hold(&app, 7009, &queue_token, schedule, sale.seats[0][0]).await;
            held.set(body["id"].as_u64().unwrap_or(0));
            status == 201
        })
        .await,
        "the refunded seat can be held again"
    );
    let sold_again = held.get();
    assert_eq!(pay(&app, 7009, &queue_token, sold_again).await.0, 201);
    assert!(
        eventually(WAIT, || async { ranked().await == 1 }).await,
        "sold out again"
    );
    let payment = scalar(&app, &format!("SELECT CAST(id AS SIGNED) FROM payments WHERE reservation_id = {sold_again} AND status = 'SUCCESS'")).await as u64;
    let (status, _) = refund(&app, &app.token(7009, Role::User), payment, None, None).await;
    assert_eq!(status, 201);
    assert!(
        eventually(WAIT, || async { ranked().await == 0 }).await,
        "un-sold"
    );
    app.stop().await;
}
