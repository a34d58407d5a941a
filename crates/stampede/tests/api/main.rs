//! Integration tests: each spawns the real application against real
//! MariaDB, Redis and a Kafka-protocol broker, with its own database,
//! topic prefix, group prefix and Redis key prefix.

mod after_payment;
mod backbone;
mod card;
mod chaos;
mod fcfs;
mod fcfs_failures;
mod helpers;
mod http;
mod payments;
mod resilience;
mod sink;
