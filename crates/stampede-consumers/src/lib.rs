//! Stampede's event consumers: one file per consumer, one line per
//! consumer in [`registry::all`].

pub mod campaign_entry_persist;
pub mod coupon_issue_queue;
pub mod coupon_persist;
mod persist_winners;
pub mod registry;
