//! One module per subcommand.

pub mod audit;
pub mod demo;
pub mod migrate;
pub mod reconcile;
pub mod serve;
pub mod token;
