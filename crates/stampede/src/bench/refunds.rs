//! The refund half of `stampede bench payments --refund-ratio R`.
//!
//! After the payments, that share of the successful ones is refunded
//! through `POST /payments/{id}/refunds` (each request with its own
//! `Idempotency-Key`), spread evenly over the paid orders: every other one
//! in full (its order REFUNDED, its unit back in stock), the rest by two
//! partial refunds of just over half the amount sent together, so the
//! refund desk must refuse the second (exactly one 201 and one 409 a
//! pair, never more than was captured).
//!
//! The ceiling, measured on the payments ceiling's database right after
//! its payments: the same plan through the bare refund transaction
//! (`mysql::bench::bare_points_refund`) behind a bare handler.

use super::closed_model::{burst, burst_bare_handler, ms, Burst};
use super::harness::{self, BenchApp};
use super::report::{Goal, Report};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use sqlx::MySqlPool;
use stampede_core::events::EventEnvelope;
use stampede_core::payment::{PaidLine, PaymentMethod, PaymentRefunded, Purchase};
use stampede_infra::mysql::bench::{self, BareRefund, PaidOrder, RefundLedger};
use std::collections::HashMap;
use std::sync::Arc;

/// Parses `--refund-ratio`: a share of the successful payments, 0 to 1.
pub fn parse_ratio(text: &str) -> Result<f64, String> {
    let ratio: f64 = text.parse().map_err(|e| format!("{e}"))?;
    if (0.0..=1.0).contains(&ratio) {
        Ok(ratio)
    } else {
        Err("a share between 0 and 1".into())
    }
}

/// One refund request of the plan.
#[derive(Debug, Clone, Copy)]
struct PlannedRefund {
    paid: PaidOrder,
    /// `None`: the full refund.
    amount: Option<u64>,
}

/// The refund requests of a run, in the order they are sent (the two
/// halves of a racing pair side by side, so they are in flight together).
pub struct RefundPlan {
    requests: Vec<PlannedRefund>,
    /// Payments refunded in full by one request.
    full: usize,
    /// Payments given a racing pair of partial refunds.
    raced: usize,
}

impl RefundPlan {
    /// `ratio` of `paid`, evenly spread: the `n`-th payment is picked when
    /// `⌊(n+1)·ratio⌋` passes `⌊n·ratio⌋`, so ⌊len·ratio⌋ are picked.
    fn of(paid: &[PaidOrder], ratio: f64) -> Self {
        let picked = paid
            .iter()
            .enumerate()
            .filter(|(n, _)| ((*n + 1) as f64 * ratio).floor() > (*n as f64 * ratio).floor())
            .map(|(_, p)| *p);
        let mut plan = RefundPlan {
            requests: Vec::new(),
            full: 0,
            raced: 0,
        };
        for (k, paid) in picked.enumerate() {
            if k % 2 == 0 {
                plan.full += 1;
                plan.requests.push(PlannedRefund { paid, amount: None });
            } else {
                plan.raced += 1;
                // Two of just over half: together beyond the capture.
                let half = PlannedRefund {
                    paid,
                    amount: Some(paid.amount / 2 + 1),
                };
                plan.requests.extend([half, half]);
            }
        }
        plan
    }

    /// The answers a correct refund desk gives: every payment's first
    /// request 201, the second of each racing pair 409.
    fn answered_as_planned(&self, answers: &Burst) -> bool {
        answers.count(201) == self.full + self.raced
            && answers.count(409) == self.raced
            && answers.statuses.len() == self.requests.len()
    }
}

/// The plan's refunds through the bare transaction behind a bare handler,
/// on the ceiling's database (`option_of`: each order's one option).
pub async fn bare(
    pool: &MySqlPool,
    option_of: &HashMap<u64, u64>,
    ratio: f64,
    concurrency: usize,
    quiet: bool,
) -> anyhow::Result<(RefundPlan, Burst)> {
    let plan = RefundPlan::of(&bench::paid_orders(pool).await?, ratio);
    let requests: Vec<BareRefund> = plan
        .requests
        .iter()
        .map(|r| BareRefund {
            payment_id: r.paid.payment_id,
            order_id: r.paid.order_id,
            user_id: r.paid.user_id,
            option_id: option_of[&r.paid.order_id],
            amount: r.amount,
        })
        .collect();
    let server_pool = pool.clone();
    let handler = move |Path(n): Path<usize>, State(requests): State<Arc<Vec<BareRefund>>>| {
        let pool = server_pool.clone();
        async move {
            let refund = requests[n];
            let event = EventEnvelope::wrap(&PaymentRefunded {
                refund_id: n as u64,
                payment_id: refund.payment_id,
                user_id: refund.user_id,
                amount: refund.amount.unwrap_or_default(),
                method: PaymentMethod::Points,
                reason: "bench".into(),
                full: refund.amount.is_none(),
                purchase: Purchase::Order {
                    order_id: refund.order_id,
                    lines: vec![PaidLine {
                        option_id: refund.option_id,
                        quantity: 1,
                    }],
                },
            });
            match bench::bare_points_refund(&pool, refund, &event).await {
                Ok(true) => StatusCode::CREATED,
                Ok(false) => StatusCode::CONFLICT,
                Err(_) => StatusCode::SERVICE_UNAVAILABLE,
            }
        }
    };
    let router = axum::Router::new()
        .route("/{n}", post(handler))
        .with_state(Arc::new(requests));
    let answered = burst_bare_handler(
        router,
        plan.requests.len(),
        concurrency,
        "bare refunds",
        quiet,
    )
    .await?;
    Ok((plan, answered))
}

/// The plan's refunds through Stampede's route, each as its payer.
pub async fn through_stampede(
    app: &BenchApp,
    tokens: &[String],
    ratio: f64,
    concurrency: usize,
    quiet: bool,
) -> anyhow::Result<(RefundPlan, Burst)> {
    let plan = RefundPlan::of(&bench::paid_orders(&app.infra.pool).await?, ratio);
    let http = harness::client(concurrency);
    let answered = burst(plan.requests.len(), concurrency, "refunds", quiet, |n| {
        let refund = plan.requests[n];
        http.post(app.url(&format!("/payments/{}/refunds", refund.paid.payment_id)))
            .bearer_auth(&tokens[refund.paid.user_id as usize])
            .header("Idempotency-Key", format!("bench-refund-{n}"))
            .json(&serde_json::json!({"amount": refund.amount, "reason": "payments bench"}))
    })
    .await?;
    Ok((plan, answered))
}

/// A run's refunds beside their ceiling, as the report shows them.
pub struct RefundRun {
    pub plan: RefundPlan,
    pub answered: Burst,
    pub bare_plan: RefundPlan,
    pub bare: Burst,
}

impl RefundRun {
    /// Adds the refund figures, ceiling, ratio, checks and table lines.
    pub fn report(&self, report: &mut Report, ledger: &RefundLedger) {
        let (refunds, bare) = (&self.answered, &self.bare);
        report
            .figure("refunds_per_sec", refunds.rate)
            .figure("refund_p99_ms", ms(&refunds.latency, 0.99))
            .ceiling("bare_refund_per_sec", bare.rate)
            .ceiling("bare_refund_p99_ms", ms(&bare.latency, 0.99));
        report.ratio("refunds_vs_bare_refund", refunds.rate, bare.rate);
        report
            .goal("refunds_vs_bare_refund", Goal::AtLeast(0.6))
            .check(
                "refunds_answered_as_planned",
                self.plan.answered_as_planned(refunds),
            )
            .check(
                "bare_refunds_answered_as_planned",
                self.bare_plan.answered_as_planned(bare),
            )
            .check(
                "no_payment_refunded_beyond_capture",
                ledger.refunded_beyond_capture == 0,
            )
            .check(
                "every_fully_refunded_order_refunded",
                ledger.fully_refunded_not_refunded == 0,
            );
        report
            .line(format!("  bare refunds             {} in {:.2?}: {:.0}/s, p99 {:.1} ms", bare.statuses.len(), bare.elapsed, bare.rate, ms(&bare.latency, 0.99)))
            .line(format!("  refunds answered         {} in {:.2?}: {:.0} refunds/s ({} full, {} racing pairs)", refunds.statuses.len(), refunds.elapsed, refunds.rate, self.plan.full, self.plan.raced))
            .line(format!("  201 refunded / 409       {} / {} (planned {} / {})", refunds.count(201), refunds.count(409), self.plan.full + self.plan.raced, self.plan.raced))
            .line(format!("  refund latency           p50 {:.1} ms  p99 {:.1} ms", ms(&refunds.latency, 0.5), ms(&refunds.latency, 0.99)))
            .line(format!("  refunded beyond capture  {} payments; fully refunded but not REFUNDED: {} orders", ledger.refunded_beyond_capture, ledger.fully_refunded_not_refunded));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paid(n: u64) -> Vec<PaidOrder> {
        (1..=n)
            .map(|id| PaidOrder {
                payment_id: id,
                order_id: id,
                user_id: id,
                amount: 1000,
            })
            .collect()
    }

    #[test]
    fn the_plan_refunds_the_share_half_in_full_half_by_racing_pairs() {
        let plan = RefundPlan::of(&paid(10), 0.3);
        assert_eq!((plan.full, plan.raced), (2, 1));
        assert_eq!(plan.requests.len(), 4);
        let raced: Vec<_> = plan
            .requests
            .iter()
            .filter(|r| r.amount.is_some())
            .collect();
        assert_eq!(raced.len(), 2);
        assert_eq!(raced[0].paid, raced[1].paid, "a pair races on one payment");
        assert!(
            raced[0].amount.unwrap() * 2 > 1000,
            "together beyond the capture"
        );
        assert!(RefundPlan::of(&paid(10), 0.0).requests.is_empty());
        assert_eq!(RefundPlan::of(&paid(10), 1.0).full, 5);
    }

    #[test]
    fn the_ratio_is_a_share() {
        assert_eq!(parse_ratio("0.3"), Ok(0.3));
        assert!(parse_ratio("1.5").is_err());
        assert!(parse_ratio("-0.1").is_err());
        assert!(parse_ratio("x").is_err());
    }
}
