//! How much of the outbox the relay has yet to publish, for the audit and
//! the demo's "pipeline drained" wait.

use sqlx::MySqlPool;

/// Unpublished outbox rows, all of them.
pub async fn unpublished(pool: &MySqlPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE published_at IS NULL")
        .fetch_one(pool)
        .await
}

/// Unpublished outbox rows of one aggregate.
pub async fn unpublished_of(
    pool: &MySqlPool,
    aggregate_type: &str,
    aggregate_id: &str,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM outbox WHERE published_at IS NULL AND aggregatetype = ? AND aggregateid = ?",
    )
    .bind(aggregate_type)
    .bind(aggregate_id)
    .fetch_one(pool)
    .await
}
