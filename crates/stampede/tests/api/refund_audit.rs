//! Stock, coupons, points and seats conserved across a mixed run of 1,000
//! points payments (orders, some with coupons, and concert seats) and 300
//! refunded payments (full, and partial pairs racing past the capture),
//! audited in SQL.

use crate::box_office::{admitted, grant_points, hold, on_sale, pay};
use crate::helpers::*;
use crate::payments::{product, scalar};
use crate::refunds::{issue_coupon, order, pay_points, refund};
use futures::StreamExt;
use stampede_api::auth::Role;

const BUYERS: u64 = 100;
const FIRST_BUYER: u64 = 8000;
const ORDERS_EACH: u64 = 9;
const COUPONS_EACH: u64 = 2;
/// Orders that use a coupon: each buyer's first `COUPONS_EACH`.
const COUPON_ORDERS: usize = (BUYERS * COUPONS_EACH) as usize;
const POINTS: u64 = 100_000;
const OPTIONS: usize = 4;
const STOCK: u64 = 1_000;
const SEAT_PRICE: u64 = 2_000;
/// Requests in flight at once (the app's pool is widened to match).
const IN_FLIGHT: usize = 32;

/// What each paid order is refunded with, by its place in the run.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Plan {
    Keep,
    Full,
    /// Full, after its coupon expired: the coupon stays USED.
    FullExpired,
    /// Two partial refunds of just over half, at once: one fits.
    RacingPair,
}

/// One paid order: who paid which payment, with which coupon.
struct Paid {
    user: u64,
    payment: u64,
    coupon: Option<String>,
}

/// A DB-lock coupon policy every buyer takes `COUPONS_EACH` of.
async fn coupon_policy(app: &TestApp) -> u64 {
    let mut body = crate::support::client::policy_body(BUYERS * COUPONS_EACH, "DB_LOCK");
    body["per_user_limit"] = COUPONS_EACH.into();
    // Less than an order of one unit: every coupon order still pays something.
    body["discount"] = serde_json::json!({"kind": "FIXED", "amount": 300});
    let admin = app.token(1, Role::Admin);
    let created = app.post("/admin/coupon-policies", &admin, Some(body)).await;
    assert_eq!(created.status(), 201, "{:?}", created.text().await);
    let id = created.json::<serde_json::Value>().await.unwrap()["id"]
        .as_u64()
        .unwrap();
    let opened = app
        .post(&format!("/admin/coupon-policies/{id}/open"), &admin, None)
        .await;
    assert_eq!(opened.status(), 200);
    id
}

/// The user's coupons of `policy`, oldest first.
async fn coupons_of(app: &TestApp, policy: u64, user: u64) -> Vec<String> {
    for _ in 0..COUPONS_EACH {
        issue_coupon(app, policy, user).await;
    }
    sqlx::query_scalar(
        "SELECT id FROM user_coupons WHERE policy_id = ? AND user_id = ? ORDER BY ordinal",
    )
    .bind(policy)
    .bind(user)
    .fetch_all(&app.infra.pool)
    .await
    .unwrap()
}

/// Seat `n` of the sale, held and paid by `user`; the payment id.
async fn buy_seat(app: &TestApp, sale: &crate::box_office::OnSale, user: u64, n: usize) -> u64 {
    let queue_token = admitted(app, user, sale.concert_id).await;
    let (status, held) = hold(
        app,
        user,
        &queue_token,
        sale.schedule_ids[0],
        sale.seats[0][n],
    )
    .await;
    assert_eq!(status, 201, "{held}");
    let reservation = held["id"].as_u64().unwrap();
    let (status, paid) = pay(app, user, &queue_token, reservation).await;
    assert_eq!(status, 201, "{paid}");
    scalar(
        app,
        &format!("SELECT CAST(id AS SIGNED) FROM payments WHERE reservation_id = {reservation}"),
    )
    .await as u64
}

/// The coupon orders come first (`COUPON_ORDERS` of them), then the plain
/// ones. 270 of the 900 are refunded: 60 coupon orders in full, 10 of them
/// after their coupon expired; 105 plain ones in full and 105 by racing
/// pairs. The rest are kept.
fn plan_of(n: usize) -> Plan {
    match n {
        0..60 if n.is_multiple_of(6) => Plan::FullExpired,
        0..60 => Plan::Full,
        COUPON_ORDERS..410 if n.is_multiple_of(2) => Plan::Full,
        COUPON_ORDERS..410 => Plan::RacingPair,
        _ => Plan::Keep,
    }
}

#[tokio::test]
async fn stock_coupons_points_and_seats_are_conserved_across_1000_payments_and_300_refunds() {
    let mut overrides = crate::support::settings::Overrides::unique();
    overrides.set("database.max_connections", IN_FLIGHT);
    let test_app = spawn_app_with(overrides.settings(), vec![]).await;
    let app = &test_app;
    let options = product(app, OPTIONS, STOCK, None).await;
    let policy = coupon_policy(app).await;
    let users: Vec<u64> = (FIRST_BUYER..FIRST_BUYER + BUYERS).collect();
    let coupons: Vec<Vec<String>> = futures::stream::iter(users.iter().map(|&user| async move {
        grant_points(app, user, POINTS).await;
        coupons_of(app, policy, user).await
    }))
    .buffered(IN_FLIGHT)
    .collect()
    .await;

    // 900 order payments: each buyer's first orders use its coupons.
    let jobs: Vec<(u64, u64, Option<String>)> = users
        .iter()
        .zip(&coupons)
        .flat_map(|(&user, theirs)| {
            (0..ORDERS_EACH).map(move |k| (user, k, theirs.get(k as usize).cloned()))
        })
        .collect();
    let mut paid: Vec<Paid> = futures::stream::iter(jobs.into_iter().map(|(user, k, coupon)| {
        let option = options[k as usize % OPTIONS];
        async move {
            let order = order(app, user, option, 1 + (k as u32 % 3), coupon.as_slice()).await;
            let payment = pay_points(app, user, order).await;
            Paid {
                user,
                payment,
                coupon,
            }
        }
    }))
    .buffer_unordered(IN_FLIGHT)
    .collect()
    .await;
    // Coupon orders first, so the plan reaches both kinds.
    paid.sort_by_key(|p| (p.coupon.is_none(), p.payment));
    // 100 seat payments, one seat per buyer.
    let sale = on_sale(app, 1, BUYERS as u32, SEAT_PRICE).await;
    let seat_payments: Vec<(u64, u64)> =
        futures::stream::iter(users.iter().enumerate().map(|(n, &user)| {
            let sale = &sale;
            async move { (user, buy_seat(app, sale, user, n).await) }
        }))
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await;
    assert_eq!(paid.len() + seat_payments.len(), 1_000);

    // Time passes for some coupons: USED, and expired before their refund.
    assert!(paid[..COUPON_ORDERS].iter().all(|p| p.coupon.is_some()));
    let plans: Vec<Plan> = (0..paid.len()).map(plan_of).collect();
    for (p, _) in paid
        .iter()
        .zip(&plans)
        .filter(|(_, plan)| **plan == Plan::FullExpired)
    {
        sqlx::query("UPDATE user_coupons SET expires_at = UTC_TIMESTAMP(3) - INTERVAL 1 MINUTE WHERE id = ?")
            .bind(p.coupon.as_ref().unwrap())
            .execute(&app.infra.pool)
            .await
            .unwrap();
    }
    let count = |plan: Plan| plans.iter().filter(|p| **p == plan).count() as i64;
    let (full, expired, raced) = (
        count(Plan::Full),
        count(Plan::FullExpired),
        count(Plan::RacingPair),
    );
    let coupon_orders_refunded = paid
        .iter()
        .zip(&plans)
        .filter(|(p, plan)| p.coupon.is_some() && **plan == Plan::Full)
        .count() as i64;
    assert_eq!((full, expired, raced), (155, 10, 105));
    assert_eq!(coupon_orders_refunded, 50);

    // 300 refunded payments at once: 270 orders, 30 seats.
    let jobs: Vec<(u64, u64, bool)> = paid
        .iter()
        .zip(&plans)
        .filter(|(_, plan)| **plan != Plan::Keep)
        .map(|(p, plan)| (p.user, p.payment, *plan == Plan::RacingPair))
        .chain(seat_payments.iter().take(30).map(|&(u, p)| (u, p, false)))
        .collect();
    let answers: Vec<Vec<u16>> =
        futures::stream::iter(jobs.into_iter().map(|(user, payment, racing)| async move {
            let token = app.token(user, Role::User);
            if !racing {
                return vec![refund(app, &token, payment, None, None).await.0];
            }
            let captured = scalar(
                app,
                &format!("SELECT CAST(amount AS SIGNED) FROM payments WHERE id = {payment}"),
            )
            .await as u64;
            let part = Some(captured / 2 + 1);
            let (a, b) = tokio::join!(
                refund(app, &token, payment, part, None),
                refund(app, &token, payment, part, None)
            );
            let mut statuses = vec![a.0, b.0];
            statuses.sort();
            statuses
        }))
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await;
    assert_eq!(answers.len(), 300);
    assert!(
        answers
            .iter()
            .all(|a| a.as_slice() == [201] || a.as_slice() == [201, 409]),
        "every full refund 201, every racing pair one 201 and one 409: {answers:?}"
    );

    // The audit, in SQL, on the buyers' rows.
    let ids = users
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(",");
    // Points: what users hold + what payments kept = what was granted.
    let held = scalar(
        app,
        &format!("SELECT CAST(SUM(balance) AS SIGNED) FROM user_points WHERE user_id IN ({ids})"),
    )
    .await;
    let captured = scalar(app, &format!("SELECT CAST(SUM(amount) AS SIGNED) FROM payments WHERE user_id IN ({ids}) AND status = 'SUCCESS'")).await;
    let refunded = scalar(app, &format!("SELECT CAST(SUM(amount) AS SIGNED) FROM refunds WHERE user_id IN ({ids}) AND status = 'SUCCEEDED'")).await;
    let granted = scalar(
        app,
        &format!("SELECT CAST(SUM(amount) AS SIGNED) FROM point_grants WHERE user_id IN ({ids})"),
    )
    .await;
    assert_eq!(granted, (BUYERS * POINTS) as i64);
    assert_eq!(held + captured - refunded, granted);
    assert_eq!(
        scalar(
            app,
            &format!(
                "SELECT COUNT(*) FROM refunds WHERE user_id IN ({ids}) AND status = 'SUCCEEDED'"
            )
        )
        .await,
        300,
        "one refund per refunded payment: the second of a racing pair was refused"
    );
    // No payment refunded beyond what it captured.
    assert_eq!(scalar(app, &format!(
        "SELECT COUNT(*) FROM payments p WHERE p.user_id IN ({ids}) AND p.amount < \
         (SELECT COALESCE(SUM(amount), 0) FROM refunds WHERE payment_id = p.id AND status = 'SUCCEEDED')"
    )).await, 0);
    // Stock: what is left + what PAID orders hold = what there was.
    let option_ids = options
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let left = scalar(
        app,
        &format!(
            "SELECT CAST(SUM(stock) AS SIGNED) FROM product_options WHERE id IN ({option_ids})"
        ),
    )
    .await;
    let sold = scalar(app, &format!(
        "SELECT CAST(COALESCE(SUM(i.quantity), 0) AS SIGNED) FROM order_items i JOIN orders o ON o.id = i.order_id \
         WHERE o.status = 'PAID' AND i.option_id IN ({option_ids})"
    )).await;
    assert_eq!(left + sold, OPTIONS as i64 * STOCK as i64);
    // Orders: every fully refunded one REFUNDED, and only those.
    let orders_in = |status: &str| {
        let sql =
            format!("SELECT COUNT(*) FROM orders WHERE user_id IN ({ids}) AND status = '{status}'");
        async move { scalar(app, &sql).await }
    };
    assert_eq!(orders_in("REFUNDED").await, full + expired);
    assert_eq!(orders_in("PAID").await, 900 - full - expired);
    assert_eq!(scalar(app, &format!(
        "SELECT COUNT(*) FROM payments p JOIN orders o ON o.id = p.order_id WHERE p.user_id IN ({ids}) \
         AND o.status <> 'REFUNDED' AND p.amount = \
         (SELECT COALESCE(SUM(amount), 0) FROM refunds WHERE payment_id = p.id AND status = 'SUCCEEDED')"
    )).await, 0);
    // Coupons: ISSUED again exactly for the unexpired ones of refunded orders.
    let coupons_in = |status: &str| {
        let sql = format!(
            "SELECT COUNT(*) FROM user_coupons WHERE policy_id = {policy} AND status = '{status}'"
        );
        async move { scalar(app, &sql).await }
    };
    assert_eq!(coupons_in("ISSUED").await, coupon_orders_refunded);
    assert_eq!(
        coupons_in("USED").await,
        (BUYERS * COUPONS_EACH) as i64 - coupon_orders_refunded
    );
    assert_eq!(scalar(app, &format!(
        "SELECT COUNT(*) FROM user_coupons c JOIN order_coupons oc ON oc.user_coupon_id = c.id \
         JOIN orders o ON o.id = oc.order_id WHERE c.policy_id = {policy} AND o.status = 'REFUNDED' \
         AND c.status = 'USED' AND c.expires_at <= UTC_TIMESTAMP(3)"
    )).await, expired, "an expired coupon stays USED");
    // Seats: SOLD = reservations paid and not refunded; a refunded seat is AVAILABLE.
    let schedule = sale.schedule_ids[0];
    let seats_in = |status: &str| {
        let sql = format!(
            "SELECT COUNT(*) FROM seats WHERE schedule_id = {schedule} AND status = '{status}'"
        );
        async move { scalar(app, &sql).await }
    };
    let reservations_in = |status: &str| {
        let sql = format!(
            "SELECT COUNT(*) FROM reservations r JOIN seats s ON s.id = r.seat_id \
             WHERE s.schedule_id = {schedule} AND r.status = '{status}'"
        );
        async move { scalar(app, &sql).await }
    };
    assert_eq!(seats_in("SOLD").await, 70);
    assert_eq!(reservations_in("CONFIRMED").await, 70);
    assert_eq!(seats_in("AVAILABLE").await, 30);
    assert_eq!(reservations_in("REFUNDED").await, 30);
    test_app.stop().await;
}
