//! The payment gateway (PG): the shop's client and the callback signature.
//!
//! The client wraps every call in a timeout, retries only what is safe to
//! repeat (status queries; payment requests carry an `Idempotency-Key`, so
//! the PG answers a repeat with the same transaction), and goes through a
//! [`CircuitBreaker`] that answers at once while the PG keeps failing.

mod breaker;
mod client;
pub mod signature;

pub use breaker::CircuitBreaker;
pub use client::{PgClient, PgError, PgRefund, PgSettings, PgStatus};
