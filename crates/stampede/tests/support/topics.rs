//! A test's own topics, deleted when it ends: the broker keeps files open
//! for every partition, and a day of test runs leaving theirs behind took
//! the dev broker past its open-file limit ("Too many open files").
//! `scripts/test.sh` still deletes what a failed test left.

use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::ClientConfig;
use std::time::Duration;

/// Deletes every topic named `prefix…` on `bootstrap`; best effort (a test
/// that passed does not fail for its clean-up).
pub async fn delete_topics_named(bootstrap: &str, prefix: &str) {
    let Ok(admin) = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create::<AdminClient<DefaultClientContext>>()
    else {
        return;
    };
    // Blocking, but only at the end of a test whose app has stopped.
    let Ok(metadata) = admin.inner().fetch_metadata(None, Duration::from_secs(5)) else {
        return;
    };
    let names: Vec<&str> = metadata
        .topics()
        .iter()
        .map(|t| t.name())
        .filter(|name| name.starts_with(prefix))
        .collect();
    if names.is_empty() {
        return;
    }
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    if let Err(error) = admin.delete_topics(&names, &options).await {
        eprintln!("could not delete the test's topics {prefix}*: {error}");
    }
}
