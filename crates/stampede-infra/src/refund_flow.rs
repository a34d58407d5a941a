//! A refund from request to settlement: the one path the API, late
//! payments and the reconciler take.
//!
//! A points refund is settled when it is written. A card refund is written
//! PENDING, then the PG is asked with the Idempotency-Key
//! `stampede-refund-{id}`, so asking again (the reconciler, after a
//! timeout) can never refund twice:
//!
//! - the PG answers SUCCESS → SUCCEEDED; FAILED → FAILED (the money stays
//!   with the shop, the amount is refundable again, a new refund may be asked);
//! - the PG was never called (the breaker is open) or refused the request
//!   (4xx) → FAILED;
//! - no answer (timeout, broken connection, 5xx) → still PENDING: the PG may
//!   have refunded, and only asking again tells.

use crate::mysql::payments::{self, PaymentError, PaymentRef, Settlement};
use crate::mysql::refunds::{self, Refund, RefundError, RefundRequest};
use crate::outbox::OutboxWriter;
use crate::pg::{PgClient, PgStatus};
use sqlx::MySqlPool;
use stampede_core::payment::{PaymentMethod, PgVerdict, RefundStatus};

/// What a refund needs to run.
#[derive(Clone, Copy)]
pub struct RefundDesk<'a> {
    pub pool: &'a MySqlPool,
    pub outbox: &'a OutboxWriter,
    pub pg: &'a PgClient,
}

impl RefundDesk<'_> {
    /// Decides, writes and (for a card) asks the PG.
    pub async fn refund(&self, request: RefundRequest<'_>) -> Result<Refund, RefundError> {
        let written = refunds::begin_refund(self.pool, self.outbox, request).await?;
        self.ask_pg(written).await
    }

    /// Asks the PG to carry out a PENDING card refund, and writes its answer.
    pub async fn ask_pg(&self, refund: Refund) -> Result<Refund, RefundError> {
        if refund.status != RefundStatus::Pending || refund.method != PaymentMethod::Card {
            return Ok(refund);
        }
        let Some(transaction_key) = refund.transaction_key.as_deref() else {
            let reason = "NO_PG_TRANSACTION: the payment never reached the PG".to_owned();
            return self.settle(&refund, PgVerdict::Failed(reason), None).await;
        };
        let asked = self
            .pg
            .request_refund(
                transaction_key,
                refund.amount,
                &refund.reason,
                &format!("stampede-refund-{}", refund.id),
            )
            .await;
        let (verdict, pg_refund_key, outcome) = match asked {
            Ok(answer) => match answer.status {
                PgStatus::Success => (PgVerdict::Success, Some(answer.refund_key), "succeeded"),
                PgStatus::Failed(reason) => {
                    (PgVerdict::Failed(reason), Some(answer.refund_key), "failed")
                }
                PgStatus::Pending => return Ok(refund),
            },
            Err(error) if error.outcome_unknown() => {
                metrics::counter!("stampede_refunds_total", "method" => "card", "outcome" => "unknown")
                    .increment(1);
                tracing::warn!(refund_id = refund.id, %error,
                    "the PG's answer to a refund is unknown; the reconciler asks again");
                return Ok(refund);
            }
            Err(error) => (
                PgVerdict::Failed(format!("PG_UNAVAILABLE: {error}")),
                None,
                "pg_unavailable",
            ),
        };
        metrics::counter!("stampede_refunds_total", "method" => "card", "outcome" => outcome)
            .increment(1);
        self.settle(&refund, verdict, pg_refund_key.as_deref())
            .await
    }

    /// Settles a card payment with the PG's verdict; a payment the PG
    /// charged that cannot be fulfilled (a late payment) is refunded
    /// through the PG at once. If that ask fails, the refund stays PENDING
    /// and the reconciler asks again.
    pub async fn settle_card_payment(
        &self,
        payment: PaymentRef<'_>,
        verdict: PgVerdict,
    ) -> Result<Settlement, PaymentError> {
        let settlement =
            payments::settle_card_payment(self.pool, self.outbox, payment, verdict).await?;
        let Settlement::RefundRequired(reason, refund) = settlement else {
            return Ok(settlement);
        };
        let refund = match self.ask_pg(refund.clone()).await {
            Ok(asked) => asked,
            Err(error) => {
                tracing::warn!(refund_id = refund.id, %error,
                    "refunding a late payment failed; the reconciler asks again");
                refund
            }
        };
        Ok(Settlement::RefundRequired(reason, refund))
    }

    async fn settle(
        &self,
        refund: &Refund,
        verdict: PgVerdict,
        pg_refund_key: Option<&str>,
    ) -> Result<Refund, RefundError> {
        refunds::settle_refund(self.pool, self.outbox, refund.id, verdict, pg_refund_key).await
    }
}
