//! Stampede's domain: the types and rules of flash sales, free of I/O.
//!
//! Adapters (MariaDB, Redis, Kafka, HTTP) live in `stampede-infra` and
//! `stampede-api`; they depend on this crate, never the other way round.

pub mod events;
