//! Stampede's event consumers: one file per consumer, one line per consumer
//! in the `register!` list below.
//!
//! A consumer file holds a handler and a `spec(&Infra)` function returning
//! its [`ConsumerSpec`] (name, group, topics, handler), or an
//! `Option<ConsumerSpec>` when it only runs if configured. The runtime gives
//! each consumer its own Kafka client and task, manual commits, retries and
//! a dead-letter topic; no producer of events knows its consumers.

mod persist_winners;
#[macro_use]
mod registry;

pub use registry::Registration;

register! {
    coupon_persist,
    campaign_entry_persist,
    coupon_issue_queue,
    transaction_history,
    notifications,
    refund_notifications,
    data_platform,
    sold_out_ranking,
    post_payment_cleanup,
    payment_compensator,
    seat_lock,
    ticket_email,
}
