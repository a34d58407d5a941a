//! `transaction_history`: one row per successful payment, written by the
//! transaction-history consumer and read back by `stampede demo`; beside it
//! `refund_history` (refunds) and `points_history` (top-ups and grants).

use sqlx::{MySqlConnection, MySqlPool};
use stampede_core::payment::{PaymentRefunded, PaymentSucceeded};
use stampede_core::points::credited::PointsCredited;

/// Records `paid` once: the payment id is the primary key, so a
/// redelivered event leaves the first row as it is.
pub async fn record(
    conn: &mut MySqlConnection,
    paid: &PaymentSucceeded,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT IGNORE INTO transaction_history \
         (payment_id, order_id, reservation_id, user_id, amount, method, recorded_at) \
         VALUES (?, ?, ?, ?, ?, ?, UTC_TIMESTAMP(3))",
    )
    .bind(paid.payment_id)
    .bind(paid.purchase.order_id())
    .bind(paid.purchase.reservation_id())
    .bind(paid.user_id)
    .bind(paid.amount)
    .bind(paid.method.as_str())
    .execute(conn)
    .await?;
    Ok(())
}

/// Records `refund` once: the refund id is the primary key.
pub async fn record_refund(
    conn: &mut MySqlConnection,
    refund: &PaymentRefunded,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT IGNORE INTO refund_history \
         (refund_id, payment_id, order_id, reservation_id, user_id, amount, method, recorded_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, UTC_TIMESTAMP(3))",
    )
    .bind(refund.refund_id)
    .bind(refund.payment_id)
    .bind(refund.purchase.order_id())
    .bind(refund.purchase.reservation_id())
    .bind(refund.user_id)
    .bind(refund.amount)
    .bind(refund.method.as_str())
    .execute(conn)
    .await?;
    Ok(())
}

/// Records `credited` once: its source (kind, id) is the primary key.
pub async fn record_credit(
    conn: &mut MySqlConnection,
    credited: &PointsCredited,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT IGNORE INTO points_history (source, source_id, user_id, amount, recorded_at) \
         VALUES (?, ?, ?, ?, UTC_TIMESTAMP(3))",
    )
    .bind(credited.source.kind())
    .bind(credited.source.id())
    .bind(credited.user_id)
    .bind(credited.amount)
    .execute(conn)
    .await?;
    Ok(())
}

/// How many of `payment_ids` already have their row.
pub async fn recorded_count(pool: &MySqlPool, payment_ids: &[u64]) -> Result<usize, sqlx::Error> {
    let mut recorded = 0;
    // Chunked so the statement stays far below the placeholder limit.
    for chunk in payment_ids.chunks(500) {
        let mut query = sqlx::QueryBuilder::new(
            "SELECT COUNT(*) FROM transaction_history WHERE payment_id IN (",
        );
        let mut list = query.separated(", ");
        for id in chunk {
            list.push_bind(*id);
        }
        query.push(")");
        let count: i64 = query.build_query_scalar().fetch_one(pool).await?;
        recorded += count as usize;
    }
    Ok(recorded)
}
