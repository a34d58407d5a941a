//! Why a payment is refused: the domain's answers, whatever stored them.

use crate::order::OrderStatus;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaymentRefusal {
    #[error("no order {0}")]
    OrderNotFound(u64),
    #[error("order {order_id} is {status:?}; only PENDING orders can be paid")]
    NotPayable { order_id: u64, status: OrderStatus },
    #[error("order {0} already has a card payment in progress")]
    InProgress(u64),
    #[error("option {0} is out of stock")]
    OutOfStock(u64),
    #[error("the points balance is lower than the order total")]
    InsufficientPoints,
    #[error("a coupon of the order is no longer usable")]
    CouponNotUsable,
    #[error("no payment for transaction {0}")]
    PaymentNotFound(String),
}

impl PaymentRefusal {
    /// The stable code clients and `payment.failed` consumers see.
    pub fn code(&self) -> String {
        match self {
            Self::OrderNotFound(_) => "ORDER_NOT_FOUND".into(),
            Self::NotPayable { .. } => "ORDER_NOT_PAYABLE".into(),
            Self::InProgress(_) => "PAYMENT_IN_PROGRESS".into(),
            Self::OutOfStock(option) => format!("OUT_OF_STOCK:{option}"),
            Self::InsufficientPoints => "INSUFFICIENT_POINTS".into(),
            Self::CouponNotUsable => "COUPON_NOT_USABLE".into(),
            Self::PaymentNotFound(_) => "PAYMENT_NOT_FOUND".into(),
        }
    }

    /// Whether the attempt failed for a business reason worth a
    /// `payment.failed` event (not a request that named nothing payable).
    pub fn fails_the_attempt(&self) -> bool {
        matches!(
            self,
            Self::OutOfStock(_) | Self::InsufficientPoints | Self::CouponNotUsable
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_business_reasons_fail_an_attempt_and_codes_name_the_option() {
        assert!(PaymentRefusal::OutOfStock(3).fails_the_attempt());
        assert!(PaymentRefusal::InsufficientPoints.fails_the_attempt());
        assert!(!PaymentRefusal::OrderNotFound(1).fails_the_attempt());
        assert!(!PaymentRefusal::InProgress(1).fails_the_attempt());
        assert_eq!(PaymentRefusal::OutOfStock(3).code(), "OUT_OF_STOCK:3");
    }
}
