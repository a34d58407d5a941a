//! Stampede's domain: the types and rules of flash sales, free of I/O.
//!
//! Adapters (MariaDB, Redis, Kafka, HTTP) live in `stampede-infra` and
//! `stampede-api`; they implement the traits declared here and depend on
//! this crate, never the other way round.
//!
//! - [`events`]: the envelope every event travels in, and topic names.
//! - [`fcfs`]: the first-come-first-served gate's vocabulary and flow, shared
//!   by coupons and campaigns, the claim ledger's argument, and the pools'
//!   lifecycle, creation rules and the one check whether a pool is open.
//! - [`healing`]: when a dead request's claim may be given back.
//! - [`coupon`]: coupon policies, user coupons, the queue mode's requests.
//! - [`campaign`]: campaigns and their winning entries.
//! - [`order`]: orders, pricing with coupons, the order state machine.
//! - [`payment`]: payment methods, the payment state machine, payment events.
//! - [`concert`]: concert ticketing: queue tokens, seats, reservations, the sold-out ranking.
//! - [`status`]: the text of every status enum (`status_enum!`), unknown text refused.

pub mod campaign;
pub mod concert;
pub mod coupon;
pub mod events;
pub mod fcfs;
pub mod healing;
pub mod order;
pub mod payment;
pub mod points;
pub mod status;
