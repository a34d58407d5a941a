//! A points payment: balance, coupons, order PAID, payment row,
//! `payment.success` and stock, all in one transaction.

use super::{
    insert_payment, lock_pending_order, record_refusal, set_order_status, take_stock, use_coupons,
    NewPayment, PaymentError,
};
use crate::mysql::catalog::take_points;
use crate::mysql::orders::{find_order, Order};
use crate::outbox::OutboxWriter;
use sqlx::MySqlPool;
use stampede_core::events::EventEnvelope;
use stampede_core::payment::{PaymentMethod, PaymentRefusal, PaymentStatus};

/// A successful payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Paid {
    pub payment_id: u64,
    pub order_id: u64,
    pub amount: u64,
}

/// Whether MariaDB chose this payment as a deadlock's victim: the attempt is
/// retried, since nothing of it was written.
fn is_deadlock(error: &PaymentError) -> bool {
    matches!(error, PaymentError::Database(sqlx::Error::Database(e)) if e.code().as_deref() == Some("40001"))
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
