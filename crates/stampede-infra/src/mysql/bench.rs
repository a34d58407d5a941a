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
use stampede_core::payment::{PaymentMethod, PaymentStatus, RefundStatus, Refunder};

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

/// A successful points payment of an order, as a refund benchmark picks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PaidOrder {
    pub payment_id: u64,
    pub order_id: u64,
    pub user_id: u64,
    pub amount: u64,
}

/// Every successful points payment of an order, oldest first.
pub async fn paid_orders(pool: &MySqlPool) -> Result<Vec<PaidOrder>, sqlx::Error> {
    let rows: Vec<(u64, u64, u64, u64)> = sqlx::query_as(
        "SELECT id, order_id, user_id, amount FROM payments \
         WHERE status = ? AND method = ? AND order_id IS NOT NULL ORDER BY id",
    )
    .bind(PaymentStatus::Success.as_str())
    .bind(PaymentMethod::Points.as_str())
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(payment_id, order_id, user_id, amount)| PaidOrder {
            payment_id,
            order_id,
            user_id,
            amount,
        })
        .collect())
}

/// Where refunds left the points and the stock: with [`PointsLedger`] it
/// checks that every point is in a balance or kept by a payment, every unit
/// in stock or in a PAID order, and that no payment gave back more than it
/// took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefundLedger {
    /// Σ points credited by grants (where every point came from).
    pub granted: i64,
    /// Σ SUCCEEDED refunds.
    pub refunded: i64,
    /// Units held by PAID orders (a REFUNDED order gave its units back).
    pub sold_by_paid_orders: i64,
    /// Payments whose SUCCEEDED refunds add up to more than they captured.
    pub refunded_beyond_capture: i64,
    /// Payments refunded in full whose order is not REFUNDED.
    pub fully_refunded_not_refunded: i64,
}

pub async fn refund_ledger(pool: &MySqlPool) -> Result<RefundLedger, sqlx::Error> {
    let granted: i64 =
        sqlx::query_scalar("SELECT CAST(COALESCE(SUM(amount), 0) AS SIGNED) FROM point_grants")
            .fetch_one(pool)
            .await?;
    let refunded: i64 = sqlx::query_scalar(
        "SELECT CAST(COALESCE(SUM(amount), 0) AS SIGNED) FROM refunds WHERE status = ?",
    )
    .bind(RefundStatus::Succeeded.as_str())
    .fetch_one(pool)
    .await?;
    let sold_by_paid_orders: i64 = sqlx::query_scalar(
        "SELECT CAST(COALESCE(SUM(i.quantity), 0) AS SIGNED) FROM order_items i \
         JOIN orders o ON o.id = i.order_id WHERE o.status = ?",
    )
    .bind(OrderStatus::Paid.as_str())
    .fetch_one(pool)
    .await?;
    // Per payment: what it captured beside what its SUCCEEDED refunds gave back.
    let per_payment = "SELECT p.amount AS captured, o.status AS order_status, \
         (SELECT COALESCE(SUM(r.amount), 0) FROM refunds r WHERE r.payment_id = p.id AND r.status = ?) AS refunded \
         FROM payments p JOIN orders o ON o.id = p.order_id WHERE p.status = ?";
    let (refunded_beyond_capture, fully_refunded_not_refunded): (i64, i64) =
        sqlx::query_as(&format!(
            "SELECT CAST(COALESCE(SUM(refunded > captured), 0) AS SIGNED), \
             CAST(COALESCE(SUM(refunded = captured AND order_status <> ?), 0) AS SIGNED) \
             FROM ({per_payment}) per_payment"
        ))
        .bind(OrderStatus::Refunded.as_str())
        .bind(RefundStatus::Succeeded.as_str())
        .bind(PaymentStatus::Success.as_str())
        .fetch_one(pool)
        .await?;
    Ok(RefundLedger {
        granted,
        refunded,
        sold_by_paid_orders,
        refunded_beyond_capture,
        fully_refunded_not_refunded,
    })
}

/// What the bare refund of one paid order of one line gives back.
#[derive(Debug, Clone, Copy)]
pub struct BareRefund {
    pub payment_id: u64,
    pub order_id: u64,
    pub user_id: u64,
    pub option_id: u64,
    /// `None`: everything not yet refunded.
    pub amount: Option<u64>,
}

/// The bare points refund: lock the payment, sum its refunds, insert the
/// SUCCEEDED refund, restore the balance, and when nothing is left the
/// order PAID → REFUNDED and its unit back in stock, with the outbox
/// insert, in one transaction. `false` (and nothing changed) when the
/// amount does not fit in what is left.
pub async fn bare_points_refund(
    pool: &MySqlPool,
    refund: BareRefund,
    event: &EventEnvelope,
) -> Result<bool, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let captured: Option<u64> =
        sqlx::query_scalar("SELECT amount FROM payments WHERE id = ? AND status = ? FOR UPDATE")
            .bind(refund.payment_id)
            .bind(PaymentStatus::Success.as_str())
            .fetch_optional(&mut *tx)
            .await?;
    let refunded: u64 = sqlx::query_scalar(
        "SELECT CAST(COALESCE(SUM(amount), 0) AS UNSIGNED) FROM refunds WHERE payment_id = ? AND status = ?",
    )
    .bind(refund.payment_id)
    .bind(RefundStatus::Succeeded.as_str())
    .fetch_one(&mut *tx)
    .await?;
    let left = captured.unwrap_or(0).saturating_sub(refunded);
    let amount = refund.amount.unwrap_or(left);
    if amount == 0 || amount > left {
        tx.rollback().await?;
        return Ok(false);
    }
    sqlx::query(
        "INSERT INTO refunds (payment_id, user_id, amount, reason, requested_by, status, created_at, updated_at) \
         VALUES (?, ?, ?, 'bench', ?, ?, UTC_TIMESTAMP(3), UTC_TIMESTAMP(3))",
    )
    .bind(refund.payment_id)
    .bind(refund.user_id)
    .bind(amount)
    .bind(Refunder::User(refund.user_id).kind())
    .bind(RefundStatus::Succeeded.as_str())
    .execute(&mut *tx)
    .await?;
    sqlx::query("UPDATE user_points SET balance = balance + ? WHERE user_id = ?")
        .bind(amount)
        .bind(refund.user_id)
        .execute(&mut *tx)
        .await?;
    if amount == left {
        // Bare on purpose: the transition is written, not asked of core.
        let moved = sqlx::query(
            "UPDATE orders SET status = ?, updated_at = UTC_TIMESTAMP(3) WHERE id = ? AND status = ?",
        )
        .bind(OrderStatus::Refunded.as_str())
        .bind(refund.order_id)
        .bind(OrderStatus::Paid.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if moved == 1 {
            sqlx::query("UPDATE product_options SET stock = stock + 1 WHERE id = ?")
                .bind(refund.option_id)
                .execute(&mut *tx)
                .await?;
        }
    }
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
