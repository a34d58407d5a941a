//! The seat lock: confirms the Redis hold of
//! a new reservation until the reservation's hold ends, when it is still
//! PENDING in the database and the hold is still its own.
//!
//! A hold that is gone is not written again. This consumer runs beside the
//! post-payment cleanup, in its own group, and may see `reservation.created`
//! after the cleanup released the hold of a failed payment: writing it back
//! would leave a phantom hold on a seat the database has freed. The
//! database's unique live reservation per seat guards the seat whether or
//! not Redis holds it.

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
            HoldConfirmation::Gone => "gone",
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
