//! A rolling restart (SIGTERM, start, the next) of all three instances
//! behind a load balancer, while buyers pay with points and by card through
//! the PG simulator, retrying as a client does with its Idempotency-Key:
//! nothing lost, nothing charged twice, every paid order's events consumed
//! once in effect.

use crate::support::checks::{eventually, paid_orders_consumed_once, WAIT};
use crate::support::client::Client;
use crate::Shop;
use futures::StreamExt;
use stampede::commands::pg_sim::PgSimConfig;
use stampede_api::auth::Role;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Buyers who may come; the stream stops taking new ones once every
/// instance has been restarted and payments went on after the last.
const MAX_BUYERS: u64 = 3000;
/// Payments answered between two restarts (and after the last).
const BETWEEN_RESTARTS: usize = 50;
const FIRST_BUYER: u64 = 500_000;
const POINTS: u64 = 10_000;
const PRICE: u64 = 1000;

/// POSTs `body` until an answer says how it ended: a cut connection, a
/// 5xx or "still in progress" is asked again with the same Idempotency-Key,
/// as a client does.
async fn post_once(
    client: &Client,
    url: &str,
    user: u64,
    key: &str,
    body: &serde_json::Value,
) -> (u16, serde_json::Value) {
    let bearer = client.token(user, Role::User);
    loop {
        let sent = client
            .http
            .post(url)
            .bearer_auth(&bearer)
            .header("Idempotency-Key", key)
            .json(body)
            .send()
            .await;
        if let Ok(response) = sent {
            let status = response.status().as_u16();
            let answer: serde_json::Value = response.json().await.unwrap_or_default();
            let retry = status >= 500 || answer["code"] == "IDEMPOTENCY_KEY_IN_PROGRESS";
            if !retry {
                return (status, answer);
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// One buyer: orders one unit of `option`, then pays for it, even users
/// with points and odd ones by card; (order id, the payment's answer).
async fn buy(
    client: &Client,
    base: &str,
    user: u64,
    option: u64,
) -> (u64, (u16, serde_json::Value)) {
    let order_body =
        serde_json::json!({"items": [{"option_id": option, "quantity": 1}], "coupon_ids": []});
    let (status, order) = post_once(
        client,
        &format!("{base}/orders"),
        user,
        &format!("order-{user}"),
        &order_body,
    )
    .await;
    assert_eq!(status, 201, "user {user}'s order: {order}");
    let order = order["id"].as_u64().unwrap();
    let pay_body = if user.is_multiple_of(2) {
        serde_json::json!({"method": "POINTS"})
    } else {
        serde_json::json!({"method": "CARD", "card_type": "VISA", "card_no": "4111-1111-1111-1111"})
    };
    let url = format!("{base}/orders/{order}/payments");
    let paid = post_once(client, &url, user, &format!("pay-{order}"), &pay_body).await;
    (order, paid)
}

#[tokio::test]
async fn a_rolling_restart_during_points_and_card_payments_loses_nothing_and_charges_once() {
    let shop = Shop::start(
        PgSimConfig {
            latency_min_ms: 10,
            latency_max_ms: 40,
            failure_rate: 0.0,
            ..PgSimConfig::default()
        },
        |overrides| {
            // A card payment whose callback was refused is settled against the PG.
            overrides
                .set("reconcile.interval_secs", 1)
                .set("reconcile.stale_after_secs", 15)
                .set("reconcile.lease_secs", 10);
        },
    )
    .await;
    let Shop {
        mut fleet,
        balancer,
        settings,
        pg_port,
        ..
    } = shop;
    let client = Client::new(&settings);
    let base = balancer.url("");
    let db = stampede_infra::mysql::connect(&settings.database)
        .await
        .unwrap();

    let option = client.product(&base, 1, MAX_BUYERS).await[0];
    futures::stream::iter(FIRST_BUYER..FIRST_BUYER + MAX_BUYERS)
        .for_each_concurrent(16, |user| {
            let (client, base) = (&client, &base);
            async move { client.grant_points(base, user, POINTS).await }
        })
        .await;

    let answered = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let payments = {
        let (client, base, answered) = (client.clone(), base.clone(), answered.clone());
        let stop = stop.clone();
        tokio::spawn(async move {
            futures::stream::iter(FIRST_BUYER..FIRST_BUYER + MAX_BUYERS)
                .take_while(move |_| std::future::ready(!stop.load(Ordering::SeqCst)))
                .map(|user| {
                    let (client, base, answered) = (&client, &base, &answered);
                    async move {
                        let (order, paid) = buy(client, base, user, option).await;
                        answered.fetch_add(1, Ordering::SeqCst);
                        (user, order, paid)
                    }
                })
                .buffer_unordered(6)
                .collect::<Vec<_>>()
                .await
        })
    };

    // Each instance in turn: stopped gracefully, started, serving again.
    let went_on = || async {
        let before = answered.load(Ordering::SeqCst);
        eventually(WAIT, || async {
            answered.load(Ordering::SeqCst) >= before + BETWEEN_RESTARTS
        })
        .await
    };
    for n in 0..fleet.instances.len() {
        assert!(
            went_on().await,
            "payments went on before restarting instance {}",
            n + 1
        );
        let clean = fleet.instances[n].terminate().await;
        assert!(clean, "instance {} stopped cleanly on SIGTERM", n + 1);
        fleet.instances[n].restart().await;
        eprintln!(
            "instance {} restarted after {} answers",
            n + 1,
            answered.load(Ordering::SeqCst)
        );
    }
    assert!(went_on().await, "payments went on after the last restart");
    stop.store(true, Ordering::SeqCst);
    let answers = payments.await.unwrap();
    let buyers = answers.len() as i64;
    assert!(
        buyers < MAX_BUYERS as i64,
        "the stream outlasted the restarts ({buyers} buyers)"
    );
    for (user, order, (status, answer)) in &answers {
        assert!(
            [201, 202].contains(status),
            "user {user}, order {order}: {status} {answer}"
        );
    }

    // Card payments end with the PG's callback (or the reconciler's query).
    let all_paid = eventually(WAIT, || async {
        crate::support::checks::count(
            &db,
            "SELECT COUNT(*) FROM orders WHERE status IN ('PAID', 'COMPLETED')",
        )
        .await
            == buyers
    })
    .await;
    assert!(
        all_paid,
        "every order is paid (PAID with points, COMPLETED by card)"
    );
    let successes = crate::support::checks::count(
        &db,
        "SELECT COUNT(*) FROM payments WHERE status = 'SUCCESS'",
    )
    .await;
    assert_eq!(successes, buyers, "one successful payment per order");
    for (user, order, _) in &answers {
        if user.is_multiple_of(2) {
            let balance: u64 =
                sqlx::query_scalar("SELECT balance FROM user_points WHERE user_id = ?")
                    .bind(user)
                    .fetch_one(&db)
                    .await
                    .unwrap();
            assert_eq!(balance, POINTS - PRICE, "user {user} paid once in points");
        } else {
            let charged = client
                .get_json(
                    &format!("http://127.0.0.1:{pg_port}/api/v1/payments?orderId={order}"),
                    None,
                )
                .await;
            let approved = charged["transactions"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|t| t["status"] == "SUCCESS")
                .count();
            assert_eq!(
                approved, 1,
                "order {order} charged once at the PG: {charged}"
            );
        }
    }
    paid_orders_consumed_once(&db, buyers as usize).await;
}
