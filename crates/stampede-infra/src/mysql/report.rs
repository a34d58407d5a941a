//! The reads behind `stampede report daily`: one UTC day of orders.

use chrono::NaiveDateTime;
use futures::TryStreamExt;
use serde::Serialize;
use sqlx::MySqlPool;
use stampede_core::order::OrderStatus;
use std::collections::BTreeMap;

/// The statuses whose orders count as revenue: paid, whether or not
/// fulfilment has finished.
pub const REVENUE_STATUSES: [OrderStatus; 2] = [OrderStatus::Paid, OrderStatus::Completed];

/// Orders and their summed totals, per status text.
pub type StatusTotals = BTreeMap<String, (u64, u64)>;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct TopOption {
    pub option_id: u64,
    pub product: String,
    pub option: String,
    pub quantity: i64,
    pub revenue: i64,
}

/// Folds the orders created in `[from, to)` into per-status totals. The
/// rows are streamed, so memory stays flat whatever the day's volume.
pub async fn status_totals(
    pool: &MySqlPool,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> Result<StatusTotals, sqlx::Error> {
    let mut totals = StatusTotals::new();
    let mut rows = sqlx::query_as::<_, (String, u64)>(
        "SELECT status, total FROM orders WHERE created_at >= ? AND created_at < ?",
    )
    .bind(from)
    .bind(to)
    .fetch(pool);
    while let Some((status, total)) = rows.try_next().await? {
        let entry = totals.entry(status).or_default();
        entry.0 += 1;
        entry.1 += total;
    }
    Ok(totals)
}

/// The ten best-selling options among the revenue orders of `[from, to)`
/// (a grouped query: there are few options).
pub async fn top_options(
    pool: &MySqlPool,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> Result<Vec<TopOption>, sqlx::Error> {
    let [paid, completed] = REVENUE_STATUSES;
    sqlx::query_as(
        "SELECT i.option_id, p.name AS product, o.name AS `option`, \
                CAST(SUM(i.quantity) AS SIGNED) AS quantity, CAST(SUM(i.quantity * i.unit_price) AS SIGNED) AS revenue \
         FROM order_items i \
         JOIN orders ord ON ord.id = i.order_id \
         JOIN product_options o ON o.id = i.option_id \
         JOIN products p ON p.id = o.product_id \
         WHERE ord.status IN (?, ?) AND ord.created_at >= ? AND ord.created_at < ? \
         GROUP BY i.option_id, p.name, o.name ORDER BY quantity DESC, i.option_id LIMIT 10",
    )
    .bind(paid.as_str())
    .bind(completed.as_str())
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await
}
