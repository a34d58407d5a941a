//! Reservations in MariaDB: the rows and the seat locks every change of a
//! seat or reservation shares; holding a seat (`hold`), paying for it with
//! points (`pay`), and ending or refunding a reservation (`ending`) each
//! have their own file.
//!
//! Every statement that changes a seat or a reservation locks the seat row
//! first and the reservation second, so holds, payments and compensations
//! of one seat queue up instead of deadlocking. A seat changes state only
//! from the state it was read in (`WHERE status = ?`), and the table's
//! unique live reservation per seat refuses a double booking even if Redis
//! lost a hold.

mod ending;
mod hold;
mod pay;

pub(crate) use ending::refund_reservation;
pub use ending::{end_and_free_seat, Ended};
pub use hold::{hold_seat, HoldError, HoldRequest};
pub use pay::{pay_reservation, PaidReservation, ReservationPaymentError};

use super::coupons::utc;
use super::payments::NewPayment;
use super::stored_status;
use chrono::{DateTime, NaiveDateTime, Utc};
use sqlx::{MySqlConnection, MySqlPool};
use stampede_core::concert::{
    ReservationState, ReservationStatus, SeatChange, SeatState, SeatStatus,
};
use stampede_core::payment::{PaymentMethod, Purchase};
use uuid::Uuid;

/// A reservation as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Reservation {
    pub id: u64,
    pub user_id: u64,
    pub concert_id: u64,
    pub schedule_id: u64,
    pub seat_id: u64,
    pub price: u64,
    pub status: ReservationStatus,
    pub hold_id: Uuid,
    pub hold_expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub confirmed_at: Option<DateTime<Utc>>,
}

impl Reservation {
    /// What it is now: PENDING past its hold reads EXPIRED.
    pub fn status_now(&self) -> ReservationStatus {
        self.status.as_of(self.hold_expires_at, Utc::now())
    }

    /// The reservation as core decides on it.
    fn state(&self) -> ReservationState {
        ReservationState {
            id: self.id,
            seat_id: self.seat_id,
            status: self.status,
            price: self.price,
            hold_expires_at: self.hold_expires_at,
        }
    }

    /// A points payment of this reservation.
    fn payment(&self) -> NewPayment {
        NewPayment {
            purchase: self.purchase(),
            user_id: self.user_id,
            method: PaymentMethod::Points,
            amount: self.price,
        }
    }

    /// What a payment of this reservation pays for.
    pub fn purchase(&self) -> Purchase {
        Purchase::Reservation {
            reservation_id: self.id,
            concert_id: self.concert_id,
            schedule_id: self.schedule_id,
            seat_id: self.seat_id,
        }
    }
}

/// A reservation row as stored; [`Reservation`] once its status and hold id
/// are known to be valid.
#[derive(sqlx::FromRow)]
struct StoredReservation {
    id: u64,
    user_id: u64,
    concert_id: u64,
    schedule_id: u64,
    seat_id: u64,
    price: u64,
    status: String,
    hold_id: String,
    hold_expires_at: NaiveDateTime,
    created_at: NaiveDateTime,
    confirmed_at: Option<NaiveDateTime>,
}

const RESERVATION_COLUMNS: &str =
    "id, user_id, concert_id, schedule_id, seat_id, price, status, hold_id, \
     hold_expires_at, created_at, confirmed_at FROM reservations";

impl TryFrom<StoredReservation> for Reservation {
    type Error = sqlx::Error;

    /// An unknown status or a hold id that is not a UUID is a corrupt row:
    /// an error, not a default the seat-hold checks would compare against.
    fn try_from(row: StoredReservation) -> Result<Self, sqlx::Error> {
        let hold_id = Uuid::parse_str(&row.hold_id).map_err(|_| {
            sqlx::Error::Decode(format!("reservations.hold_id of {} is not a UUID", row.id).into())
        })?;
        Ok(Self {
            id: row.id,
            user_id: row.user_id,
            concert_id: row.concert_id,
            schedule_id: row.schedule_id,
            seat_id: row.seat_id,
            price: row.price,
            status: stored_status(ReservationStatus::parse(&row.status), "reservations.status")?,
            hold_id,
            hold_expires_at: utc(row.hold_expires_at),
            created_at: utc(row.created_at),
            confirmed_at: row.confirmed_at.map(utc),
        })
    }
}

pub async fn find_reservation(
    pool: &MySqlPool,
    id: u64,
) -> Result<Option<Reservation>, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    find_on(&mut conn, id, "").await
}

/// Whether a reservation row carries `hold_id` (its hold was written through).
pub async fn hold_was_written(pool: &MySqlPool, hold_id: Uuid) -> Result<bool, sqlx::Error> {
    let found: Option<u64> = sqlx::query_scalar("SELECT id FROM reservations WHERE hold_id = ?")
        .bind(hold_id.to_string())
        .fetch_optional(pool)
        .await?;
    Ok(found.is_some())
}

/// PENDING reservations whose hold has not run out: the seat holds Redis
/// should have (after it lost them).
pub async fn live_holds(pool: &MySqlPool) -> Result<Vec<Reservation>, sqlx::Error> {
    let rows: Vec<StoredReservation> = sqlx::query_as(&format!(
        "SELECT {RESERVATION_COLUMNS} WHERE status = ? AND hold_expires_at > UTC_TIMESTAMP(3)"
    ))
    .bind(ReservationStatus::Pending.as_str())
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(Reservation::try_from).collect()
}

async fn find_on(
    conn: &mut MySqlConnection,
    id: u64,
    lock: &str,
) -> Result<Option<Reservation>, sqlx::Error> {
    let row: Option<StoredReservation> =
        sqlx::query_as(&format!("SELECT {RESERVATION_COLUMNS} WHERE id = ? {lock}"))
            .bind(id)
            .fetch_optional(conn)
            .await?;
    row.map(Reservation::try_from).transpose()
}

/// A seat as its lock found it: its state, and what a reservation of it
/// records (concert, price).
struct LockedSeat {
    state: SeatState,
    concert_id: u64,
    price: u64,
}

type SeatLockRow = (u64, u64, u64, String, Option<u64>, Option<NaiveDateTime>);

/// Locks seat `seat_id`: the first lock of every change to a seat or its
/// reservations.
async fn lock_seat(
    conn: &mut MySqlConnection,
    seat_id: u64,
) -> Result<Option<LockedSeat>, sqlx::Error> {
    let row: Option<SeatLockRow> = sqlx::query_as(
        "SELECT s.schedule_id, sc.concert_id, s.price, s.status, s.reservation_id, s.hold_until \
         FROM seats s JOIN concert_schedules sc ON sc.id = s.schedule_id WHERE s.id = ? FOR UPDATE",
    )
    .bind(seat_id)
    .fetch_optional(conn)
    .await?;
    row.map(|(schedule_id, concert_id, price, status, holder, until)| {
        let state = SeatState {
            schedule_id,
            status: stored_status(SeatStatus::parse(&status), "seats.status")?,
            holder,
            hold_until: until.map(utc),
        };
        Ok(LockedSeat {
            state,
            concert_id,
            price,
        })
    })
    .transpose()
}

/// Locks seat `seat_id`, then reservation `id` (the lock order every
/// change keeps): the reservation as locked, with its seat.
async fn lock_with_seat(
    conn: &mut MySqlConnection,
    seat_id: u64,
    id: u64,
) -> Result<Option<(Reservation, Option<LockedSeat>)>, sqlx::Error> {
    let seat = lock_seat(conn, seat_id).await?;
    Ok(find_on(conn, id, "FOR UPDATE")
        .await?
        .map(|reservation| (reservation, seat)))
}

/// Applies the `change` core allowed to seat `seat_id`; false when the seat
/// was no longer in `from` with `holder_before`.
async fn move_seat(
    conn: &mut MySqlConnection,
    seat_id: u64,
    change: SeatChange,
) -> Result<bool, sqlx::Error> {
    let moved = sqlx::query(
        "UPDATE seats SET status = ?, reservation_id = ?, hold_until = ? \
         WHERE id = ? AND status = ? AND reservation_id <=> ?",
    )
    .bind(change.to.as_str())
    .bind(change.holder_after)
    .bind(change.hold_until.map(|t| t.naive_utc()))
    .bind(seat_id)
    .bind(change.from.as_str())
    .bind(change.holder_before)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(moved == 1)
}

/// Writes the transition `from` → `to` core allowed on reservation `id`'s
/// loaded status; false when the row was no longer `from`.
async fn set_reservation_status(
    conn: &mut MySqlConnection,
    id: u64,
    from: ReservationStatus,
    to: ReservationStatus,
) -> Result<bool, sqlx::Error> {
    let moved = sqlx::query(
        "UPDATE reservations SET status = ?, updated_at = UTC_TIMESTAMP(3), \
         confirmed_at = IF(?, UTC_TIMESTAMP(3), confirmed_at) \
         WHERE id = ? AND status = ?",
    )
    .bind(to.as_str())
    .bind(to == ReservationStatus::Confirmed)
    .bind(id)
    .bind(from.as_str())
    .execute(conn)
    .await?
    .rows_affected();
    Ok(moved == 1)
}

/// The purchase reservation `id` is, as payment events carry it.
pub(crate) async fn purchase_on(
    conn: &mut MySqlConnection,
    id: u64,
) -> Result<Option<Purchase>, sqlx::Error> {
    Ok(find_on(conn, id, "").await?.map(|r| r.purchase()))
}
