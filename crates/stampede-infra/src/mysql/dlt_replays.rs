//! Which dead letters `stampede dlt replay` has re-published (`dlt_replays`),
//! so a second replay skips them. A letter is recorded only after the
//! broker acknowledged its replay: a crash in between replays it again,
//! which idempotent consumers absorb; never the other way round (a letter
//! marked replayed that never was).

use sqlx::MySqlPool;
use std::collections::HashSet;

/// (partition, offset) of every letter of `dlt_topic` replayed before.
pub async fn replayed(
    pool: &MySqlPool,
    dlt_topic: &str,
) -> Result<HashSet<(i32, i64)>, sqlx::Error> {
    let rows: Vec<(i32, i64)> =
        sqlx::query_as("SELECT dlt_partition, dlt_offset FROM dlt_replays WHERE dlt_topic = ?")
            .bind(dlt_topic)
            .fetch_all(pool)
            .await?;
    Ok(rows.into_iter().collect())
}

pub async fn record(
    pool: &MySqlPool,
    dlt_topic: &str,
    partition: i32,
    offset: i64,
    original_topic: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT IGNORE INTO dlt_replays (dlt_topic, dlt_partition, dlt_offset, original_topic, replayed_at) \
         VALUES (?, ?, ?, ?, UTC_TIMESTAMP(3))",
    )
    .bind(dlt_topic)
    .bind(partition)
    .bind(offset)
    .bind(original_topic)
    .execute(pool)
    .await?;
    Ok(())
}
