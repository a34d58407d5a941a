//! Stampede's adapters: everything that talks to MariaDB, Redis or Kafka.
//!
//! - [`fcfs_pools`]: opening and closing coupon policies and campaigns, database and gate together.
//! - [`mysql`]: pool, database creation, embedded migrations, idempotent-consumer helper.
//! - [`redis`]: connection manager.
//! - [`kafka`]: topic admin, the idempotent producer, the consumer runtime and dead letters.
//! - [`outbox`]: the transactional outbox writer and its relay to Kafka.
//! - [`notify`]: webhooks and e-mail for the after-payment consumers.
//! - [`pg`]: the payment gateway client (timeouts, safe retries, circuit breaker) and callback signatures.
//! - [`Infra`]: the handles above, built once and shared.

pub mod fcfs_pools;
pub mod kafka;
pub mod mysql;
pub mod notify;
pub mod outbox;
pub mod pg;
pub mod redis;
pub mod refund_flow;

mod infra;
pub use infra::{ConcertSettings, FcfsSettings, Infra, InfraSettings, QueueSettings};
