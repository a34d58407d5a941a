//! What coupon policies and campaigns share as FCFS pools: a status
//! (DRAFT → OPEN → CLOSED), a `remaining` count and an issue window.

use super::coupons::utc;
use crate::redis::PoolTruth;
use chrono::NaiveDateTime;
use sqlx::MySqlPool;
use stampede_core::fcfs::{IssueWindow, PoolKind, PoolStatus};
use std::collections::HashMap;

/// A table of FCFS pools.
pub trait PoolTable {
    const KIND: PoolKind;
    const TABLE: &'static str;
    const OPENS_AT: &'static str;
    const CLOSES_AT: &'static str;
    /// The table of its winners' rows, and their column naming the pool.
    const WINNERS: &'static str;
    const WINNERS_POOL: &'static str;
}

pub struct CouponPolicies;

impl PoolTable for CouponPolicies {
    const KIND: PoolKind = PoolKind::Coupon;
    const TABLE: &'static str = "coupon_policies";
    const OPENS_AT: &'static str = "issue_opens_at";
    const CLOSES_AT: &'static str = "issue_closes_at";
    const WINNERS: &'static str = "user_coupons";
    const WINNERS_POOL: &'static str = "policy_id";
}

pub struct Campaigns;

impl PoolTable for Campaigns {
    const KIND: PoolKind = PoolKind::Campaign;
    const TABLE: &'static str = "campaigns";
    const OPENS_AT: &'static str = "opens_at";
    const CLOSES_AT: &'static str = "closes_at";
    const WINNERS: &'static str = "campaign_entries";
    const WINNERS_POOL: &'static str = "campaign_id";
}

/// The lifecycle-relevant part of a pool row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PoolState {
    pub status: PoolStatus,
    pub remaining: u64,
    pub window: IssueWindow,
}

pub async fn pool_state<T: PoolTable>(
    pool: &MySqlPool,
    id: u64,
) -> Result<Option<PoolState>, sqlx::Error> {
    let row: Option<(String, u64, NaiveDateTime, NaiveDateTime)> = sqlx::query_as(&format!(
        "SELECT status, remaining, {}, {} FROM {} WHERE id = ?",
        T::OPENS_AT,
        T::CLOSES_AT,
        T::TABLE
    ))
    .bind(id)
    .fetch_optional(pool)
    .await?;
    row.map(|(status, remaining, opens, closes)| {
        let status = PoolStatus::parse(&status).ok_or_else(|| {
            sqlx::Error::Decode(format!("{}.status of {id} is invalid", T::TABLE).into())
        })?;
        Ok(PoolState {
            status,
            remaining,
            window: IssueWindow {
                opens_at: utc(opens),
                closes_at: utc(closes),
            },
        })
    })
    .transpose()
}

/// Moves a pool from `from` to `to` unless someone moved it first.
pub async fn set_status<T: PoolTable>(
    pool: &MySqlPool,
    id: u64,
    from: PoolStatus,
    to: PoolStatus,
) -> Result<bool, sqlx::Error> {
    let moved = sqlx::query(&format!(
        "UPDATE {} SET status = ? WHERE id = ? AND status = ?",
        T::TABLE
    ))
    .bind(to.as_str())
    .bind(id)
    .bind(from.as_str())
    .execute(pool)
    .await?
    .rows_affected();
    Ok(moved == 1)
}

/// The pools that are OPEN (each has a gate in Redis).
pub async fn open_pools<T: PoolTable>(pool: &MySqlPool) -> Result<Vec<u64>, sqlx::Error> {
    sqlx::query_scalar(&format!("SELECT id FROM {} WHERE status = ?", T::TABLE))
        .bind(PoolStatus::Open.as_str())
        .fetch_all(pool)
        .await
}

/// Users holding winners of pool `id`, with how many each.
pub async fn holders<T: PoolTable>(
    pool: &MySqlPool,
    id: u64,
) -> Result<HashMap<u64, u32>, sqlx::Error> {
    let rows: Vec<(u64, i64)> = sqlx::query_as(&format!(
        "SELECT user_id, COUNT(*) FROM {} WHERE {} = ? GROUP BY user_id",
        T::WINNERS,
        T::WINNERS_POOL
    ))
    .bind(id)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|(user, n)| (user, n as u32)).collect())
}

/// What the database says of pool `id`, for rebuilding its gate.
pub async fn truth<T: PoolTable>(
    pool: &MySqlPool,
    id: u64,
) -> Result<Option<PoolTruth>, sqlx::Error> {
    let Some(state) = pool_state::<T>(pool, id).await? else {
        return Ok(None);
    };
    Ok(Some(PoolTruth {
        remaining: state.remaining,
        window: state.window,
        closed: state.status == PoolStatus::Closed,
        holders: holders::<T>(pool, id).await?,
    }))
}
