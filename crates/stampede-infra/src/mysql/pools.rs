//! What coupon policies and campaigns share as FCFS pools: a status
//! (DRAFT → OPEN → CLOSED), a `remaining` count and an issue window.

use super::coupons::utc;
use chrono::NaiveDateTime;
use sqlx::MySqlPool;
use stampede_core::fcfs::{IssueWindow, PoolKind, PoolStatus};

/// A table of FCFS pools.
pub trait PoolTable {
    const KIND: PoolKind;
    const TABLE: &'static str;
    const OPENS_AT: &'static str;
    const CLOSES_AT: &'static str;
}

pub struct CouponPolicies;

impl PoolTable for CouponPolicies {
    const KIND: PoolKind = PoolKind::Coupon;
    const TABLE: &'static str = "coupon_policies";
    const OPENS_AT: &'static str = "issue_opens_at";
    const CLOSES_AT: &'static str = "issue_closes_at";
}

pub struct Campaigns;

impl PoolTable for Campaigns {
    const KIND: PoolKind = PoolKind::Campaign;
    const TABLE: &'static str = "campaigns";
    const OPENS_AT: &'static str = "opens_at";
    const CLOSES_AT: &'static str = "closes_at";
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
