//! Payments in MariaDB: points payments (one transaction for everything)
//! and the card flow's settlement (callback and reconciliation).
//!
//! Stock is always taken with `UPDATE … SET stock = stock − ? WHERE stock >= ?`,
//! options locked in ascending id order so concurrent payments cannot
//! deadlock; balances with `WHERE balance >= ?`; coupons ISSUED → USED only
//! for their owner; status changes only from the state they were read in.

use super::catalog::take_points;
use super::orders::{find_order, find_order_on, Order};
use super::refunds::{write_refund_on, Refund, RefundError, RefundRequest};
use super::stored_status;
use crate::outbox::OutboxWriter;
use chrono::Utc;
use sqlx::{MySqlConnection, MySqlPool};
use stampede_core::coupon::UserCouponStatus;
use stampede_core::events::EventEnvelope;
use stampede_core::order::{OrderLine, OrderStatus};
use stampede_core::payment::{
    PaidLine, PaymentFailed, PaymentMethod, PaymentRefusal, PaymentStatus, PaymentSucceeded,
    PgVerdict, Purchase, Refunder,
};

#[derive(Debug, thiserror::Error)]
pub enum PaymentError {
    #[error(transparent)]
    Refused(#[from] PaymentRefusal),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl PaymentError {
    /// The stable code clients and `payment.failed` consumers see.
    pub fn code(&self) -> String {
        match self {
            Self::Refused(refusal) => refusal.code(),
            Self::Database(_) => "DATABASE".into(),
        }
    }

    /// Whether the attempt failed for a business reason worth a `payment.failed` event.
    fn is_refusal(&self) -> bool {
        matches!(self, Self::Refused(refusal) if refusal.fails_the_attempt())
    }
}

/// A successful payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Paid {
    pub payment_id: u64,
    pub order_id: u64,
    pub amount: u64,
}

/// What a payment of `order` pays for, as payment events carry it.
pub(crate) fn purchase_of(order: &Order) -> Purchase {
    Purchase::Order {
        order_id: order.id,
        lines: order
            .lines
            .iter()
            .map(|l| PaidLine {
                option_id: l.option_id,
                quantity: l.quantity,
            })
            .collect(),
    }
}

fn is_deadlock(error: &PaymentError) -> bool {
    matches!(error, PaymentError::Database(sqlx::Error::Database(e)) if e.code().as_deref() == Some("40001"))
}

/// Locks the order row and checks it is `user_id`'s and PENDING.
async fn lock_pending_order(
    conn: &mut MySqlConnection,
    order_id: u64,
    user_id: u64,
) -> Result<(), PaymentError> {
    let row: Option<(u64, String)> =
        sqlx::query_as("SELECT user_id, status FROM orders WHERE id = ? FOR UPDATE")
            .bind(order_id)
            .fetch_optional(&mut *conn)
            .await?;
    let (_, status) = row
        .filter(|(owner, _)| *owner == user_id)
        .ok_or(PaymentRefusal::OrderNotFound(order_id))?;
    let status = stored_status(OrderStatus::parse(&status), "orders.status", &status)?;
    if status != OrderStatus::Pending {
        return Err(PaymentRefusal::NotPayable { order_id, status }.into());
    }
    Ok(())
}

/// Takes each line's quantity, options in ascending id order.
async fn take_stock(conn: &mut MySqlConnection, lines: &[OrderLine]) -> Result<(), PaymentError> {
    let mut sorted: Vec<&OrderLine> = lines.iter().collect();
    sorted.sort_by_key(|l| l.option_id);
    for line in sorted {
        let taken =
            sqlx::query("UPDATE product_options SET stock = stock - ? WHERE id = ? AND stock >= ?")
                .bind(line.quantity)
                .bind(line.option_id)
                .bind(line.quantity)
                .execute(&mut *conn)
                .await?
                .rows_affected();
        if taken != 1 {
            return Err(PaymentRefusal::OutOfStock(line.option_id).into());
        }
    }
    Ok(())
}

/// Gives each line's quantity back (a full refund), options in ascending
/// id order like [`take_stock`], so refunds and payments cannot deadlock.
pub(crate) async fn return_stock(
    conn: &mut MySqlConnection,
    lines: &[PaidLine],
) -> Result<(), sqlx::Error> {
    let mut sorted: Vec<&PaidLine> = lines.iter().collect();
    sorted.sort_by_key(|l| l.option_id);
    for line in sorted {
        sqlx::query("UPDATE product_options SET stock = stock + ? WHERE id = ?")
            .bind(line.quantity)
            .bind(line.option_id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// ISSUED → USED for the order's coupons, only the owner's, only unexpired ones.
async fn use_coupons(conn: &mut MySqlConnection, order: &Order) -> Result<(), PaymentError> {
    for coupon in &order.coupon_ids {
        let used = sqlx::query(
            "UPDATE user_coupons SET status = ?, used_at = UTC_TIMESTAMP(3) \
             WHERE id = ? AND user_id = ? AND status = ? AND expires_at > UTC_TIMESTAMP(3)",
        )
        .bind(UserCouponStatus::Used.as_str())
        .bind(coupon)
        .bind(order.user_id)
        .bind(UserCouponStatus::Issued.as_str())
        .execute(&mut *conn)
        .await?
        .rows_affected();
        if used != 1 {
            return Err(PaymentRefusal::CouponNotUsable.into());
        }
    }
    Ok(())
}

/// Writes the transition `from` → `to` that core allowed on the loaded
/// status; false when the row was no longer `from`.
pub(crate) async fn set_order_status(
    conn: &mut MySqlConnection,
    order_id: u64,
    from: OrderStatus,
    to: OrderStatus,
) -> Result<bool, sqlx::Error> {
    let moved = sqlx::query(
        "UPDATE orders SET status = ?, updated_at = UTC_TIMESTAMP(3) WHERE id = ? AND status = ?",
    )
    .bind(to.as_str())
    .bind(order_id)
    .bind(from.as_str())
    .execute(conn)
    .await?
    .rows_affected();
    Ok(moved == 1)
}

/// A payment about to be written: who pays how much, how, for what.
pub(crate) struct NewPayment {
    pub purchase: Purchase,
    pub user_id: u64,
    pub method: PaymentMethod,
    pub amount: u64,
}

impl NewPayment {
    fn of_order(order: &Order, method: PaymentMethod) -> Self {
        Self {
            purchase: purchase_of(order),
            user_id: order.user_id,
            method,
            amount: order.pricing.total,
        }
    }

    /// `payment.success` for this payment, written as row `payment_id`.
    pub(crate) fn succeeded(self, payment_id: u64) -> PaymentSucceeded {
        PaymentSucceeded {
            payment_id,
            user_id: self.user_id,
            amount: self.amount,
            method: self.method,
            purchase: self.purchase,
        }
    }

    /// `payment.failed` for this payment, written as row `payment_id`.
    fn failed(self, payment_id: u64, reason: &str, refund_required: bool) -> PaymentFailed {
        PaymentFailed {
            payment_id: Some(payment_id),
            user_id: self.user_id,
            amount: self.amount,
            method: self.method,
            reason: reason.to_owned(),
            refund_required,
            purchase: self.purchase,
        }
    }
}

/// Inserts the payment row (for an order or a reservation); returns its id.
pub(crate) async fn insert_payment(
    conn: &mut MySqlConnection,
    payment: &NewPayment,
    status: PaymentStatus,
    failure: Option<&str>,
) -> Result<u64, sqlx::Error> {
    let now = Utc::now().naive_utc();
    Ok(sqlx::query(
        "INSERT INTO payments (order_id, reservation_id, user_id, method, amount, status, failure_reason, \
         created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(payment.purchase.order_id())
    .bind(payment.purchase.reservation_id())
    .bind(payment.user_id)
    .bind(payment.method.as_str())
    .bind(payment.amount)
    .bind(status.as_str())
    .bind(failure)
    .bind(now)
    .bind(now)
    .execute(conn)
    .await?
    .last_insert_id())
}

/// A points payment: balance, coupons, order PAID, payment,
/// `payment.success` and stock, all in one transaction. A refusal rolls all of it
/// back and is recorded as a FAILED payment with `payment.failed`.
pub async fn pay_with_points(
    pool: &MySqlPool,
    outbox: &OutboxWriter,
    order_id: u64,
    user_id: u64,
) -> Result<Paid, PaymentError> {
    let order = find_order(pool, order_id)
        .await?
        .filter(|o| o.user_id == user_id)
        .ok_or(PaymentRefusal::OrderNotFound(order_id))?;
    let mut attempt = 0;
    let result = loop {
        attempt += 1;
        match try_pay_with_points(pool, outbox, &order).await {
            Err(error) if is_deadlock(&error) && attempt < 3 => continue,
            other => break other,
        }
    };
    if let Err(refusal) = result.as_ref().map(|_| ()) {
        if refusal.is_refusal() {
            let payment = NewPayment::of_order(&order, PaymentMethod::Points);
            record_refusal(pool, outbox, payment, &refusal.code()).await?;
        }
    }
    result
}

async fn try_pay_with_points(
    pool: &MySqlPool,
    outbox: &OutboxWriter,
    order: &Order,
) -> Result<Paid, PaymentError> {
    let mut tx = pool.begin().await?;
    // Moving the order out of PENDING first locks and checks it in one
    // statement; any refusal below rolls it back with everything else.
    let moved = match order.status.pay() {
        Ok(paid) => set_order_status(&mut tx, order.id, order.status, paid).await?,
        Err(_) => false,
    };
    if !moved {
        lock_pending_order(&mut tx, order.id, order.user_id).await?;
        return Err(PaymentRefusal::NotPayable {
            order_id: order.id,
            status: order.status,
        }
        .into());
    }
    if !take_points(&mut tx, order.user_id, order.pricing.total).await? {
        return Err(PaymentRefusal::InsufficientPoints.into());
    }
    use_coupons(&mut tx, order).await?;
    let payment = NewPayment::of_order(order, PaymentMethod::Points);
    let payment_id = insert_payment(&mut tx, &payment, PaymentStatus::Success, None).await?;
    let event = payment.succeeded(payment_id);
    outbox.append(&mut tx, &EventEnvelope::wrap(&event)).await?;
    // The option rows are the hot ones every buyer shares: they are locked
    // last, so each payment holds them only for these updates and the commit.
    take_stock(&mut tx, &order.lines).await?;
    outbox.commit(tx).await?;
    Ok(Paid {
        payment_id,
        order_id: order.id,
        amount: order.pricing.total,
    })
}

/// A refused attempt: a FAILED payment row and `payment.failed`, in one
/// transaction; what was bought (order or reservation) stays as it was.
pub(crate) async fn record_refusal(
    pool: &MySqlPool,
    outbox: &OutboxWriter,
    payment: NewPayment,
    reason: &str,
) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    let payment_id = insert_payment(&mut tx, &payment, PaymentStatus::Failed, Some(reason)).await?;
    let event = payment.failed(payment_id, reason, false);
    outbox.append(&mut tx, &EventEnvelope::wrap(&event)).await?;
    outbox.commit(tx).await
}

/// Card, step 1: a PENDING payment row, before the PG is asked.
pub async fn begin_card_payment(
    pool: &MySqlPool,
    order_id: u64,
    user_id: u64,
) -> Result<(u64, Order), PaymentError> {
    let order = find_order(pool, order_id)
        .await?
        .filter(|o| o.user_id == user_id)
        .ok_or(PaymentRefusal::OrderNotFound(order_id))?;
    let mut tx = pool.begin().await?;
    lock_pending_order(&mut tx, order_id, user_id).await?;
    let pending: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM payments WHERE order_id = ? AND status = ?")
            .bind(order_id)
            .bind(PaymentStatus::Pending.as_str())
            .fetch_one(&mut *tx)
            .await?;
    if pending > 0 {
        return Err(PaymentRefusal::InProgress(order_id).into());
    }
    let payment = NewPayment::of_order(&order, PaymentMethod::Card);
    let payment_id = insert_payment(&mut tx, &payment, PaymentStatus::Pending, None).await?;
    tx.commit().await?;
    Ok((payment_id, order))
}

/// Card, step 2: the PG accepted the request.
pub async fn attach_transaction_key(
    pool: &MySqlPool,
    payment_id: u64,
    key: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE payments SET transaction_key = ?, updated_at = UTC_TIMESTAMP(3) WHERE id = ? AND status = ?")
        .bind(key)
        .bind(payment_id)
        .bind(PaymentStatus::Pending.as_str())
        .execute(pool)
        .await?;
    Ok(())
}

/// What settling a card payment did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum Settlement {
    /// Stock taken, payment SUCCESS, order COMPLETED, `payment.success` written.
    Completed,
    /// Paid at the PG but not fulfillable (out of stock, order no longer
    /// pending): payment and order FAILED, and a SYSTEM refund of all of it
    /// written PENDING in the same transaction, for the PG to carry out.
    RefundRequired(String, Refund),
    /// The PG declined (or the request never reached it): FAILED.
    Failed(String),
    /// Already settled before: nothing changed (duplicate or late callback).
    AlreadySettled,
}

/// Which payment to settle.
#[derive(Debug, Clone)]
pub enum PaymentRef<'a> {
    Id(u64),
    TransactionKey(&'a str),
}

/// Settles a PENDING card payment with the PG's verdict, in one transaction.
/// Terminal payments never move: a second verdict changes nothing.
pub async fn settle_card_payment(
    pool: &MySqlPool,
    outbox: &OutboxWriter,
    payment: PaymentRef<'_>,
    verdict: PgVerdict,
) -> Result<Settlement, PaymentError> {
    let mut tx = pool.begin().await?;
    let (column, value) = match &payment {
        PaymentRef::Id(id) => ("id", id.to_string()),
        PaymentRef::TransactionKey(key) => ("transaction_key", (*key).to_owned()),
    };
    let row: Option<(u64, u64, String)> = sqlx::query_as(&format!(
        "SELECT id, order_id, status FROM payments WHERE {column} = ? FOR UPDATE"
    ))
    .bind(&value)
    .fetch_optional(&mut *tx)
    .await?;
    let (payment_id, order_id, status) =
        row.ok_or_else(|| PaymentRefusal::PaymentNotFound(value.clone()))?;
    if PaymentStatus::parse(&status) != Some(PaymentStatus::Pending) {
        return Ok(Settlement::AlreadySettled);
    }
    // On the transaction's own connection: a second one per settlement
    // would starve the pool under concurrency.
    let order = find_order_on(&mut tx, order_id)
        .await?
        .ok_or(PaymentRefusal::OrderNotFound(order_id))?;
    let order_locked: String =
        sqlx::query_scalar("SELECT status FROM orders WHERE id = ? FOR UPDATE")
            .bind(order_id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(PaymentRefusal::OrderNotFound(order_id))?;
    let order_status = stored_status(
        OrderStatus::parse(&order_locked),
        "orders.status",
        &order_locked,
    )?;
    let order_pending = order_status == OrderStatus::Pending;

    // What happens, before it is written: `Some(reason)` for a refusal,
    // with whether the PG charged (a refund is then required).
    let failure = match verdict {
        PgVerdict::Failed(reason) => Some((reason, false)),
        PgVerdict::Success if !order_pending => Some(("ORDER_NOT_PENDING".to_owned(), true)),
        PgVerdict::Success => {
            let mut fulfil = sqlx::Connection::begin(&mut *tx).await?;
            let taken = match take_stock(&mut fulfil, &order.lines).await {
                Ok(()) => use_coupons(&mut fulfil, &order).await,
                Err(error) => Err(error),
            };
            match taken {
                Ok(()) => {
                    fulfil.commit().await?;
                    None
                }
                Err(PaymentError::Database(error)) => return Err(error.into()),
                Err(refusal) => {
                    fulfil.rollback().await?;
                    Some((refusal.code(), true))
                }
            }
        }
    };
    let method = PaymentMethod::Card;
    let settlement = match failure {
        None => {
            set_payment(&mut tx, payment_id, PaymentStatus::Success, None, false).await?;
            if let Ok(completed) = order_status.complete() {
                set_order_status(&mut tx, order_id, order_status, completed).await?;
            }
            let event = NewPayment::of_order(&order, method).succeeded(payment_id);
            outbox.append(&mut tx, &EventEnvelope::wrap(&event)).await?;
            Settlement::Completed
        }
        Some((reason, refund)) => {
            set_payment(
                &mut tx,
                payment_id,
                PaymentStatus::Failed,
                Some(&reason),
                refund,
            )
            .await?;
            if let Ok(failed) = order_status.fail() {
                set_order_status(&mut tx, order_id, order_status, failed).await?;
            }
            let event = NewPayment::of_order(&order, method).failed(payment_id, &reason, refund);
            outbox.append(&mut tx, &EventEnvelope::wrap(&event)).await?;
            if refund {
                let refund = refund_unfulfilled(&mut tx, outbox, payment_id, &reason).await?;
                Settlement::RefundRequired(reason, refund)
            } else {
                Settlement::Failed(reason)
            }
        }
    };
    outbox.commit(tx).await?;
    Ok(settlement)
}

/// The SYSTEM refund of everything a payment that could not be fulfilled
/// captured, written PENDING (for the PG) with the settlement, so a crash
/// right after it cannot leave the buyer's money kept for nothing.
async fn refund_unfulfilled(
    conn: &mut MySqlConnection,
    outbox: &OutboxWriter,
    payment_id: u64,
    reason: &str,
) -> Result<Refund, PaymentError> {
    let request = RefundRequest {
        payment_id,
        by: Refunder::System,
        amount: None,
        reason: &format!("LATE_PAYMENT: {reason}"),
    };
    write_refund_on(conn, outbox, request)
        .await
        .map_err(|error| match error {
            RefundError::Database(error) => PaymentError::Database(error),
            RefundError::Refused(refusal) => PaymentError::Database(sqlx::Error::Protocol(
                format!("a FAILED refund-required payment must be refundable: {refusal}"),
            )),
        })
}

async fn set_payment(
    conn: &mut MySqlConnection,
    payment_id: u64,
    to: PaymentStatus,
    failure: Option<&str>,
    refund_required: bool,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE payments SET status = ?, failure_reason = ?, refund_required = ?, updated_at = UTC_TIMESTAMP(3) \
         WHERE id = ? AND status = ?",
    )
    .bind(to.as_str())
    .bind(failure)
    .bind(refund_required)
    .bind(payment_id)
    .bind(PaymentStatus::Pending.as_str())
    .execute(conn)
    .await?;
    Ok(())
}

/// A payment as reconciliation and the API see it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PaymentRecord {
    pub id: u64,
    pub order_id: u64,
    pub method: String,
    pub amount: u64,
    pub status: String,
    pub transaction_key: Option<String>,
    pub failure_reason: Option<String>,
    pub refund_required: bool,
}

pub async fn payments_of_order(
    pool: &MySqlPool,
    order_id: u64,
) -> Result<Vec<PaymentRecord>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, order_id, method, amount, status, transaction_key, failure_reason, refund_required \
         FROM payments WHERE order_id = ? ORDER BY id",
    )
    .bind(order_id)
    .fetch_all(pool)
    .await
}

/// Fails an order that has no pending payment (reconciliation's first rule).
pub async fn fail_unpaid_order(pool: &MySqlPool, order_id: u64) -> Result<bool, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    let stored: Option<String> = sqlx::query_scalar("SELECT status FROM orders WHERE id = ?")
        .bind(order_id)
        .fetch_optional(&mut *conn)
        .await?;
    let Some(stored) = stored else {
        return Ok(false);
    };
    let status = stored_status(OrderStatus::parse(&stored), "orders.status", &stored)?;
    match status.fail() {
        Ok(failed) => set_order_status(&mut conn, order_id, status, failed).await,
        Err(_) => Ok(false),
    }
}
