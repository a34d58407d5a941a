//! Cancelling an order: the buyer's, only while it is PENDING.
//!
//! A PENDING order has taken nothing yet (stock and coupons are taken by
//! its payment, in the payment's transaction), so cancelling it gives
//! nothing back: its coupons simply stay ISSUED. A paid order is not
//! cancelled but refunded (`POST /payments/{id}/refunds`, which makes it
//! REFUNDED): one way to give money back, not two. While a card payment is
//! in flight the order cannot be cancelled either: the PG may be charging
//! it, and the reconciler only settles PENDING orders.

use super::OrderStatus;

/// Why an order cannot be cancelled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CancelRefusal {
    #[error("no order {0}")]
    NotFound(u64),
    #[error("order {order_id} is {status:?}: refund its payment instead (POST /payments/{{id}}/refunds)")]
    PaidRefundInstead { order_id: u64, status: OrderStatus },
    #[error("order {order_id} is {status:?}; only a PENDING order can be cancelled")]
    NotCancellable { order_id: u64, status: OrderStatus },
    #[error("order {0} has a card payment in flight; wait for it to settle")]
    PaymentInProgress(u64),
}

/// An order as a cancellation needs it, loaded (and locked) by the adapter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CancellableOrder {
    pub order_id: u64,
    pub buyer_id: u64,
    pub status: OrderStatus,
    pub card_payment_pending: bool,
}

impl CancellableOrder {
    /// The status `user_id` cancelling it moves it to.
    pub fn cancel_by(&self, user_id: u64) -> Result<OrderStatus, CancelRefusal> {
        let order_id = self.order_id;
        if user_id != self.buyer_id {
            return Err(CancelRefusal::NotFound(order_id));
        }
        let status = self.status;
        match status {
            OrderStatus::Paid | OrderStatus::Completed => {
                Err(CancelRefusal::PaidRefundInstead { order_id, status })
            }
            OrderStatus::Pending if self.card_payment_pending => {
                Err(CancelRefusal::PaymentInProgress(order_id))
            }
            _ => status
                .cancel()
                .map_err(|_| CancelRefusal::NotCancellable { order_id, status }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use OrderStatus::*;

    fn order(status: OrderStatus, card_payment_pending: bool) -> CancellableOrder {
        CancellableOrder {
            order_id: 5,
            buyer_id: 1,
            status,
            card_payment_pending,
        }
    }

    #[test]
    fn the_buyer_cancels_a_pending_order() {
        assert_eq!(order(Pending, false).cancel_by(1), Ok(Cancelled));
    }

    #[test]
    fn someone_else_sees_no_such_order() {
        assert_eq!(
            order(Pending, false).cancel_by(2),
            Err(CancelRefusal::NotFound(5))
        );
    }

    #[test]
    fn a_paid_order_is_refunded_not_cancelled() {
        for paid in [Paid, Completed] {
            let refused = order(paid, false).cancel_by(1).unwrap_err();
            assert!(matches!(refused, CancelRefusal::PaidRefundInstead { .. }));
        }
    }

    #[test]
    fn terminal_orders_and_card_payments_in_flight_stay() {
        for terminal in [Failed, Cancelled, Refunded] {
            let refused = order(terminal, false).cancel_by(1).unwrap_err();
            assert!(matches!(refused, CancelRefusal::NotCancellable { .. }));
        }
        assert_eq!(
            order(Pending, true).cancel_by(1),
            Err(CancelRefusal::PaymentInProgress(5))
        );
    }
}
