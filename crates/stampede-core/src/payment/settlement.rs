//! Settling a card payment with the PG's verdict: whether it completes,
//! fails, or ends FAILED with a refund required (the PG charged, but the
//! order can no longer be fulfilled), decided on the payment and order as
//! their locks found them.
//!
//! The adapter locks both rows, asks [`CardSettlement::decide`], takes the
//! stock and coupons when told to ([`SettlementStep::Fulfil`]) and asks
//! [`CardSettlement::after_fulfilment`], then writes the answer with
//! conditional updates from the loaded statuses (`WHERE status = <from>`).

use super::{PaymentRefusal, PaymentStatus, PgVerdict};
use crate::order::OrderStatus;
use crate::status::SettlesOnce;

/// The reason a charged payment for an order that left PENDING fails with.
pub const ORDER_NOT_PENDING: &str = "ORDER_NOT_PENDING";

/// What the verdict asks of the adapter first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettlementStep {
    /// The payment is no longer PENDING: a duplicate or late verdict
    /// changes nothing (terminal payments never move).
    AlreadySettled,
    /// The PG charged a PENDING order: take its stock and coupons (all or
    /// nothing), then settle with [`CardSettlement::after_fulfilment`].
    Fulfil,
    /// Write this settlement as it is.
    Settle(CardSettlement),
}

/// How the payment ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettlementOutcome {
    /// Paid and fulfilled: payment SUCCESS, order COMPLETED, `payment.success`.
    Completed,
    /// The PG declined (or was never reached): payment and order FAILED.
    Failed(String),
    /// Paid at the PG but not fulfillable: payment and order FAILED, and a
    /// SYSTEM refund of all of it.
    RefundRequired(String),
}

/// The settlement to write: each row from the status it was loaded in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardSettlement {
    pub payment_from: PaymentStatus,
    pub payment_to: PaymentStatus,
    /// The order's move, when its loaded status allows one (an order that
    /// left PENDING stays as it is).
    pub order: Option<(OrderStatus, OrderStatus)>,
    pub outcome: SettlementOutcome,
}

impl CardSettlement {
    /// What `verdict` does to a payment loaded as `payment` for an order
    /// loaded as `order`.
    pub fn decide(
        payment: PaymentStatus,
        order: OrderStatus,
        verdict: &PgVerdict,
    ) -> SettlementStep {
        if payment.fail().is_err() {
            return SettlementStep::AlreadySettled;
        }
        let failure = match verdict {
            PgVerdict::Failed(reason) => SettlementOutcome::Failed(reason.clone()),
            PgVerdict::Success if order.complete().is_err() => {
                SettlementOutcome::RefundRequired(ORDER_NOT_PENDING.to_owned())
            }
            PgVerdict::Success => return SettlementStep::Fulfil,
        };
        SettlementStep::Settle(Self::failing(payment, order, failure))
    }

    /// The settlement once the stock and coupons of a charged PENDING
    /// order were taken (`Ok`) or refused (`Err`: the charge is refunded).
    pub fn after_fulfilment(
        payment: PaymentStatus,
        order: OrderStatus,
        fulfilment: Result<(), PaymentRefusal>,
    ) -> Self {
        match (fulfilment, payment.succeed(), order.complete()) {
            (Ok(()), Ok(succeeded), Ok(completed)) => Self {
                payment_from: payment,
                payment_to: succeeded,
                order: Some((order, completed)),
                outcome: SettlementOutcome::Completed,
            },
            (Err(refusal), ..) => Self::failing(
                payment,
                order,
                SettlementOutcome::RefundRequired(refusal.code()),
            ),
            // Only a PENDING payment of a PENDING order is fulfilled.
            (Ok(()), ..) => Self::failing(
                payment,
                order,
                SettlementOutcome::RefundRequired(ORDER_NOT_PENDING.to_owned()),
            ),
        }
    }

    fn failing(payment: PaymentStatus, order: OrderStatus, outcome: SettlementOutcome) -> Self {
        Self {
            payment_from: payment,
            payment_to: PaymentStatus::Failed,
            order: order.fail().ok().map(|failed| (order, failed)),
            outcome,
        }
    }

    /// The failure reason kept on the payment (none when it completed).
    pub fn failure_reason(&self) -> Option<&str> {
        match &self.outcome {
            SettlementOutcome::Completed => None,
            SettlementOutcome::Failed(reason) | SettlementOutcome::RefundRequired(reason) => {
                Some(reason)
            }
        }
    }

    /// Whether the PG charged money that must be given back.
    pub fn refund_required(&self) -> bool {
        matches!(self.outcome, SettlementOutcome::RefundRequired(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use OrderStatus as O;
    use PaymentStatus as P;

    fn settled(step: SettlementStep) -> CardSettlement {
        match step {
            SettlementStep::Settle(settlement) => settlement,
            other => panic!("expected a settlement, got {other:?}"),
        }
    }

    #[test]
    fn a_settled_payment_never_moves() {
        for verdict in [
            PgVerdict::Success,
            PgVerdict::Failed("PG_DECLINED: x".into()),
        ] {
            for payment in [P::Success, P::Failed] {
                assert_eq!(
                    CardSettlement::decide(payment, O::Pending, &verdict),
                    SettlementStep::AlreadySettled
                );
            }
        }
    }

    #[test]
    fn a_charged_pending_order_is_fulfilled_first() {
        assert_eq!(
            CardSettlement::decide(P::Pending, O::Pending, &PgVerdict::Success),
            SettlementStep::Fulfil
        );
    }

    #[test]
    fn a_decline_fails_the_payment_and_a_pending_order() {
        let declined = PgVerdict::Failed("PG_DECLINED: limit".into());
        let failed = settled(CardSettlement::decide(P::Pending, O::Pending, &declined));
        assert_eq!(
            (failed.payment_from, failed.payment_to),
            (P::Pending, P::Failed)
        );
        assert_eq!(failed.order, Some((O::Pending, O::Failed)));
        assert_eq!(failed.failure_reason(), Some("PG_DECLINED: limit"));
        assert!(!failed.refund_required());
        let late = settled(CardSettlement::decide(P::Pending, O::Cancelled, &declined));
        assert_eq!(late.order, None, "an order that left PENDING stays");
    }

    #[test]
    fn a_charge_for_an_order_no_longer_pending_is_refunded() {
        for order in [O::Paid, O::Completed, O::Failed, O::Cancelled, O::Refunded] {
            let refunded = settled(CardSettlement::decide(
                P::Pending,
                order,
                &PgVerdict::Success,
            ));
            assert_eq!(
                refunded.outcome,
                SettlementOutcome::RefundRequired(ORDER_NOT_PENDING.into())
            );
            assert_eq!(refunded.payment_to, P::Failed);
            assert_eq!(refunded.order, None);
            assert!(refunded.refund_required());
        }
    }

    #[test]
    fn a_fulfilled_charge_completes_payment_and_order() {
        let done = CardSettlement::after_fulfilment(P::Pending, O::Pending, Ok(()));
        assert_eq!(done.outcome, SettlementOutcome::Completed);
        assert_eq!(
            (done.payment_from, done.payment_to),
            (P::Pending, P::Success)
        );
        assert_eq!(done.order, Some((O::Pending, O::Completed)));
        assert_eq!(done.failure_reason(), None);
        assert!(!done.refund_required());
    }

    #[test]
    fn a_charge_the_stock_or_coupons_cannot_cover_is_refunded() {
        let out = CardSettlement::after_fulfilment(
            P::Pending,
            O::Pending,
            Err(PaymentRefusal::OutOfStock(3)),
        );
        assert_eq!(
            out.outcome,
            SettlementOutcome::RefundRequired("OUT_OF_STOCK:3".into())
        );
        assert_eq!(out.order, Some((O::Pending, O::Failed)));
        assert_eq!(out.payment_to, P::Failed);
        let coupon = CardSettlement::after_fulfilment(
            P::Pending,
            O::Pending,
            Err(PaymentRefusal::CouponNotUsable),
        );
        assert_eq!(coupon.failure_reason(), Some("COUPON_NOT_USABLE"));
    }

    #[test]
    fn a_fulfilment_for_rows_that_cannot_complete_is_refunded_not_completed() {
        let odd = CardSettlement::after_fulfilment(P::Pending, O::Paid, Ok(()));
        assert!(odd.refund_required());
        assert_eq!(odd.order, None);
    }
}
