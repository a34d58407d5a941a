//! Reservations: a seat held for one buyer until they pay or the hold ends.

use crate::events::{topics, DomainEvent};
use crate::status::{transition, InvalidTransition};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

crate::status_enum! {
    /// PENDING (the seat is held) → CONFIRMED (paid) | CANCELLED (payment
    /// failed, compensated) | EXPIRED (the hold ran out); CONFIRMED → REFUNDED
    /// (its payment refunded in full, the seat AVAILABLE again). CANCELLED,
    /// EXPIRED and REFUNDED are terminal.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
    pub enum ReservationStatus {
        Pending = "PENDING",
        Confirmed = "CONFIRMED",
        Cancelled = "CANCELLED",
        Expired = "EXPIRED",
        Refunded = "REFUNDED",
    }
}

pub type InvalidReservationTransition = InvalidTransition<ReservationStatus>;

impl ReservationStatus {
    /// No transition leaves it (CONFIRMED may still be refunded).
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Cancelled | Self::Expired | Self::Refunded)
    }

    pub fn confirm(self) -> Result<Self, InvalidReservationTransition> {
        self.to(Self::Confirmed)
    }

    pub fn cancel(self) -> Result<Self, InvalidReservationTransition> {
        self.to(Self::Cancelled)
    }

    pub fn expire(self) -> Result<Self, InvalidReservationTransition> {
        self.to(Self::Expired)
    }

    /// Its payment was refunded in full: only a paid reservation can be.
    pub fn refund(self) -> Result<Self, InvalidReservationTransition> {
        transition(self, &[Self::Confirmed], Self::Refunded)
    }

    /// What a reader should see at `now`: a PENDING reservation whose hold
    /// has passed is EXPIRED even before anything wrote it down.
    pub fn as_of(self, hold_expires_at: DateTime<Utc>, now: DateTime<Utc>) -> Self {
        if self == Self::Pending && hold_expires_at <= now {
            Self::Expired
        } else {
            self
        }
    }

    fn to(self, to: Self) -> Result<Self, InvalidReservationTransition> {
        transition(self, &[Self::Pending], to)
    }
}

/// `reservation.created`: a seat is held for `user_id` until `hold_expires_at`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReservationCreated {
    pub reservation_id: u64,
    pub user_id: u64,
    pub concert_id: u64,
    pub schedule_id: u64,
    pub seat_id: u64,
    pub price: u64,
    /// The value of the seat's Redis hold key.
    pub hold_id: Uuid,
    pub hold_expires_at: DateTime<Utc>,
}

impl DomainEvent for ReservationCreated {
    const EVENT_TYPE: &'static str = topics::RESERVATION_CREATED;
    fn aggregate_type(&self) -> &'static str {
        "reservation"
    }
    fn aggregate_id(&self) -> String {
        self.reservation_id.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::ReservationStatus::*;
    use chrono::Duration;

    #[test]
    fn only_pending_reservations_move() {
        assert_eq!(Pending.confirm(), Ok(Confirmed));
        assert_eq!(Pending.cancel(), Ok(Cancelled));
        assert_eq!(Pending.expire(), Ok(Expired));
        for settled in [Confirmed, Cancelled, Expired, Refunded] {
            assert_eq!(settled.is_terminal(), settled != Confirmed);
            let terminal = settled;
            assert!(terminal.confirm().is_err());
            assert!(terminal.cancel().is_err());
            assert!(terminal.expire().is_err());
        }
    }

    #[test]
    fn only_a_confirmed_reservation_is_refunded() {
        assert_eq!(Confirmed.refund(), Ok(Refunded));
        for other in [Pending, Cancelled, Expired, Refunded] {
            assert!(other.refund().is_err());
        }
        assert_eq!(super::ReservationStatus::parse("REFUNDED"), Ok(Refunded));
    }

    #[test]
    fn a_pending_reservation_past_its_hold_reads_as_expired() {
        let now = chrono::Utc::now();
        assert_eq!(Pending.as_of(now - Duration::seconds(1), now), Expired);
        assert_eq!(Pending.as_of(now + Duration::seconds(1), now), Pending);
        assert_eq!(
            Confirmed.as_of(now - Duration::seconds(1), now),
            Confirmed,
            "a paid seat stays paid"
        );
    }
}
