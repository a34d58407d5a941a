//! Paying a reservation with points: whether a reservation, its seat and
//! the buyer's balance, as their locks found them, may be paid now, and
//! what a failed payment ends the reservation as.

use super::seat_state::{SeatChange, SeatState};
use super::ReservationStatus;
use chrono::{DateTime, Utc};

/// A reservation as its row lock read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReservationState {
    pub id: u64,
    pub seat_id: u64,
    pub status: ReservationStatus,
    pub price: u64,
    pub hold_expires_at: DateTime<Utc>,
}

/// Why a reservation cannot be paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReservationPaymentRefusal {
    #[error("no reservation {0}")]
    NotFound(u64),
    #[error("reservation {id} is {status:?}; only PENDING reservations can be paid")]
    NotPayable { id: u64, status: ReservationStatus },
    #[error("the hold of reservation {0} has run out")]
    HoldExpired(u64),
    #[error("the points balance is lower than the price")]
    InsufficientPoints,
    #[error("seat {0} is no longer held for this reservation")]
    SeatLost(u64),
}

/// The stable code of a refusal by an expired hold, as `payment.failed` carries it.
const HOLD_EXPIRED: &str = "HOLD_EXPIRED";

impl ReservationPaymentRefusal {
    /// The stable code clients and `payment.failed` consumers see.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "RESERVATION_NOT_FOUND",
            Self::NotPayable { .. } => "RESERVATION_NOT_PAYABLE",
            Self::HoldExpired(_) => HOLD_EXPIRED,
            Self::InsufficientPoints => "INSUFFICIENT_POINTS",
            Self::SeatLost(_) => "SEAT_TAKEN",
        }
    }

    /// A business refusal, recorded as a FAILED payment with `payment.failed`
    /// (not a request that named nothing payable).
    pub fn fails_the_attempt(&self) -> bool {
        matches!(
            self,
            Self::HoldExpired(_) | Self::InsufficientPoints | Self::SeatLost(_)
        )
    }
}

/// What paying a reservation writes: the reservation from its loaded
/// status to CONFIRMED, and its seat HELD → SOLD.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReservationPayment {
    pub from: ReservationStatus,
    pub to: ReservationStatus,
    pub seat: SeatChange,
}

impl ReservationState {
    /// Whether this reservation may be paid at `now` from `balance`, its
    /// seat as `seat` (the seat row, locked first): PENDING, its hold not
    /// run out, the balance covering the price, the seat still held for it.
    pub fn pay(
        &self,
        seat: &SeatState,
        balance: u64,
        now: DateTime<Utc>,
    ) -> Result<ReservationPayment, ReservationPaymentRefusal> {
        let to = self
            .status
            .confirm()
            .map_err(|_| ReservationPaymentRefusal::NotPayable {
                id: self.id,
                status: self.status,
            })?;
        if self.hold_expires_at <= now {
            return Err(ReservationPaymentRefusal::HoldExpired(self.id));
        }
        if balance < self.price {
            return Err(ReservationPaymentRefusal::InsufficientPoints);
        }
        let seat = seat
            .sell_to(self.id)
            .ok_or(ReservationPaymentRefusal::SeatLost(self.seat_id))?;
        Ok(ReservationPayment {
            from: self.status,
            to,
            seat,
        })
    }
}

/// How a reservation whose payment failed ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReservationEnding {
    /// Its hold ran out before it was paid: EXPIRED.
    Expire,
    /// Any other failure: CANCELLED.
    Cancel,
}

impl ReservationEnding {
    /// The ending a `payment.failed` with `reason` asks for.
    pub fn after_failed_payment(reason: &str) -> Self {
        if reason == HOLD_EXPIRED {
            Self::Expire
        } else {
            Self::Cancel
        }
    }

    /// The reservation's next status from its loaded `status`; an error
    /// when it already left PENDING (terminal states never move).
    pub fn apply(
        self,
        status: ReservationStatus,
    ) -> Result<ReservationStatus, super::InvalidReservationTransition> {
        match self {
            Self::Expire => status.expire(),
            Self::Cancel => status.cancel(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::concert::SeatStatus;
    use chrono::Duration;
    use ReservationStatus::*;

    fn reservation(status: ReservationStatus, hold_left: i64) -> ReservationState {
        ReservationState {
            id: 7,
            seat_id: 40,
            status,
            price: 100,
            hold_expires_at: Utc::now() + Duration::seconds(hold_left),
        }
    }

    fn held_by(holder: u64) -> SeatState {
        SeatState {
            schedule_id: 2,
            status: SeatStatus::Held,
            holder: Some(holder),
            hold_until: Some(Utc::now() + Duration::seconds(60)),
        }
    }

    #[test]
    fn a_pending_reservation_with_its_seat_and_enough_points_is_paid() {
        let paid = reservation(Pending, 60)
            .pay(&held_by(7), 100, Utc::now())
            .unwrap();
        assert_eq!((paid.from, paid.to), (Pending, Confirmed));
        assert_eq!(
            (paid.seat.from, paid.seat.to, paid.seat.holder_after),
            (SeatStatus::Held, SeatStatus::Sold, Some(7))
        );
    }

    #[test]
    fn only_a_pending_reservation_is_payable() {
        for settled in [Confirmed, Cancelled, Expired, Refunded] {
            assert_eq!(
                reservation(settled, 60).pay(&held_by(7), 100, Utc::now()),
                Err(ReservationPaymentRefusal::NotPayable {
                    id: 7,
                    status: settled
                })
            );
        }
    }

    #[test]
    fn a_hold_that_ran_out_cannot_be_paid() {
        let now = Utc::now();
        let mut lapsed = reservation(Pending, 0);
        lapsed.hold_expires_at = now;
        assert_eq!(
            lapsed.pay(&held_by(7), 100, now),
            Err(ReservationPaymentRefusal::HoldExpired(7))
        );
    }

    #[test]
    fn the_balance_must_cover_the_price() {
        assert_eq!(
            reservation(Pending, 60).pay(&held_by(7), 99, Utc::now()),
            Err(ReservationPaymentRefusal::InsufficientPoints)
        );
    }

    #[test]
    fn a_seat_no_longer_held_for_it_is_lost() {
        let payable = reservation(Pending, 60);
        let lost = Err(ReservationPaymentRefusal::SeatLost(40));
        assert_eq!(payable.pay(&held_by(8), 100, Utc::now()), lost);
        let mut sold = held_by(7);
        sold.status = SeatStatus::Sold;
        assert_eq!(payable.pay(&sold, 100, Utc::now()), lost);
    }

    #[test]
    fn business_refusals_fail_the_attempt_and_keep_their_codes() {
        use ReservationPaymentRefusal as R;
        assert!(R::HoldExpired(1).fails_the_attempt());
        assert!(R::InsufficientPoints.fails_the_attempt());
        assert!(R::SeatLost(1).fails_the_attempt());
        assert!(!R::NotFound(1).fails_the_attempt());
        let not_payable = R::NotPayable {
            id: 1,
            status: Confirmed,
        };
        assert!(!not_payable.fails_the_attempt());
        assert_eq!(R::SeatLost(1).code(), "SEAT_TAKEN");
        assert_eq!(not_payable.code(), "RESERVATION_NOT_PAYABLE");
    }

    #[test]
    fn an_expired_hold_expires_the_reservation_any_other_failure_cancels_it() {
        let code = ReservationPaymentRefusal::HoldExpired(7).code();
        assert_eq!(
            ReservationEnding::after_failed_payment(code),
            ReservationEnding::Expire
        );
        let other = ReservationEnding::after_failed_payment("INSUFFICIENT_POINTS");
        assert_eq!(other, ReservationEnding::Cancel);
        assert_eq!(ReservationEnding::Expire.apply(Pending), Ok(Expired));
        assert_eq!(ReservationEnding::Cancel.apply(Pending), Ok(Cancelled));
        assert!(ReservationEnding::Cancel.apply(Confirmed).is_err());
    }
}
