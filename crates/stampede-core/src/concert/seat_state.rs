//! A seat as its row lock found it, and the changes core allows on it:
//! held for a new reservation, sold to, released by or refunded to the
//! reservation that holds it.
//!
//! The adapter locks the seat row, asks one of these, and writes the
//! answer with `UPDATE seats … WHERE status = <from> AND reservation_id <=>
//! <holder_before>`, so the decision here and the guard in SQL are one.

use super::SeatStatus;
use chrono::{DateTime, Utc};

/// A seat as its row lock read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeatState {
    pub schedule_id: u64,
    pub status: SeatStatus,
    /// The reservation holding or owning it.
    pub holder: Option<u64>,
    pub hold_until: Option<DateTime<Utc>>,
}

/// A change of one seat row: from the state and holder it was read in to
/// another state and holder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeatChange {
    pub from: SeatStatus,
    pub holder_before: Option<u64>,
    pub to: SeatStatus,
    pub holder_after: Option<u64>,
    /// Until when the new holder holds it (only a hold has one).
    pub hold_until: Option<DateTime<Utc>>,
}

/// Why a seat cannot be held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HoldRefusal {
    #[error("schedule {schedule_id} has no seat {seat_id}")]
    SeatNotFound { schedule_id: u64, seat_id: u64 },
    #[error("seat {0} is held or sold")]
    SeatTaken(u64),
}

/// A hold core allowed, before the new reservation has an id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeatHold {
    from: SeatStatus,
    holder_before: Option<u64>,
    to: SeatStatus,
    /// The reservation whose hold on the seat ran out: it is ended
    /// (PENDING → EXPIRED, if it still is) before the seat is held again.
    pub stale_holder: Option<u64>,
}

impl SeatHold {
    /// The seat's change once the new reservation is written as `reservation_id`.
    pub fn for_reservation(self, reservation_id: u64, hold_until: DateTime<Utc>) -> SeatChange {
        SeatChange {
            from: self.from,
            holder_before: self.holder_before,
            to: self.to,
            holder_after: Some(reservation_id),
            hold_until: Some(hold_until),
        }
    }
}

impl SeatState {
    /// Whether this seat, `seat_id`, may be held at `now` for a buyer of
    /// `schedule_id`: an AVAILABLE seat, or a HELD one whose hold has passed
    /// (released, its holder ended, then held again). A seat of another
    /// schedule is not found; a live hold or a sale is taken.
    pub fn hold(
        &self,
        schedule_id: u64,
        seat_id: u64,
        now: DateTime<Utc>,
    ) -> Result<SeatHold, HoldRefusal> {
        if self.schedule_id != schedule_id {
            return Err(HoldRefusal::SeatNotFound {
                schedule_id,
                seat_id,
            });
        }
        let lapsed = self.status.as_of(self.hold_until, now) != self.status;
        let (to, stale_holder) = if lapsed {
            let again = self.status.release().and_then(SeatStatus::hold);
            (again, self.holder)
        } else {
            (self.status.hold(), None)
        };
        Ok(SeatHold {
            from: self.status,
            holder_before: self.holder.filter(|_| lapsed),
            to: to.map_err(|_| HoldRefusal::SeatTaken(seat_id))?,
            stale_holder,
        })
    }

    /// HELD by `reservation_id` → SOLD to it (its payment); `None` when the
    /// seat is no longer held for it.
    pub fn sell_to(&self, reservation_id: u64) -> Option<SeatChange> {
        self.move_for(reservation_id, self.status.sell(), Some(reservation_id))
    }

    /// HELD by `reservation_id` → AVAILABLE (its payment failed or its hold
    /// ended); `None` when it no longer holds the seat.
    pub fn release_from(&self, reservation_id: u64) -> Option<SeatChange> {
        self.move_for(reservation_id, self.status.release(), None)
    }

    /// SOLD to `reservation_id` → AVAILABLE (its payment refunded in full);
    /// `None` when the seat is not its sold seat.
    pub fn refund_from(&self, reservation_id: u64) -> Option<SeatChange> {
        self.move_for(reservation_id, self.status.refund(), None)
    }

    fn move_for<E>(
        &self,
        reservation_id: u64,
        to: Result<SeatStatus, E>,
        holder_after: Option<u64>,
    ) -> Option<SeatChange> {
        let to = to.ok().filter(|_| self.holder == Some(reservation_id))?;
        Some(SeatChange {
            from: self.status,
            holder_before: self.holder,
            to,
            holder_after,
            hold_until: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;
    use SeatStatus::*;

    fn seat(status: SeatStatus, holder: Option<u64>, until: Option<DateTime<Utc>>) -> SeatState {
        SeatState {
            schedule_id: 2,
            status,
            holder,
            hold_until: until,
        }
    }

    #[test]
    fn an_available_seat_is_held_for_the_new_reservation() {
        let now = Utc::now();
        let free = seat(Available, None, None);
        let hold = free.hold(2, 40, now).unwrap();
        assert_eq!(hold.stale_holder, None);
        assert_eq!(
            hold.for_reservation(9, now),
            SeatChange {
                from: Available,
                holder_before: None,
                to: Held,
                holder_after: Some(9),
                hold_until: Some(now),
            }
        );
    }

    #[test]
    fn a_seat_whose_hold_ran_out_is_held_again_after_its_holder_ends() {
        let now = Utc::now();
        let lapsed = seat(Held, Some(7), Some(now - Duration::seconds(1)));
        let hold = lapsed.hold(2, 40, now).unwrap();
        assert_eq!(hold.stale_holder, Some(7));
        let change = hold.for_reservation(9, now);
        assert_eq!(
            (
                change.from,
                change.holder_before,
                change.to,
                change.holder_after
            ),
            (Held, Some(7), Held, Some(9))
        );
    }

    #[test]
    fn a_live_hold_or_a_sale_takes_the_seat() {
        let now = Utc::now();
        let live = seat(Held, Some(7), Some(now + Duration::seconds(1)));
        let sold = seat(Sold, Some(7), None);
        for taken in [live, sold] {
            assert_eq!(taken.hold(2, 40, now), Err(HoldRefusal::SeatTaken(40)));
        }
    }

    #[test]
    fn a_seat_of_another_schedule_is_not_found() {
        let elsewhere = seat(Available, None, None);
        assert_eq!(
            elsewhere.hold(3, 40, Utc::now()),
            Err(HoldRefusal::SeatNotFound {
                schedule_id: 3,
                seat_id: 40,
            })
        );
    }

    #[test]
    fn only_its_holder_sells_or_releases_a_held_seat() {
        let held = seat(Held, Some(7), Some(Utc::now()));
        let sold = held.sell_to(7).unwrap();
        assert_eq!(
            (sold.from, sold.holder_before, sold.to, sold.holder_after),
            (Held, Some(7), Sold, Some(7))
        );
        let released = held.release_from(7).unwrap();
        assert_eq!(
            (released.to, released.holder_after, released.hold_until),
            (Available, None, None)
        );
        assert_eq!(held.sell_to(8), None, "another reservation's hold");
        assert_eq!(held.release_from(8), None);
        assert_eq!(held.refund_from(7), None, "a held seat was not sold");
    }

    #[test]
    fn only_the_sold_seat_of_a_refunded_reservation_is_on_sale_again() {
        let sold = seat(Sold, Some(7), None);
        let refunded = sold.refund_from(7).unwrap();
        assert_eq!(
            (refunded.from, refunded.to, refunded.holder_after),
            (Sold, Available, None)
        );
        assert_eq!(sold.refund_from(8), None);
        assert_eq!(sold.sell_to(7), None, "SOLD is final but for a refund");
        assert_eq!(sold.release_from(7), None);
        assert_eq!(seat(Available, None, None).release_from(7), None);
    }
}
