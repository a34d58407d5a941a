//! Orders: lines, pricing with coupons, and the order state machine.

mod cancellation;
mod new_order;
pub use cancellation::{CancelRefusal, CancellableOrder};
pub use new_order::{NewOrder, OfferedOption, PlacementRefusal, PricedLines, MAX_LINES};

use crate::coupon::Discount;
use crate::events::{topics, DomainEvent};
use crate::status::{transition, InvalidTransition};
use serde::{Deserialize, Serialize};

crate::status_enum! {
    /// PENDING (not paid yet) → PAID (points) | COMPLETED (card,
    /// confirmed by the PG) | FAILED | CANCELLED; PAID | COMPLETED → REFUNDED
    /// when its payment is refunded in full. FAILED, CANCELLED and REFUNDED are
    /// terminal.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
    pub enum OrderStatus {
        Pending = "PENDING",
        Paid = "PAID",
        Completed = "COMPLETED",
        Failed = "FAILED",
        Cancelled = "CANCELLED",
        Refunded = "REFUNDED",
    }
}

pub type InvalidOrderTransition = InvalidTransition<OrderStatus>;

impl OrderStatus {
    /// No transition leaves it (PAID and COMPLETED may still be refunded).
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Failed | Self::Cancelled | Self::Refunded)
    }

    /// Paid with points, in the same transaction that took them.
    pub fn pay(self) -> Result<Self, InvalidOrderTransition> {
        self.to(Self::Paid)
    }

    /// Paid by card, confirmed by the PG.
    pub fn complete(self) -> Result<Self, InvalidOrderTransition> {
        self.to(Self::Completed)
    }

    pub fn fail(self) -> Result<Self, InvalidOrderTransition> {
        self.to(Self::Failed)
    }

    pub fn cancel(self) -> Result<Self, InvalidOrderTransition> {
        self.to(Self::Cancelled)
    }

    /// Its payment was refunded in full: only a paid order can be.
    pub fn refund(self) -> Result<Self, InvalidOrderTransition> {
        transition(self, &[Self::Paid, Self::Completed], Self::Refunded)
    }

    fn to(self, to: Self) -> Result<Self, InvalidOrderTransition> {
        transition(self, &[Self::Pending], to)
    }
}

/// A validated quantity: 1 to 100 per line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quantity(u32);

impl Quantity {
    pub const MAX: u32 = 100;

    pub fn parse(value: u32) -> Result<Self, String> {
        if (1..=Self::MAX).contains(&value) {
            Ok(Self(value))
        } else {
            Err(format!("quantity must be between 1 and {}", Self::MAX))
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

/// One priced line of an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OrderLine {
    pub option_id: u64,
    pub quantity: u32,
    pub unit_price: u64,
}

/// What an order costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Pricing {
    pub subtotal: u64,
    pub discount: u64,
    pub total: u64,
}

/// Prices `lines` with `coupons` applied one after the other, each on what
/// is left to pay, so the total never goes below zero.
pub fn price(lines: &[OrderLine], coupons: &[Discount]) -> Pricing {
    let subtotal: u64 = lines
        .iter()
        .map(|l| l.unit_price * u64::from(l.quantity))
        .sum();
    let total = coupons
        .iter()
        .fold(subtotal, |left, coupon| left - coupon.on(left));
    Pricing {
        subtotal,
        discount: subtotal - total,
        total,
    }
}

/// `order.created`, written to the outbox with the order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderCreated {
    pub order_id: u64,
    pub user_id: u64,
    pub lines: Vec<OrderLine>,
    pub pricing: Pricing,
    pub coupon_ids: Vec<String>,
}

impl DomainEvent for OrderCreated {
    const EVENT_TYPE: &'static str = topics::ORDER_CREATED;
    fn aggregate_type(&self) -> &'static str {
        "order"
    }
    fn aggregate_id(&self) -> String {
        self.order_id.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_pending_orders_move_and_terminal_states_stay() {
        use OrderStatus::*;
        assert_eq!(Pending.pay(), Ok(Paid));
        assert_eq!(Pending.complete(), Ok(Completed));
        assert_eq!(Pending.fail(), Ok(Failed));
        assert_eq!(Pending.cancel(), Ok(Cancelled));
        for settled in [Paid, Completed, Failed, Cancelled, Refunded] {
            assert!(settled.pay().is_err() && settled.complete().is_err());
            assert!(settled.fail().is_err() && settled.cancel().is_err());
            assert_eq!(OrderStatus::parse(settled.as_str()), Ok(settled));
        }
        for terminal in [Failed, Cancelled, Refunded] {
            assert!(terminal.is_terminal());
            assert!(terminal.refund().is_err());
        }
    }

    #[test]
    fn only_a_paid_order_is_refunded() {
        use OrderStatus::*;
        assert_eq!(Paid.refund(), Ok(Refunded));
        assert_eq!(Completed.refund(), Ok(Refunded));
        assert!(Pending.refund().is_err());
        assert!(!Paid.is_terminal() && !Pending.is_terminal());
    }

    #[test]
    fn coupons_apply_in_turn_and_never_below_zero() {
        let lines = [OrderLine {
            option_id: 1,
            quantity: 2,
            unit_price: 5000,
        }];
        let pricing = price(
            &lines,
            &[
                Discount::Percent {
                    percent: 10,
                    cap: 500,
                },
                Discount::Fixed { amount: 1000 },
            ],
        );
        assert_eq!(
            pricing,
            Pricing {
                subtotal: 10_000,
                discount: 1500,
                total: 8500
            }
        );
        let free = price(&lines, &[Discount::Fixed { amount: 50_000 }]);
        assert_eq!(free.total, 0);
        assert_eq!(free.discount, 10_000);
    }

    #[test]
    fn quantities_are_bounded() {
        assert!(Quantity::parse(0).is_err());
        assert!(Quantity::parse(101).is_err());
        assert_eq!(Quantity::parse(3).unwrap().get(), 3);
    }
}
