//! Every consumer the service runs.
//!
//! Adding a consumer is one file (a handler and a `spec` function returning
//! its [`ConsumerSpec`]: name, group, topics, handler) plus one line below.
//! The runtime gives it its own Kafka client and task, manual commits,
//! retries and a dead-letter topic; nothing else changes.

use stampede_infra::kafka::consumer::ConsumerSpec;
use stampede_infra::Infra;

/// The consumers `serve` starts.
pub fn all(infra: &Infra) -> Vec<ConsumerSpec> {
    vec![
        crate::coupon_persist::spec(infra),
        crate::campaign_entry_persist::spec(infra),
        crate::coupon_issue_queue::spec(infra),
        crate::transaction_history::spec(infra),
        crate::notifications::spec(infra),
    ]
    .into_iter()
    .chain(crate::data_platform::spec(infra))
    .collect()
}
