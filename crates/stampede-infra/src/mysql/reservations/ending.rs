//! Ending a reservation: after a failed payment (CANCELLED or EXPIRED, its
//! seat released) or with a full refund (REFUNDED, its seat on sale again),
//! each from the statuses core read on the locked rows.

use super::{find_on, lock_with_seat, move_seat, set_reservation_status};
use sqlx::MySqlConnection;
use stampede_core::concert::{ReservationEnding, ReservationStatus};

/// CONFIRMED → REFUNDED for reservation `id` on `conn` (a full refund's
/// transaction), and its SOLD seat AVAILABLE again; false when it was not
/// CONFIRMED (refunded before).
pub(crate) async fn refund_reservation(
    conn: &mut MySqlConnection,
    id: u64,
) -> Result<bool, sqlx::Error> {
    let Some(found) = find_on(conn, id, "").await? else {
        return Ok(false);
    };
    let Some((locked, seat)) = lock_with_seat(conn, found.seat_id, id).await? else {
        return Ok(false);
    };
    let Ok(refunded) = locked.status.refund() else {
        return Ok(false);
    };
    if !set_reservation_status(conn, id, locked.status, refunded).await? {
        return Ok(false);
    }
    match seat.and_then(|s| s.state.refund_from(id)) {
        Some(change) => move_seat(conn, locked.seat_id, change).await,
        None => Ok(false),
    }
}

/// What ending a reservation after a failed payment did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// PENDING → `to`, and whether the seat it held is AVAILABLE again.
    Released {
        to: ReservationStatus,
        seat_freed: bool,
    },
    /// It had already left PENDING (paid by a later attempt, or ended
    /// before): terminal states never move, nothing changed.
    AlreadyFinal(ReservationStatus),
    NotFound,
}

/// Ends reservation `id` as `ending` asks on `conn` (the caller's
/// transaction) and frees its seat if it still holds it.
pub async fn end_and_free_seat(
    conn: &mut MySqlConnection,
    id: u64,
    ending: ReservationEnding,
) -> Result<Ended, sqlx::Error> {
    let Some(found) = find_on(conn, id, "").await? else {
        return Ok(Ended::NotFound);
    };
    let Some((locked, seat)) = lock_with_seat(conn, found.seat_id, id).await? else {
        return Ok(Ended::NotFound);
    };
    let Ok(to) = ending.apply(locked.status) else {
        return Ok(Ended::AlreadyFinal(locked.status));
    };
    set_reservation_status(conn, id, locked.status, to).await?;
    let seat_freed = match seat.and_then(|s| s.state.release_from(id)) {
        Some(change) => move_seat(conn, locked.seat_id, change).await?,
        None => false,
    };
    Ok(Ended::Released { to, seat_freed })
}
