//! What the benchmarks ask of the database beside the operations they
//! measure: the sums and counts that check a run, a committed outbox
//! backlog, and the bare operations their ceilings are made of.
//!
//! A ceiling is the least work the same outcome needs, with none of
//! Stampede around it: no authentication, no idempotency, no domain checks.
//! Measured in the same run as Stampede's route, the ratio between the two
//! says what Stampede costs, whatever the machine's speed that day.

use crate::outbox::OutboxWriter;
use sqlx::{MySqlPool, QueryBuilder};
use stampede_core::events::EventEnvelope;
use stampede_core::order::OrderStatus;
use stampede_core::payment::{PaymentMethod, PaymentStatus};

/// Coupons of `policy_id` the database holds (issued, used or expired).
pub async fn coupons_of_policy(pool: &MySqlPool, policy_id: u64) -> Result<u64, sqlx::Error> {
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM user_coupons WHERE policy_id = ?")
        .bind(policy_id)
        .fetch_one(pool)
        .await?;
    Ok(count as u64)
}

/// Where the points and the stock of a database are: every point is either
/// in a balance or in a successful payment, every unit in stock or sold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PointsLedger {
    pub balances: i64,
    pub paid: i64,
    pub stock_left: i64,
}

pub async fn points_ledger(pool: &MySqlPool) -> Result<PointsLedger, sqlx::Error> {
    let balances: i64 =
        sqlx::query_scalar("SELECT CAST(COALESCE(SUM(balance), 0) AS SIGNED) FROM user_points")
            .fetch_one(pool)
            .await?;
    let paid: i64 = sqlx::query_scalar(
        "SELECT CAST(COALESCE(SUM(amount), 0) AS SIGNED) FROM payments WHERE status = ? AND method = ?",
    )
    .bind(PaymentStatus::Success.as_str())
    .bind(PaymentMethod::Points.as_str())
    .fetch_one(pool)
    .await?;
    let stock_left: i64 =
        sqlx::query_scalar("SELECT CAST(COALESCE(SUM(stock), 0) AS SIGNED) FROM product_options")
            .fetch_one(pool)
            .await?;
    Ok(PointsLedger {
        balances,
        paid,
        stock_left,
    })
}

/// Empties the outbox, so a backlog benchmark starts from nothing.
pub async fn clear_outbox(pool: &MySqlPool) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM outbox").execute(pool).await?;
    Ok(())
}

/// Commits `envelopes` as unpublished outbox rows, a thousand per statement.
pub async fn seed_outbox(pool: &MySqlPool, envelopes: &[EventEnvelope]) -> Result<(), sqlx::Error> {
    for chunk in envelopes.chunks(1000) {
        let mut insert = QueryBuilder::new(
            "INSERT INTO outbox (id, aggregatetype, aggregateid, type, schema_version, payload, created_at) ",
        );
        insert.push_values(chunk, |mut row, envelope| {
            row.push_bind(envelope.event_id.to_string())
                .push_bind(&envelope.aggregate_type)
                .push_bind(&envelope.aggregate_id)
                .push_bind(&envelope.event_type)
                .push_bind(envelope.schema_version)
                .push_bind(envelope.payload.to_string())
                .push_bind(envelope.occurred_at.naive_utc());
        });
        insert.build().execute(pool).await?;
    }
    Ok(())
}

/// The bare points payment of one PENDING order of one line: the
/// conditional stock, balance and order updates and the payment and outbox
/// inserts a points payment must make, in one transaction. `false` (and
/// nothing changed) when the stock, the balance or the order's status
/// refused.
pub async fn bare_points_payment(
    pool: &MySqlPool,
    order_id: u64,
    user_id: u64,
    option_id: u64,
    amount: u64,
    event: &EventEnvelope,
) -> Result<bool, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let taken =
        sqlx::query("UPDATE product_options SET stock = stock - 1 WHERE id = ? AND stock >= 1")
            .bind(option_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
    let charged = sqlx::query(
        "UPDATE user_points SET balance = balance - ? WHERE user_id = ? AND balance >= ?",
    )
    .bind(amount)
    .bind(user_id)
    .bind(amount)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    // Bare on purpose: the transition is written, not asked of core.
    let moved = sqlx::query(
        "UPDATE orders SET status = ?, updated_at = UTC_TIMESTAMP(3) WHERE id = ? AND status = ?",
    )
    .bind(OrderStatus::Paid.as_str())
    .bind(order_id)
    .bind(OrderStatus::Pending.as_str())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if taken == 0 || charged == 0 || moved == 0 {
        tx.rollback().await?;
        return Ok(false);
    }
    sqlx::query(
        "INSERT INTO payments (order_id, user_id, method, amount, status, created_at, updated_at) \
         VALUES (?, ?, ?, ?, ?, UTC_TIMESTAMP(3), UTC_TIMESTAMP(3))",
    )
    .bind(order_id)
    .bind(user_id)
    .bind(PaymentMethod::Points.as_str())
    .bind(amount)
    .bind(PaymentStatus::Success.as_str())
    .execute(&mut *tx)
    .await?;
    OutboxWriter::new().append(&mut tx, event).await?;
    tx.commit().await?;
    Ok(true)
}

/// The bare relay step without a broker: claim up to `batch` unpublished
/// rows with `FOR UPDATE SKIP LOCKED`, mark them published, commit. How
/// many it marked (0 when the outbox is drained).
pub async fn bare_claim_and_mark(pool: &MySqlPool, batch: u32) -> Result<u64, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let claimed: Vec<u64> = sqlx::query_scalar(
        "SELECT seq FROM outbox WHERE published_at IS NULL ORDER BY seq LIMIT ? FOR UPDATE SKIP LOCKED",
    )
    .bind(batch)
    .fetch_all(&mut *tx)
    .await?;
    if claimed.is_empty() {
        tx.rollback().await?;
        return Ok(0);
    }
    let mut mark = QueryBuilder::new(
        "UPDATE outbox SET published_at = UTC_TIMESTAMP(6), attempts = attempts + 1 WHERE seq IN (",
    );
    let mut seqs = mark.separated(", ");
    for seq in &claimed {
        seqs.push_bind(seq);
    }
    mark.push(")");
    mark.build().execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(claimed.len() as u64)
}
