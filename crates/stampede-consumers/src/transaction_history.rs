//! The transaction history: every successful payment, for an
//! order or a concert reservation, becomes a `transaction_history` row, once
//! (processed_events + primary key).

use async_trait::async_trait;
use stampede_core::events::topics;
use stampede_core::payment::PaymentSucceeded;
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
        &[topics::PAYMENT_SUCCESS],
        handler,
    )
}

struct TransactionHistory {
    pool: sqlx::MySqlPool,
}

#[async_trait]
impl EventHandler for TransactionHistory {
    async fn handle(&self, event: &ConsumedEvent) -> Result<(), HandlerError> {
        let paid: PaymentSucceeded = event.payload()?;
        let Some(mut tx) =
            ProcessedEvents::begin(&self.pool, NAME, event.envelope.event_id).await?
        else {
            return Ok(());
        };
        transaction_history::record(&mut tx, &paid).await?;
        tx.commit().await?;
        Ok(())
    }
}
