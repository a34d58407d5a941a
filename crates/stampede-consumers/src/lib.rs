//! Stampede's event consumers: one file per consumer, one line per
//! consumer in [`registry::all`].

pub mod campaign_entry_persist;
pub mod coupon_issue_queue;
pub mod coupon_persist;
pub mod data_platform;
pub mod notifications;
mod persist_winners;
pub mod registry;
pub mod transaction_history;
