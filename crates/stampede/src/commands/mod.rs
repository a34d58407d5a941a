//! One module per subcommand.

pub mod audit;
pub mod demo;
pub mod dlt;
pub mod migrate;
pub mod pg_sim;
pub mod reconcile;
pub mod report;
pub mod serve;
pub mod token;
