//! Orders in MariaDB.

use super::coupons::utc;
use crate::outbox::OutboxWriter;
use chrono::{DateTime, NaiveDateTime, Utc};
use sqlx::MySqlPool;
use stampede_core::coupon::{Discount, UserCouponStatus};
use stampede_core::events::EventEnvelope;
use stampede_core::order::{
    CancelRefusal, CancellableOrder, OrderCreated, OrderLine, OrderStatus, Pricing,
};
use stampede_core::payment::PaymentStatus;

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Order {
    pub id: u64,
    pub user_id: u64,
    pub status: OrderStatus,
    pub pricing: Pricing,
    pub campaign_id: Option<u64>,
    pub lines: Vec<OrderLine>,
    pub coupon_ids: Vec<String>,
    pub created_at: DateTime<Utc>,
}

/// Writes a PENDING order with its lines and coupons, and `order.created`
/// to the outbox, in one transaction.
pub async fn create_order(
    pool: &MySqlPool,
    outbox: &OutboxWriter,
    user_id: u64,
    lines: &[OrderLine],
    pricing: Pricing,
    coupon_ids: &[String],
    campaign_id: Option<u64>,
) -> Result<u64, sqlx::Error> {
    let now = Utc::now().naive_utc();
    let mut tx = pool.begin().await?;
    let order_id = sqlx::query(
        "INSERT INTO orders (user_id, status, subtotal, discount, total, campaign_id, created_at, updated_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(user_id)
    .bind(OrderStatus::Pending.as_str())
    .bind(pricing.subtotal)
    .bind(pricing.discount)
    .bind(pricing.total)
    .bind(campaign_id)
    .bind(now)
    .bind(now)
    .execute(&mut *tx)
    .await?
    .last_insert_id();
    for line in lines {
        sqlx::query("INSERT INTO order_items (order_id, option_id, quantity, unit_price) VALUES (?, ?, ?, ?)")
            .bind(order_id)
            .bind(line.option_id)
            .bind(line.quantity)
            .bind(line.unit_price)
            .execute(&mut *tx)
            .await?;
    }
    for coupon in coupon_ids {
        sqlx::query("INSERT INTO order_coupons (order_id, user_coupon_id) VALUES (?, ?)")
            .bind(order_id)
            .bind(coupon)
            .execute(&mut *tx)
            .await?;
    }
    let event = OrderCreated {
        order_id,
        user_id,
        lines: lines.to_vec(),
        pricing,
        coupon_ids: coupon_ids.to_vec(),
    };
    outbox.append(&mut tx, &EventEnvelope::wrap(&event)).await?;
    outbox.commit(tx).await?;
    Ok(order_id)
}

pub async fn find_order(pool: &MySqlPool, id: u64) -> Result<Option<Order>, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    find_order_on(&mut conn, id).await
}

/// [`find_order`] on a given connection (inside a transaction): the order,
/// its lines and its coupons in one statement (every payment reads it).
pub async fn find_order_on(
    conn: &mut sqlx::MySqlConnection,
    id: u64,
) -> Result<Option<Order>, sqlx::Error> {
    type Row = (
        u64,
        u64,
        String,
        u64,
        u64,
        u64,
        Option<u64>,
        NaiveDateTime,
        Option<String>,
        Option<String>,
    );
    let row: Option<Row> = sqlx::query_as(
        "SELECT o.id, o.user_id, o.status, o.subtotal, o.discount, o.total, o.campaign_id, o.created_at, \
         CAST((SELECT JSON_ARRAYAGG(JSON_ARRAY(i.option_id, i.quantity, i.unit_price)) \
               FROM order_items i WHERE i.order_id = o.id) AS CHAR), \
         CAST((SELECT JSON_ARRAYAGG(c.user_coupon_id) FROM order_coupons c WHERE c.order_id = o.id) AS CHAR) \
         FROM orders o WHERE o.id = ?",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((
        id,
        user_id,
        status,
        subtotal,
        discount,
        total,
        campaign_id,
        created_at,
        lines,
        coupons,
    )) = row
    else {
        return Ok(None);
    };
    let invalid =
        |what: &str| sqlx::Error::Decode(format!("{what} of order {id} is invalid").into());
    let mut lines: Vec<(u64, u32, u64)> = match lines {
        Some(json) => serde_json::from_str(&json).map_err(|_| invalid("order_items"))?,
        None => Vec::new(),
    };
    lines.sort_by_key(|(option_id, _, _)| *option_id);
    let coupon_ids: Vec<String> = match coupons {
        Some(json) => serde_json::from_str(&json).map_err(|_| invalid("order_coupons"))?,
        None => Vec::new(),
    };
    let status = OrderStatus::parse(&status).map_err(|_| invalid("orders.status"))?;
    Ok(Some(Order {
        id,
        user_id,
        status,
        pricing: Pricing {
            subtotal,
            discount,
            total,
        },
        campaign_id,
        lines: lines
            .into_iter()
            .map(|(option_id, quantity, unit_price)| OrderLine {
                option_id,
                quantity,
                unit_price,
            })
            .collect(),
        coupon_ids,
        created_at: utc(created_at),
    }))
}

/// The discounts of `coupon_ids` if every one is `user_id`'s, ISSUED and unexpired.
pub async fn usable_coupons(
    pool: &MySqlPool,
    user_id: u64,
    coupon_ids: &[String],
) -> Result<Option<Vec<Discount>>, sqlx::Error> {
    let mut discounts = Vec::with_capacity(coupon_ids.len());
    for id in coupon_ids {
        let row: Option<(String, u64, Option<u64>)> = sqlx::query_as(
            "SELECT p.discount_kind, p.discount_value, p.discount_cap FROM user_coupons c \
             JOIN coupon_policies p ON p.id = c.policy_id \
             WHERE c.id = ? AND c.user_id = ? AND c.status = ? AND c.expires_at > UTC_TIMESTAMP(3)",
        )
        .bind(id)
        .bind(user_id)
        .bind(UserCouponStatus::Issued.as_str())
        .fetch_optional(pool)
        .await?;
        match row {
            Some((kind, value, _)) if kind == "FIXED" => {
                discounts.push(Discount::Fixed { amount: value })
            }
            Some((_, value, Some(cap))) => discounts.push(Discount::Percent {
                percent: value as u8,
                cap,
            }),
            _ => return Ok(None),
        }
    }
    Ok(Some(discounts))
}

#[derive(Debug, thiserror::Error)]
pub enum CancelError {
    #[error(transparent)]
    Refused(#[from] CancelRefusal),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Cancels order `order_id` for its buyer `user_id` (core decides on the
/// locked order and whether a card payment is in flight); returns it as it now is.
pub async fn cancel_order(
    pool: &MySqlPool,
    order_id: u64,
    user_id: u64,
) -> Result<Order, CancelError> {
    let mut tx = pool.begin().await?;
    let row: Option<(u64, String)> =
        sqlx::query_as("SELECT user_id, status FROM orders WHERE id = ? FOR UPDATE")
            .bind(order_id)
            .fetch_optional(&mut *tx)
            .await?;
    let (buyer_id, stored) = row.ok_or(CancelRefusal::NotFound(order_id))?;
    let status = super::stored_status(OrderStatus::parse(&stored), "orders.status")?;
    let in_flight: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM payments WHERE order_id = ? AND status = ?")
            .bind(order_id)
            .bind(PaymentStatus::Pending.as_str())
            .fetch_one(&mut *tx)
            .await?;
    let order = CancellableOrder {
        order_id,
        buyer_id,
        status,
        card_payment_pending: in_flight > 0,
    };
    let cancelled = order.cancel_by(user_id)?;
    super::payments::set_order_status(&mut tx, order_id, status, cancelled).await?;
    let order = find_order_on(&mut tx, order_id)
        .await?
        .ok_or(CancelRefusal::NotFound(order_id))?;
    tx.commit().await?;
    Ok(order)
}
