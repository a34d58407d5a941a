//! Refunds in MariaDB: the two steps of a refund, as the payment's are.
//!
//! 1. [`begin_refund`] locks the payment row, loads what was captured and
//!    refunded, asks core ([`RefundablePayment::decide`]) and writes the
//!    refund. Because the payment row stays locked until the commit, two
//!    concurrent refunds are decided one after the other: together they can
//!    never exceed the captured amount. A points refund is settled in that
//!    same transaction (balance back, SUCCEEDED, `payment.refunded`); a
//!    card refund stays PENDING while the PG is asked.
//! 2. [`settle_refund`] writes the PG's verdict: SUCCEEDED (and
//!    `payment.refunded`) or FAILED (its amount is refundable again), by a
//!    conditional update from PENDING, so a second verdict changes nothing.
//!
//! When a refund leaves nothing to refund on a fulfilled payment, what the
//! payment bought goes back in the same transaction (`restitution.rs`).

use super::restitution::{purchase_of_payment, restore_purchase};
use super::stored_status;
use crate::outbox::OutboxWriter;
use chrono::{DateTime, NaiveDateTime, SubsecRound, Utc};
use sqlx::{MySqlConnection, MySqlPool};
use stampede_core::events::EventEnvelope;
use stampede_core::payment::{
    PaymentMethod, PaymentRefunded, PaymentStatus, PgVerdict, RefundRefusal, RefundStatus,
    RefundablePayment, Refunder,
};
use stampede_core::status::SettlesOnce;

#[derive(Debug, thiserror::Error)]
pub enum RefundError {
    #[error(transparent)]
    Refused(#[from] RefundRefusal),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// A refund as the API and the reconciler see it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Refund {
    pub id: u64,
    pub payment_id: u64,
    pub user_id: u64,
    pub amount: u64,
    pub reason: String,
    pub status: RefundStatus,
    pub method: PaymentMethod,
    /// The payment's PG transaction (card refunds are asked against it).
    #[serde(skip)]
    pub transaction_key: Option<String>,
    pub failure_reason: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// Who asks to refund how much of which payment, and why.
#[derive(Debug, Clone)]
pub struct RefundRequest<'a> {
    pub payment_id: u64,
    pub by: Refunder,
    /// `None`: everything still refundable.
    pub amount: Option<u64>,
    pub reason: &'a str,
    /// The request's `{user id}:{Idempotency-Key}`, if it has one: a rerun
    /// of the same request answers the refund it made instead of a second.
    pub request_key: Option<&'a str>,
}

const REFUND_COLUMNS: &str = "SELECT r.id, r.payment_id, r.user_id, r.amount, r.reason, r.status, \
     p.method, p.transaction_key, r.failure_reason, r.created_at \
     FROM refunds r JOIN payments p ON p.id = r.payment_id";

type RefundRow = (
    u64,
    u64,
    u64,
    u64,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    NaiveDateTime,
);

fn refund(row: RefundRow) -> Result<Refund, sqlx::Error> {
    let (id, payment_id, user_id, amount, reason, status, method, key, failure, created_at) = row;
    Ok(Refund {
        id,
        payment_id,
        user_id,
        amount,
        reason,
        status: stored_status(RefundStatus::parse(&status), "refunds.status")?,
        method: stored_status(PaymentMethod::parse(&method), "payments.method")?,
        transaction_key: key,
        failure_reason: failure,
        created_at: created_at.and_utc(),
    })
}

async fn find_on(
    conn: &mut MySqlConnection,
    refund_id: u64,
    lock: &str,
) -> Result<Option<Refund>, sqlx::Error> {
    let row: Option<RefundRow> = sqlx::query_as(&format!("{REFUND_COLUMNS} WHERE r.id = ? {lock}"))
        .bind(refund_id)
        .fetch_optional(conn)
        .await?;
    row.map(refund).transpose()
}

/// The refund of `payment_id` that the request `request_key` made.
async fn made_by_request(
    conn: &mut MySqlConnection,
    payment_id: u64,
    request_key: &str,
) -> Result<Refund, RefundError> {
    let row: RefundRow = sqlx::query_as(&format!(
        "{REFUND_COLUMNS} WHERE r.payment_id = ? AND r.request_key = ?"
    ))
    .bind(payment_id)
    .bind(request_key)
    .fetch_one(conn)
    .await?;
    Ok(refund(row)?)
}

/// The refunds of payment `payment_id`, oldest first.
pub async fn refunds_of_payment(
    pool: &MySqlPool,
    payment_id: u64,
) -> Result<Vec<Refund>, sqlx::Error> {
    let rows: Vec<RefundRow> = sqlx::query_as(&format!(
        "{REFUND_COLUMNS} WHERE r.payment_id = ? ORDER BY r.id"
    ))
    .bind(payment_id)
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(refund).collect()
}

/// Card refunds PENDING for longer than `stale_after_secs` (the PG's answer
/// was lost or never came), oldest first: the reconciler asks the PG again.
pub async fn stale_pending_refunds(
    pool: &MySqlPool,
    stale_after_secs: u64,
    limit: u32,
) -> Result<Vec<Refund>, sqlx::Error> {
    let rows: Vec<RefundRow> = sqlx::query_as(&format!(
        "{REFUND_COLUMNS} WHERE r.status = ? AND r.updated_at <= UTC_TIMESTAMP(3) - INTERVAL ? SECOND \
         ORDER BY r.id LIMIT ?"
    ))
    .bind(RefundStatus::Pending.as_str())
    .bind(stale_after_secs)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(refund).collect()
}

/// Locks payment `payment_id` and loads it as core's refund decision needs it.
async fn lock_refundable(
    conn: &mut MySqlConnection,
    payment_id: u64,
) -> Result<LockedPayment, RefundError> {
    let row: Option<(u64, String, String, bool, u64, Option<String>)> = sqlx::query_as(
        "SELECT user_id, method, status, refund_required, amount, transaction_key \
         FROM payments WHERE id = ? FOR UPDATE",
    )
    .bind(payment_id)
    .fetch_optional(&mut *conn)
    .await?;
    let (payer_id, method, status, refund_required, amount, transaction_key) =
        row.ok_or(RefundRefusal::PaymentNotFound(payment_id))?;
    // PENDING refunds reserve their amount (they may yet succeed); FAILED ones gave it back.
    let (reserved, refunded): (u64, u64) = sqlx::query_as(
        "SELECT CAST(COALESCE(SUM(amount), 0) AS UNSIGNED), \
         CAST(COALESCE(SUM(CASE WHEN status = ? THEN amount END), 0) AS UNSIGNED) \
         FROM refunds WHERE payment_id = ? AND status IN (?, ?)",
    )
    .bind(RefundStatus::Succeeded.as_str())
    .bind(payment_id)
    .bind(RefundStatus::Pending.as_str())
    .bind(RefundStatus::Succeeded.as_str())
    .fetch_one(&mut *conn)
    .await?;
    let refundable = RefundablePayment {
        payment_id,
        payer_id,
        method: stored_status(PaymentMethod::parse(&method), "payments.method")?,
        status: stored_status(PaymentStatus::parse(&status), "payments.status")?,
        refund_required,
        amount,
        reserved_by_refunds: reserved,
        refunded,
    };
    Ok(LockedPayment {
        refundable,
        transaction_key,
    })
}

/// A payment locked for a refund: what core decides on, and its PG
/// transaction (a card refund is asked against it).
struct LockedPayment {
    refundable: RefundablePayment,
    transaction_key: Option<String>,
}

/// Step 1: decides and writes a refund. Points: SUCCEEDED at once (balance
/// back, `payment.refunded`, and what was bought if nothing is left to
/// refund), all in this transaction. Card: PENDING, for the PG.
pub async fn begin_refund(
    pool: &MySqlPool,
    outbox: &OutboxWriter,
    request: RefundRequest<'_>,
) -> Result<Refund, RefundError> {
    let mut tx = pool.begin().await?;
    let written = write_refund_on(&mut tx, outbox, request).await?;
    outbox.commit(tx).await?;
    Ok(written)
}

/// [`begin_refund`] on the caller's transaction (a card settlement that
/// cannot fulfil what was paid writes its refund with it).
pub(crate) async fn write_refund_on(
    conn: &mut MySqlConnection,
    outbox: &OutboxWriter,
    request: RefundRequest<'_>,
) -> Result<Refund, RefundError> {
    let LockedPayment {
        refundable: payment,
        transaction_key,
    } = lock_refundable(conn, request.payment_id).await?;
    let decision = payment.decide(request.by, request.amount)?;
    // As DATETIME(3) keeps it, so the refund answered is the one stored.
    let now = Utc::now().trunc_subsecs(3);
    let inserted = sqlx::query(
        "INSERT INTO refunds (payment_id, user_id, amount, reason, requested_by, request_key, status, created_at, updated_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(payment.payment_id)
    .bind(payment.payer_id)
    .bind(decision.amount)
    .bind(request.reason)
    .bind(request.by.kind())
    .bind(request.request_key)
    .bind(decision.status.as_str())
    .bind(now.naive_utc())
    .bind(now.naive_utc())
    .execute(&mut *conn)
    .await;
    let refund_id = match inserted {
        Ok(done) => done.last_insert_id(),
        // This request already made its refund (its first run died before
        // the answer was stored): that refund is the answer, nothing more
        // is written.
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => match request.request_key {
            Some(key) => return made_by_request(conn, payment.payment_id, key).await,
            None => return Err(sqlx::Error::Database(e).into()),
        },
        Err(e) => return Err(e.into()),
    };
    let written = Refund {
        id: refund_id,
        payment_id: payment.payment_id,
        user_id: payment.payer_id,
        amount: decision.amount,
        reason: request.reason.to_owned(),
        status: decision.status,
        method: payment.method,
        transaction_key,
        failure_reason: None,
        created_at: now,
    };
    if decision.status != RefundStatus::Succeeded {
        return Ok(written);
    }
    super::points::credit_points(conn, payment.payer_id, decision.amount).await?;
    record_success(conn, outbox, &payment, written).await
}

/// Refund `refund_id`, if there is one.
pub async fn find_refund(pool: &MySqlPool, refund_id: u64) -> Result<Option<Refund>, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    find_on(&mut conn, refund_id, "").await
}

/// Step 2 (card): the PG's verdict on refund `refund_id`. A refund no
/// longer PENDING is returned as it is.
pub async fn settle_refund(
    pool: &MySqlPool,
    outbox: &OutboxWriter,
    refund_id: u64,
    verdict: PgVerdict,
    pg_refund_key: Option<&str>,
) -> Result<Refund, RefundError> {
    let mut tx = pool.begin().await?;
    let payment_id = find_on(&mut tx, refund_id, "")
        .await?
        .ok_or(sqlx::Error::RowNotFound)?
        .payment_id;
    // The payment row first, as `begin_refund` locks it: one lock order.
    let payment = lock_refundable(&mut tx, payment_id).await?.refundable;
    let locked = find_on(&mut tx, refund_id, "FOR UPDATE")
        .await?
        .ok_or(sqlx::Error::RowNotFound)?;
    let settled = match verdict {
        PgVerdict::Success => succeed(&mut tx, outbox, &payment, locked, pg_refund_key).await?,
        PgVerdict::Failed(reason) => fail(&mut tx, locked, reason).await?,
    };
    outbox.commit(tx).await?;
    Ok(settled)
}

/// PENDING → FAILED for `refund`, with the PG's reason; a refund the
/// state machine does not let fail (already settled) is returned as it is.
async fn fail(
    conn: &mut MySqlConnection,
    refund: Refund,
    reason: String,
) -> Result<Refund, sqlx::Error> {
    let Ok(failed) = refund.status.fail() else {
        return Ok(refund);
    };
    move_refund(conn, &refund, failed, Some(&reason), None).await?;
    Ok(Refund {
        status: failed,
        failure_reason: Some(reason),
        ..refund
    })
}

/// PENDING → SUCCEEDED for `refund`, `payment.refunded`, and, when it was
/// the last of a fulfilled payment, what the payment bought goes back. A
/// refund the state machine does not let succeed (already settled) is
/// returned as it is.
async fn succeed(
    conn: &mut MySqlConnection,
    outbox: &OutboxWriter,
    payment: &RefundablePayment,
    refund: Refund,
    pg_refund_key: Option<&str>,
) -> Result<Refund, RefundError> {
    let Ok(succeeded) = refund.status.succeed() else {
        return Ok(refund);
    };
    move_refund(conn, &refund, succeeded, None, pg_refund_key).await?;
    let refund = Refund {
        status: succeeded,
        ..refund
    };
    record_success(conn, outbox, payment, refund).await
}

/// What follows a SUCCEEDED `refund`: `payment.refunded`, and what the
/// payment bought back when it was the last.
async fn record_success(
    conn: &mut MySqlConnection,
    outbox: &OutboxWriter,
    payment: &RefundablePayment,
    refund: Refund,
) -> Result<Refund, RefundError> {
    // The payment is locked, so no other refund of it settles meanwhile.
    let full = payment.refunded_entirely_by(refund.amount);
    let purchase = purchase_of_payment(conn, payment.payment_id).await?;
    if full && payment.restores_purchase() {
        restore_purchase(conn, payment.payer_id, &purchase).await?;
    }
    let event = PaymentRefunded {
        refund_id: refund.id,
        payment_id: payment.payment_id,
        user_id: payment.payer_id,
        amount: refund.amount,
        method: payment.method,
        reason: refund.reason.clone(),
        full,
        purchase,
    };
    outbox.append(conn, &EventEnvelope::wrap(&event)).await?;
    Ok(refund)
}

/// Writes `to` guarded by the status `refund` was loaded with, so the
/// transition core allowed and the SQL guard are one and the same.
async fn move_refund(
    conn: &mut MySqlConnection,
    refund: &Refund,
    to: RefundStatus,
    failure: Option<&str>,
    pg_refund_key: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE refunds SET status = ?, failure_reason = ?, pg_refund_key = ?, updated_at = UTC_TIMESTAMP(3) \
         WHERE id = ? AND status = ?",
    )
    .bind(to.as_str())
    .bind(failure)
    .bind(pg_refund_key)
    .bind(refund.id)
    .bind(refund.status.as_str())
    .execute(conn)
    .await?;
    Ok(())
}

/// Who paid payment `payment_id`, if it exists.
pub async fn payer_of(pool: &MySqlPool, payment_id: u64) -> Result<Option<u64>, sqlx::Error> {
    sqlx::query_scalar("SELECT user_id FROM payments WHERE id = ?")
        .bind(payment_id)
        .fetch_optional(pool)
        .await
}
