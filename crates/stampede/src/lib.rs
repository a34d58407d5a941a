//! The `stampede` binary's library half: configuration, start-up and the
//! subcommands. `main.rs` only parses the command line and dispatches, so
//! tests build the very same [`startup::Application`].

pub mod admission;
pub mod bench;
pub mod commands;
pub mod configuration;
pub mod healer;
pub mod idempotency_pruner;
pub mod probe;
pub mod reconcile;
pub mod startup;
pub mod tracing_setup;
