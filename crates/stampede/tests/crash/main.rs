//! Crash-proof: `stampede serve` as a child process, killed with `kill -9`
//! at random moments under load, Redis emptied and MariaDB restarted once
//! each; after the last restart the healer, not an operator, makes every
//! invariant hold again. Shares MariaDB and Redis with nothing else while it
//! runs, so scripts/test.sh runs it after the parallel suite.

mod driver;
mod kill_nine;
mod seats;
#[path = "../support/mod.rs"]
mod support;
