//! What coupon policies and campaigns share as FCFS pools in MariaDB: a
//! status (DRAFT → OPEN → CLOSED), a `remaining` count and an issue window,
//! in tables that differ only in their names.

use super::coupons::utc;
use super::stored_status;
use crate::redis::PoolTruth;
use chrono::NaiveDateTime;
use sqlx::MySqlPool;
use stampede_core::fcfs::{IssueWindow, PoolKind, PoolRef, PoolState, PoolStatus};
use std::collections::HashMap;

/// Where a kind of pool is stored.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PoolTable {
    pub table: &'static str,
    opens_at: &'static str,
    closes_at: &'static str,
    /// The table of its winners' rows, and their column naming the pool.
    winners: &'static str,
    winners_pool: &'static str,
}

pub(crate) fn table(kind: PoolKind) -> PoolTable {
    match kind {
        PoolKind::Coupon => PoolTable {
            table: "coupon_policies",
            opens_at: "issue_opens_at",
            closes_at: "issue_closes_at",
            winners: "user_coupons",
            winners_pool: "policy_id",
        },
        PoolKind::Campaign => PoolTable {
            table: "campaigns",
            opens_at: "opens_at",
            closes_at: "closes_at",
            winners: "campaign_entries",
            winners_pool: "campaign_id",
        },
    }
}

/// The columns of a pool row as stored, read into a [`PoolState`]: an
/// unknown status or a window that does not close after it opens is a
/// corrupt row, an error.
pub(crate) fn stored_pool(
    table: &str,
    status: &str,
    remaining: u64,
    opens_at: NaiveDateTime,
    closes_at: NaiveDateTime,
) -> Result<PoolState, sqlx::Error> {
    let window = IssueWindow::new(utc(opens_at), utc(closes_at)).map_err(|error| {
        sqlx::Error::Decode(format!("{table} holds an invalid window: {error}").into())
    })?;
    Ok(PoolState {
        status: stored_status(PoolStatus::parse(status), &format!("{table}.status"))?,
        remaining,
        window,
    })
}

pub async fn pool_state(db: &MySqlPool, pool: PoolRef) -> Result<Option<PoolState>, sqlx::Error> {
    let t = table(pool.kind);
    let row: Option<(String, u64, NaiveDateTime, NaiveDateTime)> = sqlx::query_as(&format!(
        "SELECT status, remaining, {}, {} FROM {} WHERE id = ?",
        t.opens_at, t.closes_at, t.table
    ))
    .bind(pool.id)
    .fetch_optional(db)
    .await?;
    row.map(|(status, remaining, opens, closes)| {
        stored_pool(t.table, &status, remaining, opens, closes)
    })
    .transpose()
}

/// Moves a pool from `from` to `to` unless someone moved it first.
pub async fn set_status(
    db: &MySqlPool,
    pool: PoolRef,
    from: PoolStatus,
    to: PoolStatus,
) -> Result<bool, sqlx::Error> {
    let moved = sqlx::query(&format!(
        "UPDATE {} SET status = ? WHERE id = ? AND status = ?",
        table(pool.kind).table
    ))
    .bind(to.as_str())
    .bind(pool.id)
    .bind(from.as_str())
    .execute(db)
    .await?
    .rows_affected();
    Ok(moved == 1)
}

/// The pools of `kind` that are OPEN (each has a gate in Redis).
pub async fn open_pools(db: &MySqlPool, kind: PoolKind) -> Result<Vec<PoolRef>, sqlx::Error> {
    let ids: Vec<u64> = sqlx::query_scalar(&format!(
        "SELECT id FROM {} WHERE status = ?",
        table(kind).table
    ))
    .bind(PoolStatus::Open.as_str())
    .fetch_all(db)
    .await?;
    Ok(ids.into_iter().map(|id| PoolRef { kind, id }).collect())
}

/// Users holding winners of `pool`, with how many each.
pub async fn holders(db: &MySqlPool, pool: PoolRef) -> Result<HashMap<u64, u32>, sqlx::Error> {
    let t = table(pool.kind);
    let rows: Vec<(u64, i64)> = sqlx::query_as(&format!(
        "SELECT user_id, COUNT(*) FROM {} WHERE {} = ? GROUP BY user_id",
        t.winners, t.winners_pool
    ))
    .bind(pool.id)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|(user, n)| (user, n as u32)).collect())
}

/// What the database says of `pool`, for rebuilding its gate.
pub async fn truth(db: &MySqlPool, pool: PoolRef) -> Result<Option<PoolTruth>, sqlx::Error> {
    let Some(state) = pool_state(db, pool).await? else {
        return Ok(None);
    };
    Ok(Some(PoolTruth {
        remaining: state.remaining,
        window: state.window,
        closed: state.status == PoolStatus::Closed,
        holders: holders(db, pool).await?,
    }))
}
