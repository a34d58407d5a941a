//! Part 3: the shop. Coupon winners order a sneaker with their coupon and
//! pay: most with points (one transaction), every third by card through the
//! PG simulator (settled by its signed callback), and every tenth points
//! buyer is short of points, so that payment is refused and recorded.

use super::client::Api;
use futures::StreamExt;
use reqwest::Method;
use stampede_api::auth::Role;
use std::time::{Duration, Instant};

#[derive(Debug, Default)]
pub struct Shop {
    pub ok: bool,
    pub points_paid: usize,
    pub points_refused: usize,
    pub card_completed: usize,
    pub card_failed: usize,
    pub card_unsettled: usize,
    /// Payments that succeeded (for the consumers' checks).
    pub paid_payments: Vec<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plan {
    Points,
    ShortOfPoints,
    Card,
}

pub async fn run(api: &Api, buyers: &[(u64, String)], card: bool) -> anyhow::Result<Shop> {
    let admin = (1, Role::Admin);
    let product = serde_json::json!({
        "name": "Stampede sneaker",
        "options": [
            {"name": "270", "price": 20000, "stock": buyers.len()},
            {"name": "280", "price": 20000, "stock": buyers.len()},
        ],
    });
    let created = api.post_ok("/admin/products", admin, product).await?;
    let options: Vec<u64> = created["option_ids"]
        .as_array()
        .map(|ids| ids.iter().filter_map(|id| id.as_u64()).collect())
        .unwrap_or_default();
    anyhow::ensure!(options.len() == 2, "the product has no options: {created}");
    println!(
        "\nStampede demo — 3. shop: {} coupon winners buy a sneaker (points; every third by card{})",
        buyers.len(),
        if card { " through pg-sim" } else { ": skipped, pg-sim is not running" }
    );
    let plans: Vec<(u64, String, Plan, u64)> = buyers
        .iter()
        .enumerate()
        .map(|(i, (user, coupon))| {
            let plan = match i {
                i if card && i % 3 == 2 => Plan::Card,
                i if i % 10 == 9 => Plan::ShortOfPoints,
                _ => Plan::Points,
            };
            (*user, coupon.clone(), plan, options[i % 2])
        })
        .collect();
    let results: Vec<anyhow::Result<(Plan, u64, u16, serde_json::Value)>> = futures::stream::iter(
        plans
            .iter()
            .map(|(user, coupon, plan, option)| buy(api, *user, coupon, *plan, *option)),
    )
    .buffer_unordered(10)
    .collect()
    .await;
    let mut shop = Shop::default();
    let mut card_orders = Vec::new();
    for result in results {
        let (plan, order, status, body) = result?;
        match (plan, status) {
            (Plan::Card, 202) => card_orders.push((order, body["user_id"].as_u64())),
            (Plan::Card, _) => shop.card_failed += 1,
            (_, 201) => {
                shop.points_paid += 1;
                shop.paid_payments.extend(body["payment_id"].as_u64());
            }
            (_, _) if body["code"] == "INSUFFICIENT_POINTS" => shop.points_refused += 1,
            (_, status) => anyhow::bail!("a points payment answered {status}: {body}"),
        }
    }
    // Card payments settle when pg-sim calls back (100–500 ms later).
    let deadline = Instant::now() + Duration::from_secs(30);
    for (order, user) in card_orders {
        loop {
            let (_, view) = api
                .get(
                    &format!("/orders/{order}"),
                    Some((user.unwrap_or_default(), Role::User)),
                )
                .await?;
            match view["status"].as_str() {
                Some("COMPLETED") => {
                    shop.card_completed += 1;
                    shop.paid_payments
                        .extend(view["payments"][0]["id"].as_u64());
                    break;
                }
                Some("FAILED") => {
                    shop.card_failed += 1;
                    break;
                }
                _ if Instant::now() > deadline => {
                    shop.card_unsettled += 1;
                    break;
                }
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }
    let planned_short = plans.iter().filter(|p| p.2 == Plan::ShortOfPoints).count();
    println!("  orders paid with points          {}", shop.points_paid);
    println!(
        "  refused: INSUFFICIENT_POINTS     {} (payment.failed recorded)",
        shop.points_refused
    );
    println!(
        "  card: completed / declined       {} / {} (pg-sim declines some on purpose)",
        shop.card_completed, shop.card_failed
    );
    println!("  card: still pending              {}", shop.card_unsettled);
    shop.ok = shop.points_refused == planned_short && shop.card_unsettled == 0;
    Ok(shop)
}

/// Charges, orders with the coupon and pays; returns (plan, order id,
/// payment answer) — the answer's body carries `user_id` for card orders.
async fn buy(
    api: &Api,
    user: u64,
    coupon: &str,
    plan: Plan,
    option: u64,
) -> anyhow::Result<(Plan, u64, u16, serde_json::Value)> {
    let me = (user, Role::User);
    let points = if plan == Plan::ShortOfPoints {
        1_000
    } else {
        50_000
    };
    api.grant_points(user, points, "demo shopper").await?;
    let order = serde_json::json!({"items": [{"option_id": option, "quantity": 1}], "coupon_ids": [coupon]});
    let order = api.post_ok("/orders", me, order).await?;
    let order_id = order["id"].as_u64().unwrap_or_default();
    let payment = match plan {
        Plan::Card => {
            serde_json::json!({"method": "CARD", "card_type": "VISA", "card_no": "4111-1111-1111-1111"})
        }
        _ => serde_json::json!({"method": "POINTS"}),
    };
    let key = format!("demo-pay-{order_id}");
    let (status, mut body) = api
        .call(
            Method::POST,
            &format!("/orders/{order_id}/payments"),
            Some(me),
            Some(payment),
            &[("Idempotency-Key", &key)],
        )
        .await?;
    body["user_id"] = user.into();
    Ok((plan, order_id, status, body))
}
