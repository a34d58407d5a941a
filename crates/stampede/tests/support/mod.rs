//! Shared by the integration test binaries: unique settings, `stampede
//! serve` as a real child process (one, or a fleet behind a balancer),
//! `stampede pg-sim`, the local Apache Kafka brokers (the three-node
//! cluster, a private single broker) and the local Redis Cluster.

#![allow(dead_code)] // each test binary uses its own part of this module

pub mod brokers;
pub mod checks;
pub mod client;
pub mod fleet;
pub mod pg_sim;
pub mod redis_cluster;
pub mod serve;
pub mod settings;
pub mod topics;
