//! Redis cleanup after a seat payment: once a reservation's payment
//! is decided, successful or not, its temporary Redis state goes: the seat
//! hold is released (only if it is still this reservation's) and the
//! buyer's active queue token is ended. Both steps are idempotent, so a
//! redelivery is harmless.

use async_trait::async_trait;
use stampede_core::events::topics;
use stampede_core::payment::{PaymentFailed, PaymentSucceeded, Purchase};
use stampede_infra::kafka::consumer::{ConsumedEvent, ConsumerSpec, EventHandler, HandlerError};
use stampede_infra::mysql::reservations;
use stampede_infra::redis::{SeatHolds, WaitingQueue};
use stampede_infra::Infra;

pub const NAME: &str = "post-payment-cleanup";

pub fn spec(infra: &Infra) -> ConsumerSpec {
    let handler = PostPaymentCleanup {
        pool: infra.pool.clone(),
        holds: infra.seat_holds.clone(),
        queue: infra.queue.clone(),
    };
    ConsumerSpec::per_record(
        NAME,
        "post-payment-cleanup-group",
        &[topics::PAYMENT_SUCCESS, topics::PAYMENT_FAILED],
        handler,
    )
}

struct PostPaymentCleanup {
    pool: sqlx::MySqlPool,
    holds: SeatHolds,
    queue: WaitingQueue,
}

/// The buyer and the purchase of a decided payment, whichever way it went.
fn decided(event: &ConsumedEvent) -> Result<(u64, Purchase), HandlerError> {
    if event.envelope.event_type == topics::PAYMENT_FAILED {
        let failed: PaymentFailed = event.payload()?;
        Ok((failed.user_id, failed.purchase))
    } else {
        let paid: PaymentSucceeded = event.payload()?;
        Ok((paid.user_id, paid.purchase))
    }
}

#[async_trait]
impl EventHandler for PostPaymentCleanup {
    async fn handle(&self, event: &ConsumedEvent) -> Result<(), HandlerError> {
        let (user_id, purchase) = decided(event)?;
        let Purchase::Reservation {
            reservation_id,
            concert_id,
            ..
        } = purchase
        else {
            return Ok(());
        };
        if let Some(reservation) = reservations::find_reservation(&self.pool, reservation_id).await? {
            let released = self
                .holds
                .release(reservation.schedule_id, reservation.seat_id, reservation.hold_id)
                .await?;
            if released {
                metrics::counter!("stampede_post_payment_cleanup_total", "step" => "hold_released")
                    .increment(1);
            }
        }
        if self.queue.expire(concert_id, user_id).await? {
            metrics::counter!("stampede_post_payment_cleanup_total", "step" => "token_expired")
                .increment(1);
        }
        Ok(())
    }
}
