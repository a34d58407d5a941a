//! Reservations in MariaDB: holding a seat, paying for it with points, and
//! ending a reservation whose payment failed.
//!
//! Every statement that changes a seat or a reservation locks the seat row
//! first and the reservation second, so holds, payments and compensations
//! of one seat queue up instead of deadlocking. A seat changes state only
//! from the state it was read in (`WHERE status = ?`), and the table's
//! unique live reservation per seat refuses a double booking even if Redis
//! lost a hold.

use super::catalog::take_points;
use super::coupons::utc;
use super::payments::{insert_payment, record_refusal, NewPayment};
use super::stored_status;
use crate::outbox::OutboxWriter;
use chrono::{DateTime, NaiveDateTime, Utc};
use sqlx::{MySqlConnection, MySqlPool};
use stampede_core::concert::{ReservationCreated, ReservationStatus, SeatStatus};
use stampede_core::events::EventEnvelope;
use stampede_core::payment::{PaymentMethod, PaymentStatus, Purchase};
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

type ReservationRow = (
    u64,
    u64,
    u64,
    u64,
    u64,
    u64,
    String,
    String,
    NaiveDateTime,
    NaiveDateTime,
    Option<NaiveDateTime>,
);

const RESERVATION_COLUMNS: &str =
    "id, user_id, concert_id, schedule_id, seat_id, price, status, hold_id, \
     hold_expires_at, created_at, confirmed_at FROM reservations";

fn reservation(row: ReservationRow) -> Result<Reservation, sqlx::Error> {
    let (
        id,
        user_id,
        concert_id,
        schedule_id,
        seat_id,
        price,
        status,
        hold_id,
        expires,
        created,
        confirmed,
    ) = row;
    Ok(Reservation {
        id,
        user_id,
        concert_id,
        schedule_id,
        seat_id,
        price,
        status: stored_status(
            ReservationStatus::parse(&status),
            "reservations.status",
            &status,
        )?,
        hold_id: Uuid::parse_str(&hold_id).unwrap_or_default(),
        hold_expires_at: utc(expires),
        created_at: utc(created),
        confirmed_at: confirmed.map(utc),
    })
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
    let rows: Vec<ReservationRow> = sqlx::query_as(&format!(
        "SELECT {RESERVATION_COLUMNS} WHERE status = ? AND hold_expires_at > UTC_TIMESTAMP(3)"
    ))
    .bind(ReservationStatus::Pending.as_str())
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(reservation).collect()
}

async fn find_on(
    conn: &mut MySqlConnection,
    id: u64,
    lock: &str,
) -> Result<Option<Reservation>, sqlx::Error> {
    let row: Option<ReservationRow> =
        sqlx::query_as(&format!("SELECT {RESERVATION_COLUMNS} WHERE id = ? {lock}"))
            .bind(id)
            .fetch_optional(conn)
            .await?;
    row.map(reservation).transpose()
}

/// A seat as its lock found it.
struct LockedSeat {
    schedule_id: u64,
    concert_id: u64,
    price: u64,
    status: SeatStatus,
    /// The reservation holding or owning it.
    holder: Option<u64>,
    hold_until: Option<DateTime<Utc>>,
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
        Ok(LockedSeat {
            schedule_id,
            concert_id,
            price,
            status: stored_status(SeatStatus::parse(&status), "seats.status", &status)?,
            holder,
            hold_until: until.map(utc),
        })
    })
    .transpose()
}

/// A seat's change: from a state and holder to another.
struct SeatMove {
    from: SeatStatus,
    holder_before: Option<u64>,
    to: SeatStatus,
    holder_after: Option<u64>,
    hold_until: Option<DateTime<Utc>>,
}

/// Applies `change` to seat `seat_id`; false when the seat was not in
/// `from` with `holder_before`.
async fn move_seat(
    conn: &mut MySqlConnection,
    seat_id: u64,
    change: SeatMove,
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

/// Moves reservation `id` out of PENDING to `to`; false when it was not PENDING.
async fn end_pending(
    conn: &mut MySqlConnection,
    id: u64,
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
    .bind(ReservationStatus::Pending.as_str())
    .execute(conn)
    .await?
    .rows_affected();
    Ok(moved == 1)
}

#[derive(Debug, thiserror::Error)]
pub enum HoldError {
    #[error("schedule {schedule_id} has no seat {seat_id}")]
    SeatNotFound { schedule_id: u64, seat_id: u64 },
    #[error("seat {0} is held or sold")]
    SeatTaken(u64),
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
    let not_found = HoldError::SeatNotFound {
        schedule_id: request.schedule_id,
        seat_id: request.seat_id,
    };
    let mut tx = pool.begin().await?;
    let Some(seat) = lock_seat(&mut tx, request.seat_id).await? else {
        return Err(not_found);
    };
    if seat.schedule_id != request.schedule_id {
        return Err(not_found);
    }
    let now = Utc::now();
    // A hold that ran out is released before the seat is held again.
    let from = match (seat.status, seat.status.as_of(seat.hold_until, now)) {
        (SeatStatus::Available, _) => SeatStatus::Available,
        (SeatStatus::Held, SeatStatus::Available) => {
            if let Some(stale) = seat.holder {
                let expired = ReservationStatus::Pending
                    .expire()
                    .expect("PENDING expires");
                end_pending(&mut tx, stale, expired).await?;
            }
            SeatStatus::Held
        }
        _ => return Err(HoldError::SeatTaken(request.seat_id)),
    };
    let inserted = sqlx::query(
        "INSERT INTO reservations (user_id, concert_id, schedule_id, seat_id, price, status, hold_id, \
         hold_expires_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(request.user_id)
    .bind(seat.concert_id)
    .bind(seat.schedule_id)
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
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            return Err(HoldError::SeatTaken(request.seat_id))
        }
        Err(other) => return Err(other.into()),
    };
    let held = match from {
        SeatStatus::Held => SeatStatus::Held.release().and_then(SeatStatus::hold),
        other => other.hold(),
    }
    .expect("an available (or released) seat can be held");
    let change = SeatMove {
        from,
        holder_before: seat.holder.filter(|_| from == SeatStatus::Held),
        to: held,
        holder_after: Some(id),
        hold_until: Some(request.hold_expires_at),
    };
    let moved = move_seat(&mut tx, request.seat_id, change).await?;
    if !moved {
        return Err(HoldError::SeatTaken(request.seat_id));
    }
    let created = ReservationCreated {
        reservation_id: id,
        user_id: request.user_id,
        concert_id: seat.concert_id,
        schedule_id: seat.schedule_id,
        seat_id: request.seat_id,
        price: seat.price,
        hold_id: request.hold_id,
        hold_expires_at: request.hold_expires_at,
    };
    outbox
        .append(&mut tx, &EventEnvelope::wrap(&created))
        .await?;
    let reservation = find_on(&mut tx, id, "").await?.expect("inserted above");
    outbox.commit(tx).await?;
    Ok(reservation)
}

#[derive(Debug, thiserror::Error)]
pub enum ReservationPaymentError {
    #[error("no reservation {0}")]
    NotFound(u64),
    #[error("reservation {id} is {status:?}; only PENDING reservations can be paid")]
    NotPayable { id: u64, status: ReservationStatus },
    #[error("the hold of reservation {0} has run out")]
    HoldExpired(u64),
    #[error("the points balance is lower than the price")]
    InsufficientPoints,
    #[error("seat {0} is no longer held for this reservation")]
    SeatLost(u64),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl ReservationPaymentError {
    /// The stable code clients and `payment.failed` consumers see.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "RESERVATION_NOT_FOUND",
            Self::NotPayable { .. } => "RESERVATION_NOT_PAYABLE",
            Self::HoldExpired(_) => "HOLD_EXPIRED",
            Self::InsufficientPoints => "INSUFFICIENT_POINTS",
            Self::SeatLost(_) => "SEAT_TAKEN",
            Self::Database(_) => "DATABASE",
        }
    }

    /// A business refusal, recorded as a FAILED payment with `payment.failed`.
    fn is_refusal(&self) -> bool {
        matches!(
            self,
            Self::HoldExpired(_) | Self::InsufficientPoints | Self::SeatLost(_)
        )
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
    lock_seat(&mut tx, reservation.seat_id).await?;
    let locked = find_on(&mut tx, reservation.id, "FOR UPDATE")
        .await?
        .ok_or(ReservationPaymentError::NotFound(reservation.id))?;
    if locked.status != ReservationStatus::Pending {
        return Err(ReservationPaymentError::NotPayable {
            id: locked.id,
            status: locked.status,
        });
    }
    if locked.hold_expires_at <= Utc::now() {
        return Err(ReservationPaymentError::HoldExpired(locked.id));
    }
    if !take_points(&mut tx, locked.user_id, locked.price).await? {
        return Err(ReservationPaymentError::InsufficientPoints);
    }
    let change = SeatMove {
        from: SeatStatus::Held,
        holder_before: Some(locked.id),
        to: SeatStatus::Held.sell().expect("HELD can be sold"),
        holder_after: Some(locked.id),
        hold_until: None,
    };
    if !move_seat(&mut tx, locked.seat_id, change).await? {
        return Err(ReservationPaymentError::SeatLost(locked.seat_id));
    }
    end_pending(
        &mut tx,
        locked.id,
        ReservationStatus::Pending
            .confirm()
            .expect("PENDING confirms"),
    )
    .await?;
    let payment = locked.payment();
    let payment_id = insert_payment(&mut tx, &payment, PaymentStatus::Success, None).await?;
    let paid = payment.succeeded(payment_id);
    outbox.append(&mut tx, &EventEnvelope::wrap(&paid)).await?;
    outbox.commit(tx).await?;
    Ok(PaidReservation {
        payment_id,
        reservation_id: locked.id,
        amount: locked.price,
    })
}

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
    lock_seat(conn, found.seat_id).await?;
    let Some(locked) = find_on(conn, id, "FOR UPDATE").await? else {
        return Ok(false);
    };
    let Ok(refunded) = locked.status.refund() else {
        return Ok(false);
    };
    let moved = sqlx::query(
        "UPDATE reservations SET status = ?, updated_at = UTC_TIMESTAMP(3) WHERE id = ? AND status = ?",
    )
    .bind(refunded.as_str())
    .bind(id)
    .bind(locked.status.as_str())
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if moved != 1 {
        return Ok(false);
    }
    let change = SeatMove {
        from: SeatStatus::Sold,
        holder_before: Some(id),
        to: SeatStatus::Sold.refund().expect("SOLD can be refunded"),
        holder_after: None,
        hold_until: None,
    };
    move_seat(conn, locked.seat_id, change).await
}

/// The purchase reservation `id` is, as payment events carry it.
pub(crate) async fn purchase_on(
    conn: &mut MySqlConnection,
    id: u64,
) -> Result<Option<Purchase>, sqlx::Error> {
    Ok(find_on(conn, id, "").await?.map(|r| r.purchase()))
}

/// What ending a reservation after a failed payment did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// PENDING → `to`, and the seat it held is AVAILABLE again.
    Released {
        to: ReservationStatus,
        seat_freed: bool,
    },
    /// It had already left PENDING (paid by a later attempt, or ended
    /// before): terminal states never move, nothing changed.
    AlreadyFinal(ReservationStatus),
    NotFound,
}

/// Ends reservation `id` as `to` (CANCELLED or EXPIRED) on `conn` (the
/// caller's transaction) and frees its seat if it still holds it.
pub async fn end_and_free_seat(
    conn: &mut MySqlConnection,
    id: u64,
    to: ReservationStatus,
) -> Result<Ended, sqlx::Error> {
    let Some(found) = find_on(conn, id, "").await? else {
        return Ok(Ended::NotFound);
    };
    lock_seat(conn, found.seat_id).await?;
    let Some(locked) = find_on(conn, id, "FOR UPDATE").await? else {
        return Ok(Ended::NotFound);
    };
    if locked.status != ReservationStatus::Pending {
        return Ok(Ended::AlreadyFinal(locked.status));
    }
    end_pending(conn, id, to).await?;
    let change = SeatMove {
        from: SeatStatus::Held,
        holder_before: Some(id),
        to: SeatStatus::Held.release().expect("HELD can be released"),
        holder_after: None,
        hold_until: None,
    };
    let seat_freed = move_seat(conn, locked.seat_id, change).await?;
    Ok(Ended::Released { to, seat_freed })
}
