//! Concerts, their schedules and seats, and the sold-out ranking in MariaDB.
//! Reservations (holding, paying, cancelling a seat) are in
//! [`super::reservations`].

use super::coupons::utc;
use super::stored_status;
use chrono::{DateTime, NaiveDateTime, Utc};
use sqlx::{MySqlConnection, MySqlPool};
use stampede_core::concert::{NewConcert, ReservationStatus, SeatStatus};

/// A created concert: its id and its schedules' ids, in the order given.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CreatedConcert {
    pub id: u64,
    pub schedule_ids: Vec<u64>,
}

/// Writes a concert, its schedules and their seats in one transaction.
/// Seats are numbered from 1 per schedule, block after block.
pub async fn create_concert(
    pool: &MySqlPool,
    concert: &NewConcert,
) -> Result<CreatedConcert, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let id = sqlx::query("INSERT INTO concerts (title) VALUES (?)")
        .bind(concert.title.trim())
        .execute(&mut *tx)
        .await?
        .last_insert_id();
    let mut schedule_ids = Vec::with_capacity(concert.schedules.len());
    for schedule in &concert.schedules {
        let opens = schedule.booking_opens_at.unwrap_or_else(Utc::now);
        let schedule_id = sqlx::query(
            "INSERT INTO concert_schedules (concert_id, starts_at, venue, booking_opens_at, total_seats) \
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(id)
        .bind(schedule.starts_at.naive_utc())
        .bind(schedule.venue.trim())
        .bind(opens.naive_utc())
        .bind(schedule.total_seats())
        .execute(&mut *tx)
        .await?
        .last_insert_id();
        let mut number = 0u32;
        for block in &schedule.seats {
            // One multi-row INSERT per 1,000 seats.
            let numbers: Vec<u32> = (number + 1..=number + block.count).collect();
            number += block.count;
            for chunk in numbers.chunks(1000) {
                let mut insert = sqlx::QueryBuilder::new(
                    "INSERT INTO seats (schedule_id, seat_number, grade, price, status) ",
                );
                insert.push_values(chunk, |mut row, seat_number| {
                    row.push_bind(schedule_id)
                        .push_bind(*seat_number)
                        .push_bind(block.grade.as_str())
                        .push_bind(block.price)
                        .push_bind(SeatStatus::Available.as_str());
                });
                insert.build().execute(&mut *tx).await?;
            }
        }
        schedule_ids.push(schedule_id);
    }
    tx.commit().await?;
    Ok(CreatedConcert { id, schedule_ids })
}

/// When the concert's waiting queue opens: its first schedule's booking
/// opening (tokens taken before it wait in the pre-queue). `None`: no such
/// concert.
pub async fn queue_opens_at(
    pool: &MySqlPool,
    id: u64,
) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    let opens: Option<NaiveDateTime> = sqlx::query_scalar(
        "SELECT MIN(sc.booking_opens_at) FROM concerts c \
         JOIN concert_schedules sc ON sc.concert_id = c.id WHERE c.id = ?",
    )
    .bind(id)
    .fetch_one(pool)
    .await?;
    Ok(opens.map(utc))
}

/// A schedule: one date of a concert at one venue.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Schedule {
    pub id: u64,
    pub concert_id: u64,
    pub title: String,
    pub starts_at: DateTime<Utc>,
    pub venue: String,
    pub booking_opens_at: DateTime<Utc>,
    pub total_seats: u32,
}

type ScheduleRow = (u64, u64, String, NaiveDateTime, String, NaiveDateTime, u32);

const SCHEDULE_COLUMNS: &str =
    "sc.id, sc.concert_id, c.title, sc.starts_at, sc.venue, sc.booking_opens_at, sc.total_seats \
     FROM concert_schedules sc JOIN concerts c ON c.id = sc.concert_id";

fn schedule(
    (id, concert_id, title, starts_at, venue, opens, total_seats): ScheduleRow,
) -> Schedule {
    Schedule {
        id,
        concert_id,
        title,
        starts_at: utc(starts_at),
        venue,
        booking_opens_at: utc(opens),
        total_seats,
    }
}

pub async fn find_schedule(pool: &MySqlPool, id: u64) -> Result<Option<Schedule>, sqlx::Error> {
    let row: Option<ScheduleRow> =
        sqlx::query_as(&format!("SELECT {SCHEDULE_COLUMNS} WHERE sc.id = ?"))
            .bind(id)
            .fetch_optional(pool)
            .await?;
    Ok(row.map(schedule))
}

pub async fn schedules_of(pool: &MySqlPool, concert_id: u64) -> Result<Vec<Schedule>, sqlx::Error> {
    let rows: Vec<ScheduleRow> = sqlx::query_as(&format!(
        "SELECT {SCHEDULE_COLUMNS} WHERE sc.concert_id = ? ORDER BY sc.starts_at, sc.id"
    ))
    .bind(concert_id)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(schedule).collect())
}

/// A seat as buyers see it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Seat {
    pub id: u64,
    pub schedule_id: u64,
    pub seat_number: u32,
    pub grade: String,
    pub price: u64,
    /// As of now: a HELD seat whose hold has passed reads AVAILABLE.
    pub status: SeatStatus,
}

/// A seat as stored, with the database's clock: the hold is judged against
/// the same clock that wrote it.
type SeatRow = (
    u64,
    u64,
    u32,
    String,
    u64,
    String,
    Option<NaiveDateTime>,
    NaiveDateTime,
);

fn seat(
    (id, schedule_id, seat_number, grade, price, status, hold_until, now): SeatRow,
) -> Result<Seat, sqlx::Error> {
    let stored = stored_status(SeatStatus::parse(&status), "seats.status")?;
    Ok(Seat {
        id,
        schedule_id,
        seat_number,
        grade,
        price,
        status: stored.as_of(hold_until.map(utc), utc(now)),
    })
}

pub async fn seats_of(pool: &MySqlPool, schedule_id: u64) -> Result<Vec<Seat>, sqlx::Error> {
    let rows: Vec<SeatRow> = sqlx::query_as(
        "SELECT id, schedule_id, seat_number, grade, price, status, hold_until, UTC_TIMESTAMP(3) \
         FROM seats WHERE schedule_id = ? ORDER BY seat_number",
    )
    .bind(schedule_id)
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(seat).collect()
}

/// A schedule whose every seat is SOLD, and when its last seat went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoldOut {
    pub schedule_id: u64,
    pub concert_id: u64,
    pub booking_opens_at: DateTime<Utc>,
    pub sold_out_at: DateTime<Utc>,
}

/// `Some` when every seat of `schedule_id` is SOLD.
pub async fn sold_out(
    conn: &mut MySqlConnection,
    schedule_id: u64,
) -> Result<Option<SoldOut>, sqlx::Error> {
    let row: Option<(u64, NaiveDateTime, u32, i64, Option<NaiveDateTime>)> = sqlx::query_as(
        "SELECT sc.concert_id, sc.booking_opens_at, sc.total_seats, \
                (SELECT COUNT(*) FROM seats s WHERE s.schedule_id = sc.id AND s.status = ?), \
                (SELECT MAX(r.confirmed_at) FROM reservations r WHERE r.schedule_id = sc.id AND r.status = ?) \
         FROM concert_schedules sc WHERE sc.id = ?",
    )
    .bind(SeatStatus::Sold.as_str())
    .bind(ReservationStatus::Confirmed.as_str())
    .bind(schedule_id)
    .fetch_optional(conn)
    .await?;
    Ok(match row {
        Some((concert_id, opens, total, sold, Some(last))) if sold >= i64::from(total) => {
            Some(SoldOut {
                schedule_id,
                concert_id,
                booking_opens_at: utc(opens),
                sold_out_at: utc(last),
            })
        }
        _ => None,
    })
}

/// Records a sell-out once per schedule; false when it was recorded before.
pub async fn record_sold_out(
    conn: &mut MySqlConnection,
    sold_out: &SoldOut,
    sell_out_ms: u64,
) -> Result<bool, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT IGNORE INTO sold_out_rankings \
         (schedule_id, concert_id, booking_opens_at, sold_out_at, sell_out_ms) VALUES (?, ?, ?, ?, ?)",
    )
    .bind(sold_out.schedule_id)
    .bind(sold_out.concert_id)
    .bind(sold_out.booking_opens_at.naive_utc())
    .bind(sold_out.sold_out_at.naive_utc())
    .bind(sell_out_ms)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(inserted == 1)
}

/// Forgets a schedule's sell-out (a refunded seat is on sale again); false
/// when it was not recorded.
pub async fn unrecord_sold_out(
    conn: &mut MySqlConnection,
    schedule_id: u64,
) -> Result<bool, sqlx::Error> {
    let deleted = sqlx::query("DELETE FROM sold_out_rankings WHERE schedule_id = ?")
        .bind(schedule_id)
        .execute(conn)
        .await?
        .rows_affected();
    Ok(deleted == 1)
}

/// One line of the sold-out ranking.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RankedSchedule {
    pub schedule_id: u64,
    pub concert_id: u64,
    pub title: String,
    pub starts_at: DateTime<Utc>,
    pub venue: String,
    pub sold_out_at: DateTime<Utc>,
    pub sell_out_ms: u64,
}

type RankedRow = (u64, u64, String, NaiveDateTime, String, NaiveDateTime, u64);

const RANKED_COLUMNS: &str =
    "r.schedule_id, r.concert_id, c.title, sc.starts_at, sc.venue, r.sold_out_at, r.sell_out_ms \
     FROM sold_out_rankings r JOIN concert_schedules sc ON sc.id = r.schedule_id \
     JOIN concerts c ON c.id = r.concert_id";

fn ranked(
    (schedule_id, concert_id, title, starts_at, venue, sold_out_at, ms): RankedRow,
) -> RankedSchedule {
    RankedSchedule {
        schedule_id,
        concert_id,
        title,
        starts_at: utc(starts_at),
        venue,
        sold_out_at: utc(sold_out_at),
        sell_out_ms: ms,
    }
}

/// The fastest `limit` sell-outs, from the table (the truth).
pub async fn fastest_sell_outs(
    pool: &MySqlPool,
    limit: u32,
) -> Result<Vec<RankedSchedule>, sqlx::Error> {
    let rows: Vec<RankedRow> = sqlx::query_as(&format!(
        "SELECT {RANKED_COLUMNS} ORDER BY r.sell_out_ms, r.schedule_id LIMIT ?"
    ))
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(ranked).collect())
}

/// How many schedules have sold out.
pub async fn sell_out_count(pool: &MySqlPool) -> Result<u64, sqlx::Error> {
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sold_out_rankings")
        .fetch_one(pool)
        .await?;
    Ok(count as u64)
}

/// The ranking lines of `schedule_ids` (order not kept: the caller sorts).
pub async fn ranked_schedules(
    pool: &MySqlPool,
    schedule_ids: &[u64],
) -> Result<Vec<RankedSchedule>, sqlx::Error> {
    if schedule_ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut query =
        sqlx::QueryBuilder::new(format!("SELECT {RANKED_COLUMNS} WHERE r.schedule_id IN ("));
    let mut list = query.separated(", ");
    for id in schedule_ids {
        list.push_bind(*id);
    }
    query.push(")");
    let rows: Vec<RankedRow> = query.build_query_as().fetch_all(pool).await?;
    Ok(rows.into_iter().map(ranked).collect())
}
