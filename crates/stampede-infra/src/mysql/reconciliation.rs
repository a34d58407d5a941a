//! The reconciler's claim on stale PENDING orders. The settling itself
//! goes through `payments::settle_card_payment`, the path PG callbacks take.

use sqlx::MySqlPool;
use stampede_core::order::OrderStatus;

/// Which orders a round claims and for how long.
#[derive(Debug, Clone, Copy)]
pub struct ClaimRequest {
    /// Only orders PENDING for longer than this: a PG callback may still come.
    pub stale_after_secs: u64,
    /// At most this many orders.
    pub batch_size: u32,
    /// Other instances keep away from a claimed order this long.
    pub lease_secs: u64,
}

/// Claims stale PENDING orders with a lease: `FOR UPDATE SKIP LOCKED`
/// keeps two instances from selecting the same rows, and the lease keeps
/// them apart after the transaction ends, while the PG is being asked.
pub async fn claim_stale_orders(
    pool: &MySqlPool,
    request: ClaimRequest,
) -> Result<Vec<u64>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let ids: Vec<u64> = sqlx::query_scalar(
        "SELECT id FROM orders WHERE status = ? \
         AND created_at < UTC_TIMESTAMP(3) - INTERVAL ? SECOND \
         AND (reconcile_lease_until IS NULL OR reconcile_lease_until < UTC_TIMESTAMP(3)) \
         ORDER BY id LIMIT ? FOR UPDATE SKIP LOCKED",
    )
    .bind(OrderStatus::Pending.as_str())
    .bind(request.stale_after_secs)
    .bind(request.batch_size)
    .fetch_all(&mut *tx)
    .await?;
    for chunk in ids.chunks(500) {
        let mut lease = sqlx::QueryBuilder::new(
            "UPDATE orders SET reconcile_lease_until = UTC_TIMESTAMP(3) + INTERVAL ",
        );
        lease
            .push_bind(request.lease_secs)
            .push(" SECOND WHERE id IN (");
        let mut list = lease.separated(", ");
        for id in chunk {
            list.push_bind(*id);
        }
        lease.push(")");
        lease.build().execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(ids)
}
