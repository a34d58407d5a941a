//! Reconciling paid top-ups whose PG callback never came: the same
//! decisions as for an order's card payment
//! ([`stampede_core::payment::reconciliation`]), executed through the
//! settlement the callback takes, so the points are credited once whichever
//! of the two arrives first.

use super::Reconciler;
use stampede_core::payment::reconciliation::{self, FirstStep, PgAnswer, PgDecision, StalePayment};
use stampede_core::payment::PgVerdict;
use stampede_core::points::top_up::TopUpTransition;
use stampede_infra::mysql::points::{self, TopUp, TopUpRef};
use stampede_infra::pg::PgStatus;

impl Reconciler {
    /// Settles up to `batch_size` top-ups PENDING for longer than
    /// `stale_after_secs`; returns how many moved (credited or failed).
    pub async fn reconcile_top_ups(&self) -> Result<usize, sqlx::Error> {
        let stale = points::stale_top_ups(
            &self.pool,
            self.settings.stale_after_secs,
            self.settings.batch_size,
        )
        .await?;
        let mut settled = 0;
        for top_up in stale {
            match self.reconcile_top_up(&top_up).await {
                Ok(Some(TopUpTransition::AlreadySettled(_)) | None) => {}
                Ok(Some(transition)) => {
                    settled += 1;
                    let label = transition.label();
                    metrics::counter!("stampede_reconcile_outcomes_total", "outcome" => label)
                        .increment(1);
                }
                Err(error) => tracing::warn!(
                    top_up_id = top_up.id,
                    error = format!("{error:#}"),
                    "reconciling a top-up failed; next round retries"
                ),
            }
        }
        Ok(settled)
    }

    async fn reconcile_top_up(&self, top_up: &TopUp) -> anyhow::Result<Option<TopUpTransition>> {
        let stale = match top_up.transaction_key.as_deref() {
            None => StalePayment::NeverSent {
                payment_id: top_up.id,
            },
            Some(transaction_key) => StalePayment::Sent { transaction_key },
        };
        let verdict = match reconciliation::first_step(stale) {
            FirstStep::FailPayment { reason, .. } => PgVerdict::Failed(reason),
            FirstStep::AskPg { transaction_key } => {
                let answer = match self.pg.payment_status(transaction_key).await? {
                    PgStatus::Success => PgAnswer::Success,
                    PgStatus::Failed(reason) => PgAnswer::Declined(reason),
                    PgStatus::Pending => PgAnswer::Pending,
                };
                match reconciliation::after_pg(answer) {
                    PgDecision::Succeed => PgVerdict::Success,
                    PgDecision::Fail { reason } => PgVerdict::Failed(reason),
                    PgDecision::Wait => return Ok(None),
                }
            }
            // A top-up always exists as its own payment.
            FirstStep::FailUnpaidOrder => return Ok(None),
        };
        Ok(
            points::settle_top_up(&self.pool, &self.outbox, TopUpRef::Id(top_up.id), verdict)
                .await?,
        )
    }
}
