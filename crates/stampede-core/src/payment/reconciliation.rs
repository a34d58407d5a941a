//! What the reconciler does with an order stuck PENDING: the decision is
//! made here on what was loaded (the order's pending payment, then the
//! PG's answer); the reconciler only executes it through the settlement
//! path the PG callbacks take.

/// The pending payment of a stale order, as far as the decision needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StalePayment<'k> {
    /// The order has no pending payment: nothing will ever pay it.
    Missing,
    /// The payment never got a PG transaction key: the request never
    /// reached the PG, so no callback can come.
    NeverSent { payment_id: u64 },
    /// The PG knows the payment under this key: ask it.
    Sent { transaction_key: &'k str },
}

/// The first step for a stale order, before any PG call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FirstStep<'k> {
    /// Mark the order FAILED.
    FailUnpaidOrder,
    /// Settle the payment (and its order) as failed for this reason.
    FailPayment { payment_id: u64, reason: String },
    /// Ask the PG for the payment's status.
    AskPg { transaction_key: &'k str },
}

/// What the PG answers for a transaction key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PgAnswer {
    Success,
    Declined(String),
    Pending,
}

/// The settlement the PG's answer calls for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PgDecision {
    Succeed,
    Fail {
        reason: String,
    },
    /// The PG has not decided yet: leave the order for the next round.
    Wait,
}

pub fn first_step(payment: StalePayment<'_>) -> FirstStep<'_> {
    match payment {
        StalePayment::Missing => FirstStep::FailUnpaidOrder,
        StalePayment::NeverSent { payment_id } => FirstStep::FailPayment {
            payment_id,
            reason: "PG_REQUEST_FAILED: no transaction key".into(),
        },
        StalePayment::Sent { transaction_key } => FirstStep::AskPg { transaction_key },
    }
}

pub fn after_pg(answer: PgAnswer) -> PgDecision {
    match answer {
        PgAnswer::Success => PgDecision::Succeed,
        PgAnswer::Declined(reason) => PgDecision::Fail {
            reason: format!("PG_DECLINED: {reason}"),
        },
        PgAnswer::Pending => PgDecision::Wait,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_order_without_a_pending_payment_fails() {
        assert_eq!(
            first_step(StalePayment::Missing),
            FirstStep::FailUnpaidOrder
        );
    }

    #[test]
    fn a_payment_that_never_reached_the_pg_fails_without_asking_it() {
        assert_eq!(
            first_step(StalePayment::NeverSent { payment_id: 7 }),
            FirstStep::FailPayment {
                payment_id: 7,
                reason: "PG_REQUEST_FAILED: no transaction key".into()
            }
        );
    }

    #[test]
    fn a_sent_payment_asks_the_pg_by_its_key() {
        assert_eq!(
            first_step(StalePayment::Sent {
                transaction_key: "tx-1"
            }),
            FirstStep::AskPg {
                transaction_key: "tx-1"
            }
        );
    }

    #[test]
    fn the_pg_answer_decides_the_settlement() {
        assert_eq!(after_pg(PgAnswer::Success), PgDecision::Succeed);
        assert_eq!(
            after_pg(PgAnswer::Declined("LIMIT".into())),
            PgDecision::Fail {
                reason: "PG_DECLINED: LIMIT".into()
            }
        );
        assert_eq!(after_pg(PgAnswer::Pending), PgDecision::Wait);
    }
}
