//! Payments: methods, the payment state machine and payment events.

use crate::events::{topics, DomainEvent};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PaymentMethod {
    /// The user's points balance, taken in the same transaction as the stock.
    Points,
    /// A card, through the payment gateway; confirmed by its callback.
    Card,
}

impl PaymentMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Points => "POINTS",
            Self::Card => "CARD",
        }
    }
}

/// PENDING → SUCCESS | FAILED; both are terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PaymentStatus {
    Pending,
    Success,
    Failed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a {from:?} payment cannot become {to:?}")]
pub struct InvalidPaymentTransition {
    pub from: PaymentStatus,
    pub to: PaymentStatus,
}

impl PaymentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Success => "SUCCESS",
            Self::Failed => "FAILED",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Pending, Self::Success, Self::Failed]
            .into_iter()
            .find(|s| s.as_str() == text)
    }

    pub fn succeed(self) -> Result<Self, InvalidPaymentTransition> {
        self.to(Self::Success)
    }

    pub fn fail(self) -> Result<Self, InvalidPaymentTransition> {
        self.to(Self::Failed)
    }

    fn to(self, to: Self) -> Result<Self, InvalidPaymentTransition> {
        match self {
            Self::Pending => Ok(to),
            from => Err(InvalidPaymentTransition { from, to }),
        }
    }
}

/// What was bought, carried by payment events for their consumers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaidLine {
    pub option_id: u64,
    pub quantity: u32,
}

/// `payment.success`: the money and the stock are taken.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaymentSucceeded {
    pub payment_id: u64,
    pub order_id: u64,
    pub user_id: u64,
    pub amount: u64,
    pub method: PaymentMethod,
    pub lines: Vec<PaidLine>,
}

impl DomainEvent for PaymentSucceeded {
    const EVENT_TYPE: &'static str = topics::PAYMENT_SUCCESS;
    const AGGREGATE_TYPE: &'static str = "order";
    fn aggregate_id(&self) -> String {
        self.order_id.to_string()
    }
}

/// `payment.failed`: nothing was taken, or (card, out of stock) the PG
/// charged and a refund is required.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaymentFailed {
    pub payment_id: Option<u64>,
    pub order_id: u64,
    pub user_id: u64,
    pub amount: u64,
    pub method: PaymentMethod,
    /// A stable code: OUT_OF_STOCK, INSUFFICIENT_POINTS, COUPON_NOT_USABLE, PG_DECLINED, PG_UNAVAILABLE, …
    pub reason: String,
    pub refund_required: bool,
}

impl DomainEvent for PaymentFailed {
    const EVENT_TYPE: &'static str = topics::PAYMENT_FAILED;
    const AGGREGATE_TYPE: &'static str = "order";
    fn aggregate_id(&self) -> String {
        self.order_id.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::PaymentStatus::*;

    #[test]
    fn settled_payments_never_move() {
        assert_eq!(Pending.succeed(), Ok(Success));
        assert_eq!(Pending.fail(), Ok(Failed));
        assert!(Success.fail().is_err());
        assert!(Failed.succeed().is_err());
        assert!(Success.succeed().is_err());
    }
}
