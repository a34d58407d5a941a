//! `stampede pg-sim` in-process: the simulator on port 0 via `serve`, and a
//! callback sink on port 0 that records what the PG sends it.

mod api;
mod faults;
mod refunds;
mod support;
