//! Seats: a grade, a price and a state.

use crate::status::{transition, InvalidTransition};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

crate::status_enum! {
    /// AVAILABLE → HELD (a reservation holds it while its buyer pays) → SOLD;
    /// HELD → AVAILABLE when the hold is released or cancelled; SOLD →
    /// AVAILABLE only when its payment is refunded in full.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
    pub enum SeatStatus {
        Available = "AVAILABLE",
        Held = "HELD",
        Sold = "SOLD",
    }
}

pub type InvalidSeatTransition = InvalidTransition<SeatStatus>;

impl SeatStatus {
    /// The status as of `now`: a HELD seat whose hold has passed is
    /// available again, though no statement has said so yet.
    pub fn as_of(self, hold_until: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Self {
        match self {
            Self::Held if hold_until.is_some_and(|until| until <= now) => Self::Available,
            status => status,
        }
    }

    pub fn hold(self) -> Result<Self, InvalidSeatTransition> {
        self.to(Self::Held, Self::Available)
    }

    pub fn sell(self) -> Result<Self, InvalidSeatTransition> {
        self.to(Self::Sold, Self::Held)
    }

    pub fn release(self) -> Result<Self, InvalidSeatTransition> {
        self.to(Self::Available, Self::Held)
    }

    /// A sold seat whose payment was refunded is on sale again.
    pub fn refund(self) -> Result<Self, InvalidSeatTransition> {
        self.to(Self::Available, Self::Sold)
    }

    /// Moves to `to`, which is only reachable from `from`.
    fn to(self, to: Self, from: Self) -> Result<Self, InvalidSeatTransition> {
        transition(self, &[from], to)
    }
}

/// A seat grade (`VIP`, `R`, `S`, `A`, …): 1–16 letters or digits, upper case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Hash)]
/// The document states the same rule as [`SeatGrade::parse`].
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(value_type = String, pattern = "^[A-Z0-9]{1,16}$")
)]
#[serde(try_from = "String", into = "String")]
pub struct SeatGrade(String);

impl SeatGrade {
    pub fn parse(text: &str) -> Result<Self, String> {
        let ok = (1..=16).contains(&text.len())
            && text
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
        if ok {
            Ok(Self(text.to_owned()))
        } else {
            Err(format!(
                "seat grade `{text}` must be 1-16 upper-case letters or digits"
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for SeatGrade {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        Self::parse(&text)
    }
}

impl From<SeatGrade> for String {
    fn from(grade: SeatGrade) -> Self {
        grade.0
    }
}

#[cfg(test)]
mod tests {
    use super::SeatStatus::*;
    use super::*;

    #[test]
    fn a_seat_is_held_before_it_is_sold_and_sold_is_final() {
        assert_eq!(Available.hold(), Ok(Held));
        assert_eq!(Held.sell(), Ok(Sold));
        assert_eq!(Held.release(), Ok(Available));
        assert!(Available.sell().is_err(), "no sale without a hold");
        assert!(Held.hold().is_err());
        for transition in [SeatStatus::hold, SeatStatus::sell, SeatStatus::release] {
            assert!(transition(Sold).is_err(), "SOLD is only left by a refund");
        }
        assert_eq!(Sold.refund(), Ok(Available));
        assert!(Held.refund().is_err() && Available.refund().is_err());
    }

    #[test]
    fn grades_are_short_upper_case_words() {
        assert!(SeatGrade::parse("VIP").is_ok());
        assert!(SeatGrade::parse("R1").is_ok());
        assert!(SeatGrade::parse("").is_err());
        assert!(SeatGrade::parse("vip").is_err());
        assert!(SeatGrade::parse("SEVENTEEN-LETTERS").is_err());
    }

    #[test]
    fn a_hold_that_ran_out_reads_available() {
        let now = Utc::now();
        let second = chrono::Duration::seconds(1);
        assert_eq!(Held.as_of(Some(now), now), Available);
        assert_eq!(Held.as_of(Some(now - second), now), Available);
        assert_eq!(Held.as_of(Some(now + second), now), Held);
        assert_eq!(Held.as_of(None, now), Held);
    }

    #[test]
    fn only_held_seats_change_with_time() {
        let now = Utc::now();
        let past = Some(now - chrono::Duration::seconds(1));
        assert_eq!(Available.as_of(past, now), Available);
        assert_eq!(Sold.as_of(past, now), Sold);
    }
}
