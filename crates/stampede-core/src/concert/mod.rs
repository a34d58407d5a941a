//! Concert ticketing: a waiting queue in front of the box office,
//! seats held for a few minutes while their buyer pays, reservations that
//! end CONFIRMED, CANCELLED or EXPIRED, and the sold-out ranking.
//!
//! - [`on_sale`]: what an admin puts on sale (concert, schedules, seat blocks).
//! - [`seat`]: seats and their states (AVAILABLE → HELD → SOLD).
//! - [`reservation`]: reservations and their states, `reservation.created`.
//! - [`seat_state`]: a locked seat, and whether it may be held, sold,
//!   released or refunded.
//! - [`reservation_payment`]: whether a locked reservation may be paid, and
//!   how one whose payment failed ends.
//! - [`queue`]: what a waiting-queue token says about its holder.
//! - [`ranking`]: how fast a schedule sold out.
//! - [`admission`]: how many waiting tokens the queue admits, and when a
//!   waiting token has lost its place.
//! - [`eta`]: the estimated wait, from the measured admission outflow.
//! - [`fair_opening`]: the pre-queue's keyed random order at the opening.

pub mod admission;
pub mod eta;
pub mod fair_opening;
pub mod on_sale;
pub mod queue;
pub mod ranking;
pub mod reservation;
pub mod reservation_payment;
pub mod seat;
pub mod seat_state;

pub use admission::{AdmissionRules, AdmissionRulesError};
pub use on_sale::{NewConcert, NewSchedule, SeatBlock};
pub use queue::QueueTokenStatus;
pub use reservation::{InvalidReservationTransition, ReservationCreated, ReservationStatus};
pub use reservation_payment::{
    ReservationEnding, ReservationPayment, ReservationPaymentRefusal, ReservationState,
};
pub use seat::{InvalidSeatTransition, SeatGrade, SeatStatus};
pub use seat_state::{HoldRefusal, SeatChange, SeatHold, SeatState};
