//! Closing a consumer without blocking the thread that lets go of it.
//!
//! rust-rdkafka closes a consumer that has a `group.id` inside `Drop`, polling
//! until librdkafka reports the close finished, with no time bound
//! (fede1024/rust-rdkafka#509). When the close never finishes (a broker that
//! does not answer the group leave), the dropping thread hangs for good: a
//! tokio worker, or, on a current-thread runtime, the whole runtime, timers
//! included, so no timeout can ever fire. [`ClosingConsumer`] closes on a
//! thread of its own instead: a graceful stop waits for it a bounded time,
//! and a plain drop (a cancelled task, a runtime shutting down) does not wait.

use rdkafka::consumer::{ConsumerContext, StreamConsumer};
use std::ops::Deref;
use std::time::Duration;
use tokio::sync::oneshot;

/// A [`StreamConsumer`] whose close never blocks its owner's thread.
pub struct ClosingConsumer<C: ConsumerContext + 'static>(Option<StreamConsumer<C>>);

impl<C: ConsumerContext + 'static> ClosingConsumer<C> {
    pub fn new(consumer: StreamConsumer<C>) -> Self {
        Self(Some(consumer))
    }

    /// Closes the consumer (leaving its group) and waits at most `within`;
    /// false when the close did not finish in time and goes on unattended.
    pub async fn close(mut self, within: Duration) -> bool {
        let (finished, closed) = oneshot::channel();
        if let Some(consumer) = self.0.take() {
            close_on_own_thread(consumer, Some(finished));
        }
        matches!(tokio::time::timeout(within, closed).await, Ok(Ok(())))
    }
}

impl<C: ConsumerContext + 'static> Deref for ClosingConsumer<C> {
    type Target = StreamConsumer<C>;

    fn deref(&self) -> &Self::Target {
        self.0
            .as_ref()
            .expect("the consumer is only taken by close, which consumes self")
    }
}

impl<C: ConsumerContext + 'static> Drop for ClosingConsumer<C> {
    fn drop(&mut self) {
        if let Some(consumer) = self.0.take() {
            close_on_own_thread(consumer, None);
        }
    }
}

fn close_on_own_thread<C: ConsumerContext + 'static>(
    consumer: StreamConsumer<C>,
    finished: Option<oneshot::Sender<()>>,
) {
    // Should no thread be available, the closure (and the consumer) is
    // dropped right here: the blocking close this type exists to avoid, but
    // never a leak.
    let _ = std::thread::Builder::new()
        .name("kafka-consumer-close".into())
        .spawn(move || {
            drop(consumer);
            if let Some(finished) = finished {
                let _ = finished.send(());
            }
        });
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::consumer::Consumer;
    use rdkafka::{ClientConfig, ClientContext};
    use std::time::Instant;

    /// A context whose teardown takes its duration: it stands in for a
    /// close that does not finish, deterministically and without a broker.
    struct SlowTeardown(Duration);

    impl ClientContext for SlowTeardown {}
    impl ConsumerContext for SlowTeardown {}

    impl Drop for SlowTeardown {
        fn drop(&mut self) {
            std::thread::sleep(self.0);
        }
    }

    fn consumer(teardown: Duration) -> ClosingConsumer<SlowTeardown> {
        let consumer: StreamConsumer<SlowTeardown> = ClientConfig::new()
            .set("bootstrap.servers", "127.0.0.1:1")
            .set("group.id", "closing-test")
            .create_with_context(SlowTeardown(teardown))
            .expect("a consumer is created without a broker");
        consumer.subscribe(&["closing-test"]).unwrap();
        ClosingConsumer::new(consumer)
    }

    #[tokio::test]
    async fn dropping_never_waits_for_the_close() {
        let consumer = consumer(Duration::from_secs(3));
        let started = Instant::now();
        drop(consumer);
        assert!(started.elapsed() < Duration::from_millis(500));
    }

    #[tokio::test]
    async fn a_graceful_close_waits_at_most_its_bound() {
        let started = Instant::now();
        let finished = consumer(Duration::from_secs(3))
            .close(Duration::from_millis(200))
            .await;
        assert!(!finished, "the close is still running");
        assert!(started.elapsed() < Duration::from_secs(2));

        let finished = consumer(Duration::from_millis(50))
            .close(Duration::from_secs(10))
            .await;
        assert!(
            finished,
            "a close that ends in time is reported as finished"
        );
    }
}
