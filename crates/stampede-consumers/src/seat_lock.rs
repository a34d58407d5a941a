//! Seed 003's ReservationCreatedSeatLockConsumer: makes sure the Redis hold
//! of a new reservation exists until the reservation's hold ends — extended
//! when it is there, written again when Redis lost it (a restart between
//! the hold and this event). The database decides: a reservation that is
//! no longer PENDING, or whose hold is over, gets no hold.

use async_trait::async_trait;
use stampede_core::concert::{ReservationCreated, ReservationStatus};
use stampede_core::events::topics;
use stampede_infra::kafka::consumer::{ConsumedEvent, ConsumerSpec, EventHandler, HandlerError};
use stampede_infra::mysql::reservations;
use stampede_infra::redis::{HoldConfirmation, SeatHolds};
use stampede_infra::Infra;

pub const NAME: &str = "seat-lock";

pub fn spec(infra: &Infra) -> ConsumerSpec {
    let handler = SeatLock {
        pool: infra.pool.clone(),
        holds: infra.seat_holds.clone(),
    };
    ConsumerSpec::per_record(
        NAME,
        "reservation-created-group",
        &[topics::RESERVATION_CREATED],
        handler,
    )
}

struct SeatLock {
    pool: sqlx::MySqlPool,
    holds: SeatHolds,
}

#[async_trait]
impl EventHandler for SeatLock {
    async fn handle(&self, event: &ConsumedEvent) -> Result<(), HandlerError> {
        let created: ReservationCreated = event.payload()?;
        let Some(reservation) =
            reservations::find_reservation(&self.pool, created.reservation_id).await?
        else {
            return Ok(());
        };
        if reservation.status_now() != ReservationStatus::Pending {
            return Ok(());
        }
        let confirmation = self
            .holds
            .confirm(
                reservation.schedule_id,
                reservation.seat_id,
                reservation.hold_id,
                reservation.hold_expires_at,
            )
            .await?;
        let outcome = match confirmation {
            HoldConfirmation::Extended => "extended",
            HoldConfirmation::Restored => "restored",
            HoldConfirmation::Over => "over",
            HoldConfirmation::HeldByOther => {
                // The database's unique live reservation per seat keeps the
                // seat this reservation's; the other hold cannot book it.
                tracing::warn!(reservation = reservation.id, seat = reservation.seat_id, "Redis names another holder");
                "held_by_other"
            }
        };
        metrics::counter!("stampede_seat_hold_confirmations_total", "outcome" => outcome)
            .increment(1);
        Ok(())
    }
}
