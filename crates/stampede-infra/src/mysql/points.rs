//! Points in MariaDB: paid top-ups (`point_top_ups`) and admin grants
//! (`point_grants`), each crediting `user_points` in the transaction that
//! records it.
//!
//! A top-up is credited by the one statement that moves it out of PENDING
//! (`UPDATE … WHERE id = ? AND status = PENDING`): a duplicate callback or a
//! reconciliation racing the callback finds it no longer PENDING and
//! credits nothing.
//!
//! Every credit writes `points.credited` (core's [`PointsCredited`]) to the
//! outbox in its transaction: the event exists exactly when the points do.

use super::stored_status;
use crate::outbox::OutboxWriter;
use chrono::Utc;
use sqlx::{MySqlConnection, MySqlPool};
use stampede_core::events::EventEnvelope;
use stampede_core::payment::PgVerdict;
use stampede_core::points::credited::{CreditSource, PointsCredited};
use stampede_core::points::grant::PointGrant;
use stampede_core::points::top_up::{self, TopUpStatus, TopUpTransition};
use stampede_core::points::PointsAmount;

/// A top-up as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TopUp {
    pub id: u64,
    pub user_id: u64,
    pub amount: u64,
    #[serde(serialize_with = "status_text")]
    pub status: TopUpStatus,
    pub transaction_key: Option<String>,
    pub failure_reason: Option<String>,
}

fn status_text<S: serde::Serializer>(status: &TopUpStatus, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(status.as_str())
}

/// Which top-up a PG verdict is about.
#[derive(Debug, Clone, Copy)]
pub enum TopUpRef<'a> {
    Id(u64),
    TransactionKey(&'a str),
}

/// Adds `amount` to the user's balance on `conn` (the caller's transaction).
pub(crate) async fn credit_points(
    conn: &mut MySqlConnection,
    user_id: u64,
    amount: u64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO user_points (user_id, balance) VALUES (?, ?) \
         ON DUPLICATE KEY UPDATE balance = balance + VALUES(balance)",
    )
    .bind(user_id)
    .bind(amount)
    .execute(conn)
    .await?;
    Ok(())
}

/// Records a PENDING top-up of `amount` for `user_id`; returns its id.
pub async fn begin_top_up(
    pool: &MySqlPool,
    user_id: u64,
    amount: PointsAmount,
) -> Result<u64, sqlx::Error> {
    let now = Utc::now().naive_utc();
    let result = sqlx::query(
        "INSERT INTO point_top_ups (user_id, amount, status, created_at, updated_at) \
         VALUES (?, ?, ?, ?, ?)",
    )
    .bind(user_id)
    .bind(amount.get())
    .bind(TopUpStatus::Pending.as_str())
    .bind(now)
    .bind(now)
    .execute(pool)
    .await?;
    Ok(result.last_insert_id())
}

/// Remembers the PG's transaction key of a PENDING top-up.
pub async fn attach_transaction_key(
    pool: &MySqlPool,
    top_up_id: u64,
    key: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE point_top_ups SET transaction_key = ? WHERE id = ? AND status = ?")
        .bind(key)
        .bind(top_up_id)
        .bind(TopUpStatus::Pending.as_str())
        .execute(pool)
        .await?;
    Ok(())
}

const TOP_UP_COLUMNS: &str =
    "id, user_id, amount, status, transaction_key, failure_reason FROM point_top_ups";

type TopUpRow = (u64, u64, u64, String, Option<String>, Option<String>);

fn top_up_of(row: TopUpRow) -> Result<TopUp, sqlx::Error> {
    let (id, user_id, amount, status, transaction_key, failure_reason) = row;
    Ok(TopUp {
        id,
        user_id,
        amount,
        status: stored_status(TopUpStatus::parse(&status), "point_top_ups.status")?,
        transaction_key,
        failure_reason,
    })
}

/// The top-up `id`.
pub async fn find_top_up(pool: &MySqlPool, id: u64) -> Result<Option<TopUp>, sqlx::Error> {
    let row: Option<TopUpRow> = sqlx::query_as(&format!("SELECT {TOP_UP_COLUMNS} WHERE id = ?"))
        .bind(id)
        .fetch_optional(pool)
        .await?;
    row.map(top_up_of).transpose()
}

/// Credits `credited` to its user on `conn` and writes its event, so the
/// points and `points.credited` commit together.
async fn credit_with_event(
    conn: &mut MySqlConnection,
    outbox: &OutboxWriter,
    credited: &PointsCredited,
) -> Result<(), sqlx::Error> {
    credit_points(conn, credited.user_id, credited.amount).await?;
    outbox.append(conn, &EventEnvelope::wrap(credited)).await
}

/// Applies the PG's verdict to a top-up; None when `top_up` names none
/// (the transaction is an order's payment, not a top-up).
pub async fn settle_top_up(
    pool: &MySqlPool,
    outbox: &OutboxWriter,
    top_up: TopUpRef<'_>,
    verdict: PgVerdict,
) -> Result<Option<TopUpTransition>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let (filter, value) = match top_up {
        TopUpRef::Id(id) => ("id = ?", id.to_string()),
        TopUpRef::TransactionKey(key) => ("transaction_key = ?", key.to_owned()),
    };
    let row: Option<TopUpRow> = sqlx::query_as(&format!(
        "SELECT {TOP_UP_COLUMNS} WHERE {filter} FOR UPDATE"
    ))
    .bind(value)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(stored) = row.map(top_up_of).transpose()? else {
        return Ok(None);
    };
    let transition = top_up::settle(stored.status, verdict);
    if let Some(target) = transition.target() {
        let reason = match &transition {
            TopUpTransition::Fail(reason) => Some(reason.chars().take(500).collect::<String>()),
            _ => None,
        };
        let moved = sqlx::query(
            "UPDATE point_top_ups SET status = ?, failure_reason = ?, updated_at = ? \
             WHERE id = ? AND status = ?",
        )
        .bind(target.as_str())
        .bind(reason)
        .bind(Utc::now().naive_utc())
        .bind(stored.id)
        .bind(stored.status.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if moved != 1 {
            // Locked FOR UPDATE above, so this cannot happen; refuse to credit if it does.
            return Ok(Some(TopUpTransition::AlreadySettled(stored.status)));
        }
        if transition == TopUpTransition::Credit {
            let credited = PointsCredited {
                user_id: stored.user_id,
                amount: stored.amount,
                source: CreditSource::TopUp {
                    top_up_id: stored.id,
                },
            };
            credit_with_event(&mut tx, outbox, &credited).await?;
        }
    }
    outbox.commit(tx).await?;
    Ok(Some(transition))
}

/// PENDING top-ups older than `older_than_secs` (their callback may have
/// been lost), oldest first.
pub async fn stale_top_ups(
    pool: &MySqlPool,
    older_than_secs: u64,
    limit: u32,
) -> Result<Vec<TopUp>, sqlx::Error> {
    let cutoff = Utc::now() - chrono::Duration::seconds(older_than_secs as i64);
    let rows: Vec<TopUpRow> = sqlx::query_as(&format!(
        "SELECT {TOP_UP_COLUMNS} WHERE status = ? AND created_at < ? ORDER BY created_at LIMIT ?"
    ))
    .bind(TopUpStatus::Pending.as_str())
    .bind(cutoff.naive_utc())
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(top_up_of).collect()
}

/// Records an admin's grant and credits it, in one transaction; returns the
/// grant's id and the user's new balance.
pub async fn grant_points(
    pool: &MySqlPool,
    outbox: &OutboxWriter,
    user_id: u64,
    grant: &PointGrant,
    granted_by: &str,
) -> Result<(u64, u64), sqlx::Error> {
    let mut tx = pool.begin().await?;
    let grant_id = sqlx::query(
        "INSERT INTO point_grants (user_id, amount, reason, granted_by, granted_at) \
         VALUES (?, ?, ?, ?, ?)",
    )
    .bind(user_id)
    .bind(grant.amount.get())
    .bind(&grant.reason)
    .bind(granted_by)
    .bind(Utc::now().naive_utc())
    .execute(&mut *tx)
    .await?
    .last_insert_id();
    let credited = PointsCredited {
        user_id,
        amount: grant.amount.get(),
        source: CreditSource::Grant {
            grant_id,
            granted_by: granted_by.to_owned(),
            reason: grant.reason.clone(),
        },
    };
    credit_with_event(&mut tx, outbox, &credited).await?;
    let balance = sqlx::query_scalar("SELECT balance FROM user_points WHERE user_id = ?")
        .bind(user_id)
        .fetch_one(&mut *tx)
        .await?;
    outbox.commit(tx).await?;
    Ok((grant_id, balance))
}
