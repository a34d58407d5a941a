//! The transaction history: every successful payment, for an
//! order or a concert reservation, becomes a `transaction_history` row,
//! every succeeded refund a `refund_history` row, and every credit of
//! points (a paid top-up, an admin grant) a `points_history` row, once
//! (processed_events + primary key).

use async_trait::async_trait;
use stampede_core::events::topics;
use stampede_core::payment::{PaymentRefunded, PaymentSucceeded};
use stampede_core::points::credited::PointsCredited;
use stampede_infra::kafka::consumer::{ConsumedEvent, ConsumerSpec, EventHandler, HandlerError};
use stampede_infra::mysql::{transaction_history, ProcessedEvents};
use stampede_infra::Infra;

pub const NAME: &str = "transaction-history";

pub fn spec(infra: &Infra) -> ConsumerSpec {
    let handler = TransactionHistory {
        pool: infra.pool.clone(),
    };
    ConsumerSpec::per_record(
        NAME,
        "transaction-history-group",
        &[
            topics::PAYMENT_SUCCESS,
            topics::PAYMENT_REFUNDED,
            topics::POINTS_CREDITED,
        ],
        handler,
    )
}

struct TransactionHistory {
    pool: sqlx::MySqlPool,
}

/// What one event adds to the history.
enum Entry {
    Paid(PaymentSucceeded),
    Refunded(PaymentRefunded),
    Credited(PointsCredited),
}

#[async_trait]
impl EventHandler for TransactionHistory {
    async fn handle(&self, event: &ConsumedEvent) -> Result<(), HandlerError> {
        // Decoded before the transaction: a malformed payload is a poison record.
        let entry = match event.envelope.event_type.as_str() {
            topics::PAYMENT_REFUNDED => Entry::Refunded(event.payload()?),
            topics::POINTS_CREDITED => Entry::Credited(event.payload()?),
            _ => Entry::Paid(event.payload()?),
        };
        let Some(mut tx) =
            ProcessedEvents::begin(&self.pool, NAME, event.envelope.event_id).await?
        else {
            return Ok(());
        };
        match &entry {
            Entry::Paid(paid) => transaction_history::record(&mut tx, paid).await?,
            Entry::Refunded(refund) => transaction_history::record_refund(&mut tx, refund).await?,
            Entry::Credited(credited) => {
                transaction_history::record_credit(&mut tx, credited).await?
            }
        }
        tx.commit().await?;
        Ok(())
    }
}
