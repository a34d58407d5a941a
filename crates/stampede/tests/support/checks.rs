//! What the cluster tests check afterwards, in SQL: winners persisted once,
//! payments consumed once.

use std::collections::HashSet;
use std::future::Future;
use std::time::Duration;

pub const WAIT: Duration = Duration::from_secs(90);

/// Polls `condition` until it holds or `timeout` passes.
pub async fn eventually<F, Fut>(timeout: Duration, mut condition: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if condition().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn count(pool: &sqlx::MySqlPool, sql: &str) -> i64 {
    sqlx::query_scalar::<_, i64>(sql)
        .fetch_one(pool)
        .await
        .expect("the count runs")
}

/// Outbox rows the relay has not published yet.
pub async fn unpublished(pool: &sqlx::MySqlPool) -> i64 {
    count(
        pool,
        "SELECT COUNT(*) FROM outbox WHERE published_at IS NULL",
    )
    .await
}

/// Waits until the relay has published every outbox row.
pub async fn outbox_drained(pool: &sqlx::MySqlPool) -> bool {
    eventually(WAIT, || async { unpublished(pool).await == 0 }).await
}

/// The users holding a coupon of `policy`; panics if one holds two.
pub async fn holders(pool: &sqlx::MySqlPool, policy: u64) -> HashSet<u64> {
    let users: Vec<u64> =
        sqlx::query_scalar("SELECT user_id FROM user_coupons WHERE policy_id = ?")
            .bind(policy)
            .fetch_all(pool)
            .await
            .unwrap();
    let distinct: HashSet<u64> = users.iter().copied().collect();
    assert_eq!(distinct.len(), users.len(), "no user holds two coupons");
    distinct
}

/// Every answered winner of `policy` persisted exactly once, nobody else,
/// and the gate and the database account for the whole stock.
pub async fn winners_persisted_once(
    pool: &sqlx::MySqlPool,
    policy: u64,
    stock: u64,
    winners: &HashSet<u64>,
) {
    let persisted = eventually(WAIT, || async {
        holders(pool, policy).await.len() >= winners.len()
    })
    .await;
    let rows = holders(pool, policy).await;
    assert!(
        persisted,
        "all {} answered winners persisted; {} after {WAIT:?}, {} of them not told they won",
        winners.len(),
        rows.len(),
        rows.difference(winners).count()
    );
    assert_eq!(
        &rows, winners,
        "the rows are exactly the users told they won"
    );
    let remaining: u64 = sqlx::query_scalar("SELECT remaining FROM coupon_policies WHERE id = ?")
        .bind(policy)
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(
        remaining + rows.len() as u64,
        stock,
        "DB remaining + rows = stock"
    );
}

/// Every paid order (PAID with points, COMPLETED by card) has exactly one
/// transaction-history row: its `payment.success` consumed once in effect.
pub async fn paid_orders_consumed_once(pool: &sqlx::MySqlPool, paid: usize) {
    let in_db = count(
        pool,
        "SELECT COUNT(*) FROM orders WHERE status IN ('PAID', 'COMPLETED')",
    )
    .await;
    assert_eq!(
        in_db as usize, paid,
        "every payment answered 201 is a PAID order"
    );
    let consumed = eventually(WAIT, || async {
        count(pool, "SELECT COUNT(*) FROM transaction_history").await == in_db
    })
    .await;
    assert!(
        consumed,
        "every paid order's payment.success reached the history"
    );
    let stray = count(
        pool,
        "SELECT COUNT(*) FROM transaction_history h LEFT JOIN orders o ON o.id = h.order_id \
         WHERE o.status IS NULL OR o.status NOT IN ('PAID', 'COMPLETED')",
    )
    .await;
    assert_eq!(stray, 0, "no history row for an unpaid order");
}

/// Sum of the samples of `name` whose labels include every pair in `labels`.
pub fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter(|line| line.split(['{', ' ']).next() == Some(name))
        .filter(|line| {
            labels
                .iter()
                .all(|(k, v)| line.contains(&format!("{k}=\"{v}\"")))
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}
