//! The reconciliation scheduler: settles orders stuck PENDING.
//!
//! Every `interval_secs` (and on `stampede reconcile --once`), orders
//! PENDING for longer than `stale_after_secs` are claimed with a lease
//! (`SELECT … FOR UPDATE SKIP LOCKED`, then `reconcile_lease_until`), so two
//! instances never work on the same order. Each claimed order, each failure
//! isolated, with at most `concurrency` PG status queries at a time:
//!
//! - no pending payment → order FAILED;
//! - a pending payment without a PG transaction key (the request never
//!   reached the PG) → payment and order FAILED;
//! - the PG says SUCCESS → stock, payment SUCCESS, order COMPLETED
//!   (out of stock → FAILED, refund flagged); FAILED → FAILED;
//! - anything else (still pending, PG unreachable) → left for the next round.
//!
//! Only the PG query holds one of the `concurrency` slots, not the
//! settlement after it: settlements of orders on the same hot option queue
//! on its stock row one after another, and while they do, the next orders'
//! queries are already under way. Holding the slot through the settlement
//! made every wave of queries wait for the previous wave's settlements, so
//! a round took the PG time plus all the settlement time.
//!
//! Card refunds PENDING for longer than `stale_after_secs` (the PG's answer
//! was lost, or the process stopped before asking) are asked again with
//! their own Idempotency-Key, so the PG refunds each at most once
//! ([`Reconciler::reconcile_refunds`]).
//!
//! Paid top-ups stuck PENDING are settled the same way ([`top_ups`]).

mod top_ups;

use anyhow::Context;
use futures::StreamExt;
use serde::Deserialize;
use sqlx::MySqlPool;
use stampede_core::payment::reconciliation::{self, FirstStep, PgAnswer, PgDecision, StalePayment};
use stampede_core::payment::{PaymentStatus, PgVerdict, RefundStatus};
use stampede_infra::mysql::payments::{self, PaymentRef, Settlement};
use stampede_infra::mysql::reconciliation::{claim_stale_orders, ClaimRequest};
use stampede_infra::mysql::refunds;
use stampede_infra::outbox::OutboxWriter;
use stampede_infra::pg::{PgClient, PgStatus};
use stampede_infra::refund_flow::RefundDesk;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// `[reconcile]` settings.
#[derive(Debug, Clone, Deserialize)]
pub struct ReconcileSettings {
    /// Run the scheduler inside `serve`.
    pub enabled: bool,
    pub interval_secs: u64,
    /// Orders PENDING for longer than this are reconciled (10 minutes by default: far longer than a PG takes to call back).
    pub stale_after_secs: u64,
    /// PG status queries at once (10–20 keeps a slow PG from being flooded).
    pub concurrency: usize,
    /// How long a claim keeps other instances away from an order.
    pub lease_secs: u64,
    /// Orders claimed per round.
    pub batch_size: u32,
}

impl ReconcileSettings {
    pub fn validate(&self) -> Result<(), String> {
        if self.interval_secs == 0
            || self.concurrency == 0
            || self.lease_secs == 0
            || self.batch_size == 0
        {
            return Err(
                "reconcile.interval_secs, concurrency, lease_secs and batch_size must be positive"
                    .into(),
            );
        }
        Ok(())
    }
}

/// What happened to one order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    FailedNoPayment,
    FailedNoTransactionKey,
    Completed,
    RefundRequired,
    FailedAtPg,
    StillPending,
    AlreadySettled,
    Error,
}

impl Outcome {
    pub fn label(self) -> &'static str {
        match self {
            Self::FailedNoPayment => "failed_no_payment",
            Self::FailedNoTransactionKey => "failed_no_transaction_key",
            Self::Completed => "completed",
            Self::RefundRequired => "refund_required",
            Self::FailedAtPg => "failed_at_pg",
            Self::StillPending => "still_pending",
            Self::AlreadySettled => "already_settled",
            Self::Error => "error",
        }
    }
}

#[derive(Clone)]
pub struct Reconciler {
    pool: MySqlPool,
    outbox: OutboxWriter,
    pg: PgClient,
    /// One per PG status query in flight (`settings.concurrency`).
    pg_slots: Arc<Semaphore>,
    settings: ReconcileSettings,
}

impl Reconciler {
    pub fn new(
        pool: MySqlPool,
        outbox: OutboxWriter,
        pg: PgClient,
        settings: ReconcileSettings,
    ) -> Self {
        Self {
            pool,
            outbox,
            pg,
            pg_slots: Arc::new(Semaphore::new(settings.concurrency)),
            settings,
        }
    }

    /// Claims up to `batch_size` stale PENDING orders for `lease_secs`.
    pub async fn claim(&self) -> Result<Vec<u64>, sqlx::Error> {
        let request = ClaimRequest {
            stale_after_secs: self.settings.stale_after_secs,
            batch_size: self.settings.batch_size,
            lease_secs: self.settings.lease_secs,
        };
        claim_stale_orders(&self.pool, request).await
    }

    /// Settles one claimed order by what the PG says of it.
    pub async fn reconcile_order(&self, order_id: u64) -> Outcome {
        let outcome = match self.try_reconcile(order_id).await {
            Ok(outcome) => outcome,
            Err(error) => {
                tracing::warn!(
                    order_id,
                    error = format!("{error:#}"),
                    "reconciling an order failed; next round retries"
                );
                Outcome::Error
            }
        };
        metrics::counter!("stampede_reconcile_outcomes_total", "outcome" => outcome.label())
            .increment(1);
        outcome
    }

    async fn try_reconcile(&self, order_id: u64) -> anyhow::Result<Outcome> {
        let all = payments::payments_of_order(&self.pool, order_id).await?;
        let mut pending = None;
        for payment in &all {
            let status = PaymentStatus::parse(&payment.status).with_context(|| {
                format!(
                    "payment {} has an unknown status {:?}",
                    payment.id, payment.status
                )
            })?;
            if status == PaymentStatus::Pending {
                pending = Some(payment);
                break;
            }
        }
        let stale = match pending {
            None => StalePayment::Missing,
            Some(payment) => match payment.transaction_key.as_deref() {
                None => StalePayment::NeverSent {
                    payment_id: payment.id,
                },
                Some(transaction_key) => StalePayment::Sent { transaction_key },
            },
        };
        let key = match reconciliation::first_step(stale) {
            FirstStep::FailUnpaidOrder => {
                payments::fail_unpaid_order(&self.pool, order_id).await?;
                return Ok(Outcome::FailedNoPayment);
            }
            FirstStep::FailPayment { payment_id, reason } => {
                self.settle(PaymentRef::Id(payment_id), PgVerdict::Failed(reason))
                    .await?;
                return Ok(Outcome::FailedNoTransactionKey);
            }
            FirstStep::AskPg { transaction_key } => transaction_key,
        };
        let asked = {
            let _slot = self.pg_slots.acquire().await?;
            self.pg.payment_status(key).await?
        };
        let answer = match asked {
            PgStatus::Success => PgAnswer::Success,
            PgStatus::Failed(reason) => PgAnswer::Declined(reason),
            PgStatus::Pending => PgAnswer::Pending,
        };
        let verdict = match reconciliation::after_pg(answer) {
            PgDecision::Succeed => PgVerdict::Success,
            PgDecision::Fail { reason } => PgVerdict::Failed(reason),
            PgDecision::Wait => return Ok(Outcome::StillPending),
        };
        let failed_at_pg = matches!(verdict, PgVerdict::Failed(_));
        Ok(
            match self
                .settle(PaymentRef::TransactionKey(key), verdict)
                .await?
            {
                Settlement::Completed => Outcome::Completed,
                Settlement::RefundRequired(..) => Outcome::RefundRequired,
                Settlement::Failed(_) if failed_at_pg => Outcome::FailedAtPg,
                Settlement::Failed(_) => Outcome::FailedNoTransactionKey,
                Settlement::AlreadySettled => Outcome::AlreadySettled,
            },
        )
    }

    async fn settle(
        &self,
        payment: PaymentRef<'_>,
        verdict: PgVerdict,
    ) -> anyhow::Result<Settlement> {
        let desk = RefundDesk {
            pool: &self.pool,
            outbox: &self.outbox,
            pg: &self.pg,
        };
        Ok(desk.settle_card_payment(payment, verdict).await?)
    }

    /// One round: claim, then reconcile the claimed orders, the PG slots
    /// bounding the queries. `on_done` is called after each order
    /// (progress bars).
    pub async fn run_once(
        &self,
        on_claimed: impl FnOnce(usize),
        on_done: impl Fn(),
    ) -> anyhow::Result<BTreeMap<Outcome, usize>> {
        let ids = self.claim().await?;
        on_claimed(ids.len());
        let mut outcomes = BTreeMap::new();
        // Twice the slots: a full set of queries under way while as many
        // orders settle (each holding a database connection at most).
        let mut results = futures::stream::iter(ids.into_iter().map(|id| self.reconcile_order(id)))
            .buffer_unordered(2 * self.settings.concurrency);
        while let Some(outcome) = results.next().await {
            *outcomes.entry(outcome).or_default() += 1;
            on_done();
        }
        Ok(outcomes)
    }

    /// One round of refunds: every stale PENDING card refund is asked of
    /// the PG again; returns how many ended in each status.
    pub async fn reconcile_refunds(&self) -> anyhow::Result<BTreeMap<RefundStatus, usize>> {
        let stale = refunds::stale_pending_refunds(
            &self.pool,
            self.settings.stale_after_secs,
            self.settings.batch_size,
        )
        .await?;
        let desk = RefundDesk {
            pool: &self.pool,
            outbox: &self.outbox,
            pg: &self.pg,
        };
        let mut outcomes = BTreeMap::new();
        let mut asked = futures::stream::iter(stale.into_iter().map(|refund| desk.ask_pg(refund)))
            .buffer_unordered(self.settings.concurrency);
        while let Some(result) = asked.next().await {
            match result {
                Ok(refund) => *outcomes.entry(refund.status).or_default() += 1,
                Err(error) => {
                    tracing::warn!(%error, "reconciling a refund failed; next round retries")
                }
            }
        }
        Ok(outcomes)
    }

    /// The scheduler inside `serve`.
    pub async fn run(self, shutdown: CancellationToken) {
        let interval = Duration::from_secs(self.settings.interval_secs);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(interval) => {}
            }
            match self.run_once(|_| {}, || {}).await {
                Ok(outcomes) if !outcomes.is_empty() => {
                    tracing::info!(?outcomes, "reconciliation round")
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "reconciliation round failed"),
            }
            match self.reconcile_top_ups().await {
                Ok(0) => {}
                Ok(settled) => tracing::info!(settled, "top-ups reconciled"),
                Err(error) => tracing::warn!(%error, "top-up reconciliation round failed"),
            }
            match self.reconcile_refunds().await {
                Ok(outcomes) if !outcomes.is_empty() => {
                    tracing::info!(?outcomes, "refund reconciliation round")
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "refund reconciliation round failed"),
            }
        }
    }
}
