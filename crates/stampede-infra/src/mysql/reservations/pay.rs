//! Paying a reservation with points: the seat, the reservation and the
//! buyer's balance locked, core deciding (`ReservationState::pay`), then
//! points taken, seat HELD → SOLD, reservation CONFIRMED, payment row and
//! `payment.success`, in one transaction.

use super::{lock_with_seat, move_seat, set_reservation_status, Reservation};
use crate::mysql::catalog::take_points;
use crate::mysql::payments::{insert_payment, record_refusal};
use crate::outbox::OutboxWriter;
use chrono::Utc;
use sqlx::{MySqlConnection, MySqlPool};
use stampede_core::concert::ReservationPaymentRefusal;
use stampede_core::events::EventEnvelope;
use stampede_core::payment::PaymentStatus;

/// A payment core refused, or the database failing.
#[derive(Debug, thiserror::Error)]
pub enum ReservationPaymentError {
    #[error(transparent)]
    Refused(#[from] ReservationPaymentRefusal),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl ReservationPaymentError {
    /// The stable code clients and `payment.failed` consumers see.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Refused(refusal) => refusal.code(),
            Self::Database(_) => "DATABASE",
        }
    }

    /// A business refusal, recorded as a FAILED payment with `payment.failed`.
    fn is_refusal(&self) -> bool {
        matches!(self, Self::Refused(refusal) if refusal.fails_the_attempt())
    }
}

/// A paid reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct PaidReservation {
    pub payment_id: u64,
    pub reservation_id: u64,
    pub amount: u64,
}

/// Pays `reservation` (read by its owner) with points in one transaction:
/// points taken, seat HELD → SOLD, reservation CONFIRMED, payment row,
/// `payment.success`. A refusal rolls all of it back and is recorded as a
/// FAILED payment with `payment.failed` (whose consumers release the seat).
pub async fn pay_reservation(
    pool: &MySqlPool,
    outbox: &OutboxWriter,
    reservation: &Reservation,
) -> Result<PaidReservation, ReservationPaymentError> {
    let result = try_pay(pool, outbox, reservation).await;
    if let Err(refusal) = &result {
        if refusal.is_refusal() {
            record_refusal(pool, outbox, reservation.payment(), refusal.code()).await?;
        }
    }
    result
}

async fn try_pay(
    pool: &MySqlPool,
    outbox: &OutboxWriter,
    reservation: &Reservation,
) -> Result<PaidReservation, ReservationPaymentError> {
    let mut tx = pool.begin().await?;
    let not_found = ReservationPaymentRefusal::NotFound(reservation.id);
    let (locked, seat) = lock_with_seat(&mut tx, reservation.seat_id, reservation.id)
        .await?
        .ok_or(not_found)?;
    let seat = seat.ok_or(ReservationPaymentRefusal::SeatLost(locked.seat_id))?;
    let balance = lock_balance(&mut tx, locked.user_id).await?;
    let payment = locked.state().pay(&seat.state, balance, Utc::now())?;
    // The balance row is locked: the guarded take below cannot miss.
    if !take_points(&mut tx, locked.user_id, locked.price).await? {
        return Err(ReservationPaymentRefusal::InsufficientPoints.into());
    }
    if !move_seat(&mut tx, locked.seat_id, payment.seat).await? {
        return Err(ReservationPaymentRefusal::SeatLost(locked.seat_id).into());
    }
    set_reservation_status(&mut tx, locked.id, payment.from, payment.to).await?;
    let new_payment = locked.payment();
    let payment_id = insert_payment(&mut tx, &new_payment, PaymentStatus::Success, None).await?;
    let paid = new_payment.succeeded(payment_id);
    outbox.append(&mut tx, &EventEnvelope::wrap(&paid)).await?;
    outbox.commit(tx).await?;
    Ok(PaidReservation {
        payment_id,
        reservation_id: locked.id,
        amount: locked.price,
    })
}

/// Locks `user_id`'s points balance (0 for a user who never had points),
/// after the seat and the reservation.
async fn lock_balance(conn: &mut MySqlConnection, user_id: u64) -> Result<u64, sqlx::Error> {
    let balance: Option<u64> =
        sqlx::query_scalar("SELECT balance FROM user_points WHERE user_id = ? FOR UPDATE")
            .bind(user_id)
            .fetch_optional(conn)
            .await?;
    Ok(balance.unwrap_or(0))
}
