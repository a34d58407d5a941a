//! The live-update hub behind `GET /queue/tokens/me/events`: ONE reader
//! task per instance looks, every `queue.events_tick_ms`, at every token a
//! stream here is watching — one Redis call per concert per tick, however
//! many fans are connected — and fans the answers out through a `watch`
//! channel; each stream picks its own token out of the latest snapshot.
//! The reader's look counts as the fans polling, so a connected fan keeps
//! their place (the keepalive).

use stampede_infra::redis::{QueueTicket, WaitingQueue};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use uuid::Uuid;

/// What the reader last saw of one token: its ticket (`None`: gone, e.g.
/// its place was lost) and the concert's measured outflow (tokens/s).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sighting {
    pub ticket: Option<QueueTicket>,
    pub outflow_rate: Option<f64>,
}

/// The latest sightings, by (concert, token).
pub type Snapshot = HashMap<(u64, Uuid), Sighting>;

#[derive(Clone)]
pub struct QueueWatch(Arc<Hub>);

struct Hub {
    /// Watched tokens per concert, with how many streams watch each.
    watched: Mutex<HashMap<u64, HashMap<Uuid, usize>>>,
    latest: watch::Sender<Arc<Snapshot>>,
}

/// One stream's interest in a token; dropping it stops the watch.
pub struct Watching {
    hub: QueueWatch,
    concert_id: u64,
    token: Uuid,
    pub updates: watch::Receiver<Arc<Snapshot>>,
}

impl Default for QueueWatch {
    fn default() -> Self {
        Self(Arc::new(Hub {
            watched: Mutex::default(),
            latest: watch::channel(Arc::default()).0,
        }))
    }
}

impl QueueWatch {
    /// Starts watching `token` of `concert_id`.
    pub fn watch(&self, concert_id: u64, token: Uuid) -> Watching {
        let mut watched = self.0.watched.lock().expect("queue watch lock");
        *watched
            .entry(concert_id)
            .or_default()
            .entry(token)
            .or_default() += 1;
        Watching {
            hub: self.clone(),
            concert_id,
            token,
            updates: self.0.latest.subscribe(),
        }
    }

    /// How many streams are watching now.
    pub fn streams(&self) -> usize {
        let watched = self.0.watched.lock().expect("queue watch lock");
        watched.values().flat_map(|tokens| tokens.values()).sum()
    }

    /// One tick: looks at every watched token (one call per concert) and
    /// publishes the snapshot. Returns how many Redis calls it made.
    pub async fn read_once(&self, queue: &WaitingQueue) -> Result<usize, redis::RedisError> {
        let watched: Vec<(u64, Vec<Uuid>)> = {
            let watched = self.0.watched.lock().expect("queue watch lock");
            watched
                .iter()
                .map(|(concert, tokens)| (*concert, tokens.keys().copied().collect()))
                .collect()
        };
        let mut snapshot = Snapshot::new();
        for (concert_id, tokens) in &watched {
            let look = queue.look(*concert_id, tokens, true).await?;
            for (token, ticket) in tokens.iter().zip(look.tickets) {
                let sighting = Sighting {
                    ticket,
                    outflow_rate: look.outflow_rate,
                };
                snapshot.insert((*concert_id, *token), sighting);
            }
        }
        self.0.latest.send_replace(Arc::new(snapshot));
        metrics::counter!("stampede_queue_event_reads_total").increment(watched.len() as u64);
        Ok(watched.len())
    }

    /// The reader: a tick every `tick` until `shutdown`.
    pub async fn run(
        self,
        queue: WaitingQueue,
        tick: Duration,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        let mut ticks = tokio::time::interval(tick);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => return,
                _ = ticks.tick() => {}
            }
            if let Err(error) = self.read_once(&queue).await {
                tracing::warn!(%error, "the queue's live-update reader failed; retrying next tick");
            }
        }
    }
}

impl Watching {
    /// This stream's token in the latest snapshot (`None` until read).
    pub fn current(&self) -> Option<Sighting> {
        self.updates
            .borrow()
            .get(&(self.concert_id, self.token))
            .copied()
    }
}

impl Drop for Watching {
    fn drop(&mut self) {
        let mut watched = self.hub.0.watched.lock().expect("queue watch lock");
        if let Some(tokens) = watched.get_mut(&self.concert_id) {
            if let Some(count) = tokens.get_mut(&self.token) {
                *count -= 1;
                if *count == 0 {
                    tokens.remove(&self.token);
                }
            }
            if tokens.is_empty() {
                watched.remove(&self.concert_id);
            }
        }
    }
}
