//! Payments in MariaDB: the steps points and card payments share (locking
//! the order, taking stock and coupons, writing payment rows and events);
//! each payment flow has its own file.
//!
//! - [`points`]: a points payment, one transaction for everything.
//! - [`card`]: the card flow: the PENDING payment before the PG is asked,
//!   and its settlement with the PG's verdict (callback and reconciliation).
//!
//! Stock is always taken with `UPDATE … SET stock = stock − ? WHERE stock >= ?`,
//! options locked in ascending id order so concurrent payments cannot
//! deadlock; balances with `WHERE balance >= ?`; coupons ISSUED → USED only
//! for their owner; status changes only from the state they were read in.

mod card;
mod points;

pub use card::{
    attach_transaction_key, begin_card_payment, settle_card_payment, PaymentRef, Settlement,
};
pub use points::{pay_with_points, Paid};

use super::orders::Order;
use super::stored_status;
use crate::outbox::OutboxWriter;
use chrono::Utc;
use sqlx::{MySqlConnection, MySqlPool};
use stampede_core::coupon::UserCouponStatus;
use stampede_core::events::EventEnvelope;
use stampede_core::order::{OrderLine, OrderStatus};
use stampede_core::payment::{
    PaidLine, PaymentFailed, PaymentMethod, PaymentRefusal, PaymentStatus, PaymentSucceeded,
    Purchase,
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

/// Locks order `order_id`'s row: its owner and status, as stored.
async fn lock_order(
    conn: &mut MySqlConnection,
    order_id: u64,
) -> Result<Option<(u64, OrderStatus)>, sqlx::Error> {
    let row: Option<(u64, String)> =
        sqlx::query_as("SELECT user_id, status FROM orders WHERE id = ? FOR UPDATE")
            .bind(order_id)
            .fetch_optional(&mut *conn)
            .await?;
    row.map(|(owner, status)| {
        let status = stored_status(OrderStatus::parse(&status), "orders.status")?;
        Ok((owner, status))
    })
    .transpose()
}

/// Locks the order row and checks it is `user_id`'s and PENDING.
async fn lock_pending_order(
    conn: &mut MySqlConnection,
    order_id: u64,
    user_id: u64,
) -> Result<(), PaymentError> {
    let (_, status) = lock_order(conn, order_id)
        .await?
        .filter(|(owner, _)| *owner == user_id)
        .ok_or(PaymentRefusal::OrderNotFound(order_id))?;
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
    let status = stored_status(OrderStatus::parse(&stored), "orders.status")?;
    match status.fail() {
        Ok(failed) => set_order_status(&mut conn, order_id, status, failed).await,
        Err(_) => Ok(false),
    }
}
