//! Coupon policies and user coupons in MariaDB.

use super::pools::stored_pool;
use super::stored_status;
use super::winners::WinnerTable;
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use sqlx::{MySqlConnection, MySqlPool};
use stampede_core::coupon::{
    CouponIssued, CouponPolicy, Discount, IssueMode, NewCouponPolicy, UserCouponStatus,
};
use stampede_core::fcfs::{PoolKind, PoolStatus};
use stampede_core::payment::UsedCoupon;
use uuid::Uuid;

#[derive(sqlx::FromRow)]
struct PolicyRecord {
    id: u64,
    name: String,
    discount_kind: String,
    discount_value: u64,
    discount_cap: Option<u64>,
    total_stock: u64,
    remaining: u64,
    per_user_limit: u32,
    issue_opens_at: NaiveDateTime,
    issue_closes_at: NaiveDateTime,
    valid_days: u32,
    issue_mode: String,
    status: String,
}

impl TryFrom<PolicyRecord> for CouponPolicy {
    type Error = sqlx::Error;

    fn try_from(r: PolicyRecord) -> Result<Self, sqlx::Error> {
        let corrupt = |what: &str| {
            sqlx::Error::Decode(format!("coupon_policies.{what} of {} is invalid", r.id).into())
        };
        let discount = match (r.discount_kind.as_str(), r.discount_cap) {
            ("FIXED", _) => Discount::Fixed {
                amount: r.discount_value,
            },
            ("PERCENT", Some(cap)) => Discount::Percent {
                percent: r.discount_value as u8,
                cap,
            },
            _ => return Err(corrupt("discount_kind")),
        };
        Ok(Self {
            id: r.id,
            discount,
            total_stock: r.total_stock,
            per_user_limit: r.per_user_limit,
            valid_days: r.valid_days,
            mode: IssueMode::parse(&r.issue_mode).map_err(|_| corrupt("issue_mode"))?,
            pool: stored_pool(
                "coupon_policies",
                &r.status,
                r.remaining,
                r.issue_opens_at,
                r.issue_closes_at,
            )?,
            name: r.name,
        })
    }
}

pub(crate) fn utc(at: NaiveDateTime) -> DateTime<Utc> {
    Utc.from_utc_datetime(&at)
}

const POLICY_COLUMNS: &str =
    "id, name, discount_kind, discount_value, discount_cap, total_stock, remaining, \
     per_user_limit, issue_opens_at, issue_closes_at, valid_days, issue_mode, status";

pub async fn insert_policy(pool: &MySqlPool, policy: &NewCouponPolicy) -> Result<u64, sqlx::Error> {
    let (kind, value, cap) = match policy.discount() {
        Discount::Fixed { amount } => ("FIXED", amount, None),
        Discount::Percent { percent, cap } => ("PERCENT", u64::from(percent), Some(cap)),
    };
    let new = policy.pool();
    let result = sqlx::query(
        "INSERT INTO coupon_policies (name, discount_kind, discount_value, discount_cap, total_stock, remaining, \
         per_user_limit, issue_opens_at, issue_closes_at, valid_days, issue_mode, status) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(new.name())
    .bind(kind)
    .bind(value)
    .bind(cap)
    .bind(new.stock())
    .bind(new.stock())
    .bind(policy.per_user_limit())
    .bind(new.window().opens_at().naive_utc())
    .bind(new.window().closes_at().naive_utc())
    .bind(policy.valid_days())
    .bind(policy.mode().as_str())
    .bind(PoolStatus::Draft.as_str())
    .execute(pool)
    .await?;
    Ok(result.last_insert_id())
}

pub async fn find_policy(pool: &MySqlPool, id: u64) -> Result<Option<CouponPolicy>, sqlx::Error> {
    let record: Option<PolicyRecord> = sqlx::query_as(&format!(
        "SELECT {POLICY_COLUMNS} FROM coupon_policies WHERE id = ?"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await?;
    record.map(CouponPolicy::try_from).transpose()
}

/// `user_coupons` as a [`WinnerTable`] of gate-mode [`CouponIssued`] events.
pub struct UserCoupons;

impl WinnerTable for UserCoupons {
    type Winner = CouponIssued;
    const INSERT_HEAD: &'static str =
        "INSERT IGNORE INTO user_coupons (id, policy_id, user_id, ordinal, status, issued_at, expires_at) ";
    const KIND: PoolKind = PoolKind::Coupon;

    fn bind(
        row: &mut sqlx::query_builder::Separated<'_, '_, sqlx::MySql, &'static str>,
        w: &CouponIssued,
    ) {
        row.push_bind(w.issue_id.to_string())
            .push_bind(w.policy_id)
            .push_bind(w.user_id)
            .push_bind(w.ordinal)
            .push_bind(UserCouponStatus::Issued.as_str())
            .push_bind(w.issued_at.naive_utc())
            .push_bind(w.expires_at.naive_utc());
    }
}

/// A user coupon as its owner sees it.
#[derive(Debug, Clone)]
pub struct UserCouponRecord {
    pub id: String,
    pub user_id: u64,
    pub policy_id: u64,
    pub policy_name: String,
    pub ordinal: u32,
    pub status: UserCouponStatus,
    pub issued_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
}

/// A [`UserCouponRecord`] as stored; an unknown status is an error.
#[derive(sqlx::FromRow)]
struct StoredUserCoupon {
    id: String,
    user_id: u64,
    policy_id: u64,
    policy_name: String,
    ordinal: u32,
    status: String,
    issued_at: NaiveDateTime,
    expires_at: NaiveDateTime,
}

impl TryFrom<StoredUserCoupon> for UserCouponRecord {
    type Error = sqlx::Error;

    fn try_from(r: StoredUserCoupon) -> Result<Self, sqlx::Error> {
        Ok(Self {
            status: stored_status(UserCouponStatus::parse(&r.status), "user_coupons.status")?,
            id: r.id,
            user_id: r.user_id,
            policy_id: r.policy_id,
            policy_name: r.policy_name,
            ordinal: r.ordinal,
            issued_at: r.issued_at,
            expires_at: r.expires_at,
        })
    }
}

/// User coupons with their policy's name, as [`UserCouponRecord`]s.
const USER_COUPONS: &str =
    "SELECT c.id, c.user_id, c.policy_id, p.name AS policy_name, c.ordinal, c.status, c.issued_at, c.expires_at \
     FROM user_coupons c JOIN coupon_policies p ON p.id = c.policy_id";

pub async fn coupons_of_user(
    pool: &MySqlPool,
    user_id: u64,
) -> Result<Vec<UserCouponRecord>, sqlx::Error> {
    let stored: Vec<StoredUserCoupon> = sqlx::query_as(&format!(
        "{USER_COUPONS} WHERE c.user_id = ? ORDER BY c.issued_at DESC LIMIT 500"
    ))
    .bind(user_id)
    .fetch_all(pool)
    .await?;
    stored.into_iter().map(UserCouponRecord::try_from).collect()
}

pub async fn find_user_coupon(
    pool: &MySqlPool,
    id: Uuid,
) -> Result<Option<UserCouponRecord>, sqlx::Error> {
    let stored: Option<StoredUserCoupon> =
        sqlx::query_as(&format!("{USER_COUPONS} WHERE c.id = ?"))
            .bind(id.to_string())
            .fetch_optional(pool)
            .await?;
    stored.map(UserCouponRecord::try_from).transpose()
}

/// Coupons `user_id` holds of `policy_id`, read on `conn`.
pub async fn held_by(
    conn: &mut MySqlConnection,
    policy_id: u64,
    user_id: u64,
) -> Result<u32, sqlx::Error> {
    let held: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM user_coupons WHERE policy_id = ? AND user_id = ?")
            .bind(policy_id)
            .bind(user_id)
            .fetch_one(conn)
            .await?;
    Ok(held as u32)
}

/// How a database-side issue attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbIssue {
    Issued,
    SoldOut,
    AlreadyIssued,
}

/// Queue mode's write-through: `remaining − 1 WHERE remaining > 0`,
/// then the user coupon (unique), in one transaction. The request id is the
/// coupon id, so a redelivered request finds its coupon and changes nothing.
pub async fn issue_in_db(
    pool: &MySqlPool,
    policy: &CouponPolicy,
    coupon_id: Uuid,
    user_id: u64,
    at: DateTime<Utc>,
) -> Result<DbIssue, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let existing: Option<String> = sqlx::query_scalar("SELECT id FROM user_coupons WHERE id = ?")
        .bind(coupon_id.to_string())
        .fetch_optional(&mut *tx)
        .await?;
    if existing.is_some() {
        return Ok(DbIssue::Issued);
    }
    let held = held_by(&mut tx, policy.id, user_id).await?;
    if held >= policy.per_user_limit {
        return Ok(DbIssue::AlreadyIssued);
    }
    let taken = sqlx::query(
        "UPDATE coupon_policies SET remaining = remaining - 1 WHERE id = ? AND remaining > 0",
    )
    .bind(policy.id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if taken == 0 {
        return Ok(DbIssue::SoldOut);
    }
    let winner = CouponIssued {
        issue_id: coupon_id,
        policy_id: policy.id,
        user_id,
        ordinal: held + 1,
        issued_at: at,
        expires_at: policy.expiry_for(at),
    };
    let mut insert =
        sqlx::QueryBuilder::new(UserCoupons::INSERT_HEAD.replace("INSERT IGNORE", "INSERT"));
    insert.push_values([&winner], |mut row, w| UserCoupons::bind(&mut row, w));
    match insert.build().execute(&mut *tx).await {
        Ok(_) => {}
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            return Ok(DbIssue::AlreadyIssued)
        }
        Err(e) => return Err(e),
    }
    tx.commit().await?;
    Ok(DbIssue::Issued)
}

/// The naive baseline (`IssueMode::DbLock`): lock the policy row with
/// `SELECT … FOR UPDATE`, check, decrement, insert. Correct, but every
/// request of a policy waits for the one before it.
pub async fn issue_with_row_lock(
    pool: &MySqlPool,
    policy: &CouponPolicy,
    user_id: u64,
    at: DateTime<Utc>,
) -> Result<(DbIssue, Uuid), sqlx::Error> {
    let mut tx = pool.begin().await?;
    let remaining: u64 =
        sqlx::query_scalar("SELECT remaining FROM coupon_policies WHERE id = ? FOR UPDATE")
            .bind(policy.id)
            .fetch_one(&mut *tx)
            .await?;
    let id = Uuid::now_v7();
    if remaining == 0 {
        return Ok((DbIssue::SoldOut, id));
    }
    let held = held_by(&mut tx, policy.id, user_id).await?;
    if held >= policy.per_user_limit {
        return Ok((DbIssue::AlreadyIssued, id));
    }
    sqlx::query("UPDATE coupon_policies SET remaining = remaining - 1 WHERE id = ?")
        .bind(policy.id)
        .execute(&mut *tx)
        .await?;
    let winner = CouponIssued {
        issue_id: id,
        policy_id: policy.id,
        user_id,
        ordinal: held + 1,
        issued_at: at,
        expires_at: policy.expiry_for(at),
    };
    let mut insert = sqlx::QueryBuilder::new(UserCoupons::INSERT_HEAD);
    insert.push_values([&winner], |mut row, w| UserCoupons::bind(&mut row, w));
    insert.build().execute(&mut *tx).await?;
    tx.commit().await?;
    Ok((DbIssue::Issued, id))
}

/// The coupons order `order_id` spent (USED), with their expiry, read on `conn`.
pub(crate) async fn used_by_order(
    conn: &mut MySqlConnection,
    order_id: u64,
) -> Result<Vec<UsedCoupon>, sqlx::Error> {
    let rows: Vec<(String, NaiveDateTime)> = sqlx::query_as(
        "SELECT c.id, c.expires_at FROM order_coupons oc JOIN user_coupons c ON c.id = oc.user_coupon_id \
         WHERE oc.order_id = ? AND c.status = ? ORDER BY c.id",
    )
    .bind(order_id)
    .bind(UserCouponStatus::Used.as_str())
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, expires_at)| UsedCoupon {
            id,
            expires_at: utc(expires_at),
        })
        .collect())
}

/// USED → ISSUED for `user_id`'s coupons `ids` (those a full refund gives
/// back), still only while unexpired.
pub(crate) async fn restore_coupons(
    conn: &mut MySqlConnection,
    user_id: u64,
    ids: &[String],
) -> Result<(), sqlx::Error> {
    let restored = UserCouponStatus::Used
        .restore()
        .expect("a USED coupon can be restored");
    for id in ids {
        sqlx::query(
            "UPDATE user_coupons SET status = ?, used_at = NULL \
             WHERE id = ? AND user_id = ? AND status = ? AND expires_at > UTC_TIMESTAMP(3)",
        )
        .bind(restored.as_str())
        .bind(id)
        .bind(user_id)
        .bind(UserCouponStatus::Used.as_str())
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}
