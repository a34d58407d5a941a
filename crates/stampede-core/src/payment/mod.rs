//! Payments: methods, the payment state machine and payment events.

mod card;
pub mod reconciliation;
mod refund;
mod refusal;
mod settlement;
pub use card::{Card, PgVerdict, INVALID_CARD};
pub use refund::{
    InvalidRefundTransition, PaymentRefunded, RefundDecision, RefundReason, RefundRefusal,
    RefundStatus, RefundablePayment, Refunder, Restitution, UsedCoupon,
};
pub use refusal::PaymentRefusal;
pub use settlement::{CardSettlement, SettlementOutcome, SettlementStep, ORDER_NOT_PENDING};

use crate::events::topics;
use crate::status::{InvalidTransition, SettlesOnce};
use serde::{Deserialize, Serialize};

crate::status_enum! {
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
    pub enum PaymentMethod {
        /// The user's points balance, taken in the same transaction as the stock.
        Points = "POINTS",
        /// A card, through the payment gateway; confirmed by its callback.
        Card = "CARD",
    }
}

crate::status_enum! {
    /// PENDING → SUCCESS | FAILED; both are terminal.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
    pub enum PaymentStatus {
        Pending = "PENDING",
        Success = "SUCCESS",
        Failed = "FAILED",
    }
}

pub type InvalidPaymentTransition = InvalidTransition<PaymentStatus>;

impl SettlesOnce for PaymentStatus {
    const PENDING: Self = Self::Pending;
    const SUCCEEDED: Self = Self::Success;
    const FAILED: Self = Self::Failed;
}

/// A payment event belongs to what the payment paid for (its order or its
/// reservation), so one purchase's events stay in order on one partition.
macro_rules! keyed_by_purchase {
    ($event:ty, $topic:expr) => {
        impl $crate::events::DomainEvent for $event {
            const EVENT_TYPE: &'static str = $topic;
            fn aggregate_type(&self) -> &'static str {
                self.purchase.aggregate().0
            }
            fn aggregate_id(&self) -> String {
                self.purchase.aggregate().1.to_string()
            }
        }
    };
}
pub(crate) use keyed_by_purchase;

/// What was bought, carried by payment events for their consumers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaidLine {
    pub option_id: u64,
    pub quantity: u32,
}

/// What a payment paid for: an order of catalog options, or a concert seat
/// held by a reservation. Consumers match on it and skip what is not theirs,
/// so one `payment.success` topic serves the shop and the box office.
///
/// # Format
///
/// ```json
/// {"kind": "ORDER", "order_id": 7, "lines": [{"option_id": 3, "quantity": 1}]}
/// {"kind": "RESERVATION", "reservation_id": 9, "concert_id": 1, "schedule_id": 2, "seat_id": 40}
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Purchase {
    Order {
        order_id: u64,
        lines: Vec<PaidLine>,
    },
    Reservation {
        reservation_id: u64,
        concert_id: u64,
        schedule_id: u64,
        seat_id: u64,
    },
}

impl Purchase {
    /// The aggregate the payment's events belong to (and are keyed by).
    fn aggregate(&self) -> (&'static str, u64) {
        match self {
            Self::Order { order_id, .. } => ("order", *order_id),
            Self::Reservation { reservation_id, .. } => ("reservation", *reservation_id),
        }
    }

    pub fn order_id(&self) -> Option<u64> {
        match self {
            Self::Order { order_id, .. } => Some(*order_id),
            Self::Reservation { .. } => None,
        }
    }

    pub fn reservation_id(&self) -> Option<u64> {
        match self {
            Self::Reservation { reservation_id, .. } => Some(*reservation_id),
            Self::Order { .. } => None,
        }
    }
}

/// `payment.success`: the money and the stock (or the seat) are taken.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaymentSucceeded {
    pub payment_id: u64,
    pub user_id: u64,
    pub amount: u64,
    pub method: PaymentMethod,
    pub purchase: Purchase,
}

keyed_by_purchase!(PaymentSucceeded, topics::PAYMENT_SUCCESS);

/// `payment.failed`: nothing was taken, or (card, out of stock) the PG
/// charged and a refund is required.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaymentFailed {
    pub payment_id: Option<u64>,
    pub user_id: u64,
    pub amount: u64,
    pub method: PaymentMethod,
    /// A stable code: OUT_OF_STOCK, INSUFFICIENT_POINTS, COUPON_NOT_USABLE,
    /// HOLD_EXPIRED, PG_DECLINED, PG_UNAVAILABLE, …
    pub reason: String,
    pub refund_required: bool,
    pub purchase: Purchase,
}

keyed_by_purchase!(PaymentFailed, topics::PAYMENT_FAILED);

#[cfg(test)]
mod tests {
    #[test]
    fn a_payment_event_belongs_to_what_it_paid_for() {
        use crate::events::EventEnvelope;
        let paid = super::PaymentSucceeded {
            payment_id: 1,
            user_id: 2,
            amount: 3,
            method: super::PaymentMethod::Points,
            purchase: super::Purchase::Reservation {
                reservation_id: 9,
                concert_id: 1,
                schedule_id: 2,
                seat_id: 40,
            },
        };
        let envelope = EventEnvelope::wrap(&paid);
        assert_eq!(
            (
                envelope.aggregate_type.as_str(),
                envelope.aggregate_id.as_str()
            ),
            ("reservation", "9")
        );
        assert_eq!(envelope.payload["purchase"]["kind"], "RESERVATION");
        assert_eq!(
            envelope.payload_as::<super::PaymentSucceeded>().unwrap(),
            paid
        );
    }

    #[test]
    fn settled_payments_never_move() {
        crate::status::tests::assert_settles_once::<super::PaymentStatus>();
    }
}
