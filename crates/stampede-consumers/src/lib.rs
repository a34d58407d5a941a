//! Stampede's event consumers: one file per consumer, one line per
//! consumer in [`registry::all`].

pub mod registry;
