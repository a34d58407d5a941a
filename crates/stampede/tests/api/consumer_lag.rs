//! Consumer lag is exact: a known backlog reads as itself, and as 0 once
//! it is worked off.

use crate::helpers::*;
use async_trait::async_trait;
use stampede::probe::ProbePinged;
use stampede_core::events::DomainEvent;
use stampede_infra::kafka::consumer::{ConsumedEvent, ConsumerSpec, EventHandler, HandlerError};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(30);

/// Handles one record per permit, and waits for the next permit.
#[derive(Clone)]
struct Metered {
    permits: Arc<Semaphore>,
    handled: Arc<AtomicUsize>,
}

#[async_trait]
impl EventHandler for Metered {
    async fn handle(&self, _event: &ConsumedEvent) -> Result<(), HandlerError> {
        self.permits.acquire().await.expect("open").forget();
        self.handled.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

/// The consumer's lag summed over its partitions, once it reported any.
fn lag(metrics: &str, consumer: &str) -> Option<f64> {
    let reported = metrics
        .lines()
        .any(|l| l.starts_with("stampede_consumer_lag{") && l.contains(consumer));
    reported.then(|| metric(metrics, "stampede_consumer_lag", &[("consumer", consumer)]))
}

#[tokio::test]
async fn the_lag_of_a_stuck_consumer_is_exactly_its_backlog() {
    crate::skip_if!((!dev_broker_has_exact_offsets())
        .then_some("the dev broker counts its high watermark in batches, not records"));
    let consumer = format!("lag-{}", Uuid::new_v4().simple());
    let metered = Metered {
        permits: Arc::new(Semaphore::new(100)),
        handled: Arc::default(),
    };
    let spec = ConsumerSpec::per_record(
        consumer.clone(),
        "lag",
        &[ProbePinged::EVENT_TYPE],
        metered.clone(),
    );
    let app = spawn_app_with(test_settings(), vec![spec]).await;
    let run = Uuid::now_v7();
    // One key: one partition. 100 handled and committed first…
    app.commit_pings(run, "k", 100).await;
    let settled = eventually(WAIT, || async {
        metered.handled.load(Ordering::SeqCst) == 100
            && lag(&app.metrics().await, &consumer) == Some(0.0)
    })
    .await;
    assert!(settled, "the first 100 are handled and the lag reads 0");

    // …then 200 more that the consumer cannot handle: exactly 200 behind.
    app.commit_pings(run, "k", 200).await;
    let behind = eventually(WAIT, || async {
        lag(&app.metrics().await, &consumer) == Some(200.0)
    })
    .await;
    assert!(
        behind,
        "lag reads the backlog exactly (last: {:?})",
        lag(&app.metrics().await, &consumer)
    );

    metered.permits.add_permits(200);
    let caught_up = eventually(WAIT, || async {
        lag(&app.metrics().await, &consumer) == Some(0.0)
    })
    .await;
    assert!(caught_up, "worked off, the lag is 0 again");
    assert_eq!(metered.handled.load(Ordering::SeqCst), 300);
    app.stop().await;
}
