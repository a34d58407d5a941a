//! Concert ticketing: a waiting queue in front of the box office,
//! seats held for a few minutes while their buyer pays, reservations that
//! end CONFIRMED, CANCELLED or EXPIRED, and the sold-out ranking.
//!
//! - [`on_sale`]: what an admin puts on sale (concert, schedules, seat blocks).
//! - [`seat`]: seats and their states (AVAILABLE → HELD → SOLD).
//! - [`reservation`]: reservations and their states, `reservation.created`.
//! - [`queue`]: what a waiting-queue token says about its holder.
//! - [`ranking`]: how fast a schedule sold out.

pub mod on_sale;
pub mod queue;
pub mod ranking;
pub mod reservation;
pub mod seat;

pub use on_sale::{NewConcert, NewSchedule, SeatBlock};
pub use queue::QueueTokenStatus;
pub use reservation::{InvalidReservationTransition, ReservationCreated, ReservationStatus};
pub use seat::{InvalidSeatTransition, SeatGrade, SeatStatus};
