//! Persisting FCFS winners (coupon issues, campaign entries) in bulk.
//!
//! A [`WinnerTable`] knows its table; [`insert_winners`] does the rest for
//! both: `INSERT IGNORE` (a redelivered winner is a duplicate key and
//! changes nothing) and the pool's `remaining` lowered by exactly the rows
//! inserted, in the caller's transaction, refusing to go below zero.

use super::pools::table;
use sqlx::{MySqlConnection, QueryBuilder};
use stampede_core::fcfs::{PoolKind, Winner};
use std::collections::{BTreeMap, HashSet};

/// One kind of winner row.
pub trait WinnerTable: Send + Sync {
    type Winner: Winner + Send + Sync;
    /// `INSERT IGNORE INTO <table> (<columns>) `: the head of the statement.
    const INSERT_HEAD: &'static str;
    /// Which gate pools the winners came from (their table holds `remaining`).
    const KIND: PoolKind;
    fn bind(
        row: &mut sqlx::query_builder::Separated<'_, '_, sqlx::MySql, &'static str>,
        winner: &Self::Winner,
    );
}

#[derive(Debug, thiserror::Error)]
pub enum WinnerError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error("{table} {pool_id} does not exist")]
    UnknownPool { table: &'static str, pool_id: u64 },
    /// More winners than stock: the gate and the database disagree.
    #[error("{table} {pool_id} would go below zero remaining (+{inserted} winners)")]
    OverIssue {
        table: &'static str,
        pool_id: u64,
        inserted: u64,
    },
}

/// The pools among `ids` that do not exist.
pub async fn unknown_pools<T: WinnerTable>(
    conn: &mut MySqlConnection,
    ids: &HashSet<u64>,
) -> Result<HashSet<u64>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(HashSet::new());
    }
    let mut query = QueryBuilder::new(format!(
        "SELECT id FROM {} WHERE id IN (",
        table(T::KIND).table
    ));
    let mut list = query.separated(", ");
    for id in ids {
        list.push_bind(*id);
    }
    query.push(")");
    let found: Vec<u64> = query.build_query_scalar().fetch_all(&mut *conn).await?;
    Ok(ids - &found.into_iter().collect())
}

/// Inserts `winners` (duplicates ignored) and lowers each pool's
/// `remaining` by its new rows. Returns the rows inserted.
pub async fn insert_winners<T: WinnerTable>(
    conn: &mut MySqlConnection,
    winners: &[&T::Winner],
) -> Result<u64, WinnerError> {
    let pool_table = table(T::KIND).table;
    let mut by_pool: BTreeMap<u64, Vec<&T::Winner>> = BTreeMap::new();
    for winner in winners {
        by_pool.entry(winner.pool().id).or_default().push(winner);
    }
    let ids: HashSet<u64> = by_pool.keys().copied().collect();
    if let Some(&pool_id) = unknown_pools::<T>(conn, &ids).await?.iter().next() {
        return Err(WinnerError::UnknownPool {
            table: pool_table,
            pool_id,
        });
    }
    let mut total = 0;
    for (pool_id, group) in by_pool {
        let mut insert = QueryBuilder::new(T::INSERT_HEAD);
        insert.push_values(group, |mut row, winner| T::bind(&mut row, winner));
        let inserted = insert.build().execute(&mut *conn).await?.rows_affected();
        if inserted > 0 {
            let lowered = sqlx::query(&format!(
                "UPDATE {} SET remaining = remaining - ? WHERE id = ? AND remaining >= ?",
                pool_table
            ))
            .bind(inserted)
            .bind(pool_id)
            .bind(inserted)
            .execute(&mut *conn)
            .await?
            .rows_affected();
            if lowered != 1 {
                return Err(WinnerError::OverIssue {
                    table: pool_table,
                    pool_id,
                    inserted,
                });
            }
        }
        total += inserted;
    }
    Ok(total)
}
