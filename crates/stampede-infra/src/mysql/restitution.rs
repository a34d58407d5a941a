//! What a full refund gives back, on the refund's transaction: for an order
//! its stock and its unexpired coupons (core's [`Restitution`]) and the
//! order REFUNDED; for a reservation its seat, AVAILABLE again, and the
//! reservation REFUNDED. Each step is a conditional update from the state
//! it leaves, so a second full refund of the same purchase changes nothing.

use super::coupons::{restore_coupons, used_by_order};
use super::orders::find_order_on;
use super::payments::{purchase_of, return_stock, set_order_status};
use super::reservations::{purchase_on, refund_reservation};
use super::stored_status;
use chrono::Utc;
use sqlx::MySqlConnection;
use stampede_core::order::OrderStatus;
use stampede_core::payment::{Purchase, Restitution};

/// What payment `payment_id` paid for, read on `conn`.
pub(crate) async fn purchase_of_payment(
    conn: &mut MySqlConnection,
    payment_id: u64,
) -> Result<Purchase, sqlx::Error> {
    let (order_id, reservation_id): (Option<u64>, Option<u64>) =
        sqlx::query_as("SELECT order_id, reservation_id FROM payments WHERE id = ?")
            .bind(payment_id)
            .fetch_one(&mut *conn)
            .await?;
    let purchase = match (order_id, reservation_id) {
        (Some(order_id), _) => find_order_on(conn, order_id)
            .await?
            .map(|o| purchase_of(&o)),
        (None, Some(reservation_id)) => purchase_on(conn, reservation_id).await?,
        (None, None) => None,
    };
    purchase.ok_or_else(|| {
        sqlx::Error::Decode(format!("payment {payment_id} pays for nothing stored").into())
    })
}

/// Gives back what `purchase` took, once: only when its order (or
/// reservation) moves to REFUNDED here does anything go back.
pub(crate) async fn restore_purchase(
    conn: &mut MySqlConnection,
    payer_id: u64,
    purchase: &Purchase,
) -> Result<(), sqlx::Error> {
    match purchase {
        Purchase::Reservation { reservation_id, .. } => {
            refund_reservation(conn, *reservation_id).await?;
            Ok(())
        }
        Purchase::Order { order_id, .. } => {
            restore_order(conn, payer_id, *order_id, purchase).await
        }
    }
}

/// PAID | COMPLETED → REFUNDED, then its coupons and stock back.
async fn restore_order(
    conn: &mut MySqlConnection,
    payer_id: u64,
    order_id: u64,
    purchase: &Purchase,
) -> Result<(), sqlx::Error> {
    let stored: String = sqlx::query_scalar("SELECT status FROM orders WHERE id = ? FOR UPDATE")
        .bind(order_id)
        .fetch_one(&mut *conn)
        .await?;
    let status = stored_status(OrderStatus::parse(&stored), "orders.status")?;
    let Ok(refunded) = status.refund() else {
        return Ok(());
    };
    if !set_order_status(conn, order_id, status, refunded).await? {
        return Ok(());
    }
    let coupons = used_by_order(conn, order_id).await?;
    let back = Restitution::of(purchase, &coupons, Utc::now());
    restore_coupons(conn, payer_id, &back.coupons).await?;
    return_stock(conn, &back.stock).await
}
