//! The transaction history: every successful payment, for an
//! order or a concert reservation, becomes a `transaction_history` row, and
//! every succeeded refund a `refund_history` row, once (processed_events +
//! primary key).

use async_trait::async_trait;
use stampede_core::events::topics;
use stampede_core::payment::{PaymentRefunded, PaymentSucceeded};
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
        &[topics::PAYMENT_SUCCESS, topics::PAYMENT_REFUNDED],
        handler,
    )
}

struct TransactionHistory {
    pool: sqlx::MySqlPool,
}

#[async_trait]
impl EventHandler for TransactionHistory {
    async fn handle(&self, event: &ConsumedEvent) -> Result<(), HandlerError> {
        let refunded = event.envelope.event_type == topics::PAYMENT_REFUNDED;
        let (paid, refund) = if refunded {
            (None, Some(event.payload::<PaymentRefunded>()?))
        } else {
            (Some(event.payload::<PaymentSucceeded>()?), None)
        };
        let Some(mut tx) =
            ProcessedEvents::begin(&self.pool, NAME, event.envelope.event_id).await?
        else {
            return Ok(());
        };
        if let Some(paid) = &paid {
            transaction_history::record(&mut tx, paid).await?;
        }
        if let Some(refund) = &refund {
            transaction_history::record_refund(&mut tx, refund).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
