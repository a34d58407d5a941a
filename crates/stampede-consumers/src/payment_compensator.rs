//! Compensation of a failed seat payment: a reservation whose
//! payment failed is ended — EXPIRED when its hold had run out, CANCELLED
//! otherwise — and its seat is AVAILABLE again, in one transaction with the
//! `processed_events` claim, so a redelivery changes nothing.
//!
//! Points are never taken by a failed reservation payment: the payment is
//! one transaction, and a refusal rolls the balance back with everything
//! else. There is therefore nothing to refund; a reservation that a later
//! attempt paid is CONFIRMED (terminal) and is left alone.

use async_trait::async_trait;
use stampede_core::concert::ReservationEnding;
use stampede_core::events::topics;
use stampede_core::payment::{PaymentFailed, Purchase};
use stampede_infra::kafka::consumer::{ConsumedEvent, ConsumerSpec, EventHandler, HandlerError};
use stampede_infra::mysql::reservations::{end_and_free_seat, Ended};
use stampede_infra::mysql::ProcessedEvents;
use stampede_infra::Infra;

pub const NAME: &str = "payment-compensator";

pub fn spec(infra: &Infra) -> ConsumerSpec {
    let handler = PaymentCompensator {
        pool: infra.pool.clone(),
    };
    ConsumerSpec::per_record(
        NAME,
        "payment-compensator-group",
        &[topics::PAYMENT_FAILED],
        handler,
    )
}

struct PaymentCompensator {
    pool: sqlx::MySqlPool,
}

#[async_trait]
impl EventHandler for PaymentCompensator {
    async fn handle(&self, event: &ConsumedEvent) -> Result<(), HandlerError> {
        let failed: PaymentFailed = event.payload()?;
        let Purchase::Reservation { reservation_id, .. } = failed.purchase else {
            return Ok(());
        };
        let Some(mut tx) = ProcessedEvents::begin(&self.pool, NAME, event.envelope.event_id).await?
        else {
            return Ok(());
        };
        let ending = ReservationEnding::after_failed_payment(&failed.reason);
        let ended = end_and_free_seat(&mut tx, reservation_id, ending).await?;
        tx.commit().await?;
        let outcome = match ended {
            Ended::Released { .. } => "released",
            Ended::AlreadyFinal(_) => "already_final",
            Ended::NotFound => "not_found",
        };
        metrics::counter!("stampede_payment_compensations_total", "outcome" => outcome).increment(1);
        tracing::info!(reservation_id, reason = %failed.reason, ?ended, "payment failure compensated");
        Ok(())
    }
}
