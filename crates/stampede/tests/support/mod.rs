//! Shared by the integration test binaries: unique settings, `stampede
//! serve` as a real child process, and the local Apache Kafka brokers
//! (the three-node cluster, a private single broker).

#![allow(dead_code)] // each test binary uses its own part of this module

pub mod brokers;
pub mod checks;
pub mod client;
pub mod serve;
pub mod settings;
