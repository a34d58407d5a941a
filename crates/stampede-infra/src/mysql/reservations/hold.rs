//! Holding a seat: a PENDING reservation and the seat HELD, decided in core
//! on the locked seat (`SeatState::hold`).

use super::{find_on, lock_seat, move_seat, set_reservation_status, Reservation};
use crate::outbox::OutboxWriter;
use chrono::{DateTime, Utc};
use sqlx::{MySqlConnection, MySqlPool};
use stampede_core::concert::{HoldRefusal, ReservationCreated, ReservationStatus};
use stampede_core::events::EventEnvelope;
use uuid::Uuid;

/// A hold core refused, or the database failing.
#[derive(Debug, thiserror::Error)]
pub enum HoldError {
    #[error(transparent)]
    Refused(#[from] HoldRefusal),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// What a buyer asks to hold.
#[derive(Debug, Clone, Copy)]
pub struct HoldRequest {
    pub user_id: u64,
    pub schedule_id: u64,
    pub seat_id: u64,
    /// Also written to the seat's Redis hold key.
    pub hold_id: Uuid,
    pub hold_expires_at: DateTime<Utc>,
}

/// Holds the seat for the buyer: a PENDING reservation, the seat HELD, and
/// `reservation.created` in the outbox, in one transaction. A hold that has
/// run out on the seat is ended (EXPIRED) first.
pub async fn hold_seat(
    pool: &MySqlPool,
    outbox: &OutboxWriter,
    request: &HoldRequest,
) -> Result<Reservation, HoldError> {
    let mut tx = pool.begin().await?;
    let Some(seat) = lock_seat(&mut tx, request.seat_id).await? else {
        return Err(HoldRefusal::SeatNotFound {
            schedule_id: request.schedule_id,
            seat_id: request.seat_id,
        }
        .into());
    };
    let now = Utc::now();
    let hold = seat.state.hold(request.schedule_id, request.seat_id, now)?;
    if let Some(stale) = hold.stale_holder {
        expire_stale(&mut tx, stale).await?;
    }
    let taken = HoldRefusal::SeatTaken(request.seat_id);
    let inserted = sqlx::query(
        "INSERT INTO reservations (user_id, concert_id, schedule_id, seat_id, price, status, hold_id, \
         hold_expires_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(request.user_id)
    .bind(seat.concert_id)
    .bind(seat.state.schedule_id)
    .bind(request.seat_id)
    .bind(seat.price)
    .bind(ReservationStatus::Pending.as_str())
    .bind(request.hold_id.to_string())
    .bind(request.hold_expires_at.naive_utc())
    .bind(now.naive_utc())
    .bind(now.naive_utc())
    .execute(&mut *tx)
    .await;
    let id = match inserted {
        Ok(done) => done.last_insert_id(),
        // The unique live reservation per seat: someone else has it.
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => return Err(taken.into()),
        Err(other) => return Err(other.into()),
    };
    let change = hold.for_reservation(id, request.hold_expires_at);
    if !move_seat(&mut tx, request.seat_id, change).await? {
        return Err(taken.into());
    }
    let created = ReservationCreated {
        reservation_id: id,
        user_id: request.user_id,
        concert_id: seat.concert_id,
        schedule_id: seat.state.schedule_id,
        seat_id: request.seat_id,
        price: seat.price,
        hold_id: request.hold_id,
        hold_expires_at: request.hold_expires_at,
    };
    outbox
        .append(&mut tx, &EventEnvelope::wrap(&created))
        .await?;
    let reservation = find_on(&mut tx, id, "")
        .await?
        .ok_or(sqlx::Error::RowNotFound)?;
    outbox.commit(tx).await?;
    Ok(reservation)
}

/// Ends reservation `id`, whose hold on the (locked) seat ran out: EXPIRED
/// from its loaded status if it is still PENDING; one that already ended
/// stays as it is.
async fn expire_stale(conn: &mut MySqlConnection, id: u64) -> Result<(), sqlx::Error> {
    let Some(stale) = find_on(conn, id, "FOR UPDATE").await? else {
        return Ok(());
    };
    if let Ok(expired) = stale.status.expire() {
        set_reservation_status(conn, id, stale.status, expired).await?;
    }
    Ok(())
}
