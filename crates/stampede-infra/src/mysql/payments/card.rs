//! The card flow: a PENDING payment before the PG is asked, the PG's
//! transaction key once it accepted, and the settlement with its verdict
//! (callback and reconciliation), decided in core (`CardSettlement`).

use super::{
    insert_payment, lock_order, lock_pending_order, take_stock, use_coupons, NewPayment,
    PaymentError,
};
use crate::mysql::orders::{find_order, find_order_on, Order};
use crate::mysql::refunds::{write_refund_on, Refund, RefundError, RefundRequest};
use crate::mysql::stored_status;
use crate::outbox::OutboxWriter;
use sqlx::{MySqlConnection, MySqlPool};
use stampede_core::events::EventEnvelope;
use stampede_core::payment::{
    CardSettlement, PaymentMethod, PaymentRefusal, PaymentStatus, PgVerdict, Refunder,
    SettlementOutcome, SettlementStep,
};

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

/// A card payment's row, locked: its id, its order, its status.
async fn lock_payment(
    conn: &mut MySqlConnection,
    payment: &PaymentRef<'_>,
) -> Result<(u64, u64, PaymentStatus), PaymentError> {
    let (column, value) = match payment {
        PaymentRef::Id(id) => ("id", id.to_string()),
        PaymentRef::TransactionKey(key) => ("transaction_key", (*key).to_owned()),
    };
    let row: Option<(u64, u64, String)> = sqlx::query_as(&format!(
        "SELECT id, order_id, status FROM payments WHERE {column} = ? FOR UPDATE"
    ))
    .bind(&value)
    .fetch_optional(&mut *conn)
    .await?;
    let (payment_id, order_id, status) = row.ok_or(PaymentRefusal::PaymentNotFound(value))?;
    let status = stored_status(PaymentStatus::parse(&status), "payments.status")?;
    Ok((payment_id, order_id, status))
}

/// Settles a card payment with the PG's verdict, in one transaction: the
/// payment and its order are locked, core decides (`CardSettlement`), and
/// each row moves from the status it was loaded in. Terminal payments never
/// move: a second verdict changes nothing.
pub async fn settle_card_payment(
    pool: &MySqlPool,
    outbox: &OutboxWriter,
    payment: PaymentRef<'_>,
    verdict: PgVerdict,
) -> Result<Settlement, PaymentError> {
    let mut tx = pool.begin().await?;
    let (payment_id, order_id, payment_status) = lock_payment(&mut tx, &payment).await?;
    // On the transaction's own connection: a second one per settlement
    // would starve the pool under concurrency.
    let order = find_order_on(&mut tx, order_id)
        .await?
        .ok_or(PaymentRefusal::OrderNotFound(order_id))?;
    let (_, order_status) = lock_order(&mut tx, order_id)
        .await?
        .ok_or(PaymentRefusal::OrderNotFound(order_id))?;
    let settlement = match CardSettlement::decide(payment_status, order_status, &verdict) {
        SettlementStep::AlreadySettled => return Ok(Settlement::AlreadySettled),
        SettlementStep::Settle(settlement) => settlement,
        SettlementStep::Fulfil => {
            let fulfilment = fulfil(&mut tx, &order).await?;
            CardSettlement::after_fulfilment(payment_status, order_status, fulfilment)
        }
    };
    let settled = write_settlement(&mut tx, outbox, payment_id, &order, settlement).await?;
    outbox.commit(tx).await?;
    Ok(settled)
}

/// Takes the order's stock and uses its coupons, all or nothing (a
/// savepoint): `Err` is the refusal of the first that could not be taken.
async fn fulfil(
    conn: &mut MySqlConnection,
    order: &Order,
) -> Result<Result<(), PaymentRefusal>, sqlx::Error> {
    let mut savepoint = sqlx::Connection::begin(&mut *conn).await?;
    let taken = match take_stock(&mut savepoint, &order.lines).await {
        Ok(()) => use_coupons(&mut savepoint, order).await,
        Err(error) => Err(error),
    };
    match taken {
        Ok(()) => {
            savepoint.commit().await?;
            Ok(Ok(()))
        }
        Err(PaymentError::Database(error)) => Err(error),
        Err(PaymentError::Refused(refusal)) => {
            savepoint.rollback().await?;
            Ok(Err(refusal))
        }
    }
}

/// Writes what core decided: the payment and the order from their loaded
/// statuses, the payment's event, and for a charge that cannot be
/// fulfilled its SYSTEM refund.
async fn write_settlement(
    conn: &mut MySqlConnection,
    outbox: &OutboxWriter,
    payment_id: u64,
    order: &Order,
    settlement: CardSettlement,
) -> Result<Settlement, PaymentError> {
    set_payment(conn, payment_id, &settlement).await?;
    if let Some((from, to)) = settlement.order {
        super::set_order_status(conn, order.id, from, to).await?;
    }
    let payment = NewPayment::of_order(order, PaymentMethod::Card);
    let refund_required = settlement.refund_required();
    let reason = match settlement.outcome {
        SettlementOutcome::Completed => {
            let event = payment.succeeded(payment_id);
            outbox.append(conn, &EventEnvelope::wrap(&event)).await?;
            return Ok(Settlement::Completed);
        }
        SettlementOutcome::Failed(reason) | SettlementOutcome::RefundRequired(reason) => reason,
    };
    let event = payment.failed(payment_id, &reason, refund_required);
    outbox.append(conn, &EventEnvelope::wrap(&event)).await?;
    if refund_required {
        let refund = refund_unfulfilled(conn, outbox, payment_id, &reason).await?;
        Ok(Settlement::RefundRequired(reason, refund))
    } else {
        Ok(Settlement::Failed(reason))
    }
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
        request_key: None,
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

/// The payment's move core decided, from the status it was locked in.
async fn set_payment(
    conn: &mut MySqlConnection,
    payment_id: u64,
    settlement: &CardSettlement,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE payments SET status = ?, failure_reason = ?, refund_required = ?, updated_at = UTC_TIMESTAMP(3) \
         WHERE id = ? AND status = ?",
    )
    .bind(settlement.payment_to.as_str())
    .bind(settlement.failure_reason())
    .bind(settlement.refund_required())
    .bind(payment_id)
    .bind(settlement.payment_from.as_str())
    .execute(conn)
    .await?;
    Ok(())
}
