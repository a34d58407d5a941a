//! A probe event and a consumer that records what it receives: used by the
//! demo, the backbone benchmark and the tests to watch events arrive.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use stampede_core::events::{DomainEvent, EventEnvelope};
use stampede_infra::kafka::consumer::{ConsumedEvent, EventHandler, HandlerError};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use uuid::Uuid;

/// `probe.pinged`: carries a run id (to ignore other runs' events on a
/// shared topic) and a sequence number per key (to check ordering).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbePinged {
    pub run: Uuid,
    pub key: String,
    pub seq: u64,
}

impl DomainEvent for ProbePinged {
    const EVENT_TYPE: &'static str = "probe.pinged";
    fn aggregate_type(&self) -> &'static str {
        "probe"
    }
    fn aggregate_id(&self) -> String {
        self.key.clone()
    }
}

/// One received event and when it arrived.
#[derive(Debug, Clone)]
pub struct Received {
    pub event: ConsumedEvent,
    pub at: Instant,
}

/// Records the events of one run (others are acknowledged and ignored).
#[derive(Clone)]
pub struct Recorder {
    run: Uuid,
    received: Arc<Mutex<Vec<Received>>>,
    changed: Arc<Notify>,
}

impl Recorder {
    pub fn new(run: Uuid) -> Self {
        Self {
            run,
            received: Arc::default(),
            changed: Arc::default(),
        }
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    pub fn count(&self) -> usize {
        self.received.lock().unwrap().len()
    }

    /// Distinct event ids received.
    pub fn distinct(&self) -> usize {
        let received = self.received.lock().unwrap();
        received
            .iter()
            .map(|r| r.event.envelope.event_id)
            .collect::<HashSet<_>>()
            .len()
    }

    /// Waits until at least `count` events arrived; false on timeout.
    pub async fn wait_for(&self, count: usize, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let changed = self.changed.notified();
            if self.count() >= count {
                return true;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return self.count() >= count;
            }
        }
    }

    /// Keys whose sequence numbers arrived out of order (first deliveries only).
    pub fn out_of_order_keys(&self) -> Vec<String> {
        let mut last: std::collections::HashMap<String, u64> = Default::default();
        let mut seen = HashSet::new();
        let mut bad = Vec::new();
        for received in self.received() {
            if !seen.insert(received.event.envelope.event_id) {
                continue;
            }
            let Ok(ping) = received.event.envelope.payload_as::<ProbePinged>() else {
                continue;
            };
            if let Some(previous) = last.insert(ping.key.clone(), ping.seq) {
                if previous > ping.seq {
                    bad.push(ping.key);
                }
            }
        }
        bad
    }
}

#[async_trait]
impl EventHandler for Recorder {
    async fn handle(&self, event: &ConsumedEvent) -> Result<(), HandlerError> {
        let envelope: &EventEnvelope = &event.envelope;
        let ours = envelope
            .payload_as::<ProbePinged>()
            .is_ok_and(|ping| ping.run == self.run);
        if ours {
            self.received.lock().unwrap().push(Received {
                event: event.clone(),
                at: Instant::now(),
            });
            self.changed.notify_waiters();
        }
        Ok(())
    }
}

/// A running probe consumer; drop order: cancel `stop`, then await `task`.
pub struct RunningProbe {
    pub recorder: Recorder,
    pub stop: tokio_util::sync::CancellationToken,
    pub task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// Starts a per-record probe consumer in a fresh group on `probe.pinged` and
/// waits until it has joined (it has received a warm-up event), so timings
/// taken afterwards exclude the group join.
pub async fn start_probe(
    infra: &stampede_infra::Infra,
    run: Uuid,
    name: &str,
) -> anyhow::Result<RunningProbe> {
    use stampede_infra::kafka::consumer::{run_consumer, ConsumerSpec};
    let recorder = Recorder::new(run);
    let stop = tokio_util::sync::CancellationToken::new();
    let group = format!("{name}-{run}");
    let spec = ConsumerSpec::per_record(name, group, &[ProbePinged::EVENT_TYPE], recorder.clone());
    let task = tokio::spawn(run_consumer(
        spec,
        infra.kafka().clone(),
        infra.producer.clone(),
        stop.clone(),
    ));
    let warm_up = EventEnvelope::wrap(&ProbePinged {
        run,
        key: "warm-up".into(),
        seq: 0,
    });
    let topic = infra.topics.physical(ProbePinged::EVENT_TYPE);
    infra
        .producer
        .send(&stampede_infra::kafka::OutgoingRecord::event(
            topic, &warm_up,
        ))
        .await?;
    anyhow::ensure!(
        recorder.wait_for(1, Duration::from_secs(60)).await,
        "the probe consumer never joined its group"
    );
    recorder.received.lock().unwrap().clear();
    Ok(RunningProbe {
        recorder,
        stop,
        task,
    })
}

/// Percentile (0–100) of a sorted slice.
pub fn percentile(sorted: &[Duration], pct: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((pct / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}
