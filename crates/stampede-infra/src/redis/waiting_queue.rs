//! The concert waiting queue in Redis: queue tokens, admitted in arrival order.
//!
//! A user takes a token and waits in arrival order (before the opening, in
//! the pre-queue: see `queue_opening.rs`); the admission scheduler moves
//! tokens to ACTIVE for a while by the concert's rules (`queue_admission.rs`).
//! Keys of one concert share a hash tag (`{queue:<concert>}`), so the
//! scripts stay valid on Redis Cluster:
//!
//! | key | type | holds |
//! |---|---|---|
//! | `<prefix>{queue:<concert>}:waiting` | sorted set | token → place (drawn pre-queue -n..-1, then arrival number) |
//! | `…:active` | sorted set | token → end of its active time (ms) |
//! | `…:seq` | string | arrival counter |
//! | `…:owners` | hash | token → user |
//! | `…:users` | hash | user → token (one live token per user) |
//! | `…:seen` | sorted set | waiting token → last time its holder asked (ms; the keepalive) |
//! | `…:unseated` | sorted set | admitted token → when it is a no-show if it holds no seat (ms) |
//! | `…:outflow` | sorted set | `"<ms>:<admitted>"` → ms: the admission steps of the ETA window |
//! | `…:rules` | hash | `per_interval`, `active_cap`, `paused`, `opens_at` (the operator's rules) |
//! | `…:prequeue` | sorted set | token → arrival (ms), until the draw |
//! | `…:opening` | hash | `seed`, `drawn_at`, `count` (the draw, fixed once) |
//! | `…:opening-order` | list | the drawn order, for the audit |
//! | `<prefix>queue:concerts` | set | concerts with a queue (for the scheduler) |
//! | `<prefix>queue:admission-lock` | string | one admitting instance per interval |

use super::RedisConnection;
use crate::{ConcertSettings, QueueSettings};
use chrono::{DateTime, Utc};
use redis::{AsyncCommands, RedisError, Script};
use stampede_core::concert::eta::{measured_rate, AdmissionStep};
use stampede_core::concert::fair_opening::pre_queues;
use stampede_core::concert::QueueTokenStatus;
use std::sync::LazyLock;
use std::time::Duration;
use uuid::Uuid;

static ENTER: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/queue_enter.lua")));
static LEAD: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/queue_lead.lua")));
static STATUS: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/queue_status.lua")));
static EXPIRE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/queue_expire.lua")));

/// A token and what it says about its owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueTicket {
    pub user_id: u64,
    pub token: Uuid,
    pub status: QueueTokenStatus,
}

/// What some tokens of one concert say, and the measured outflow.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueLook {
    /// In the order asked; `None` for a token never issued or long forgotten.
    pub tickets: Vec<Option<QueueTicket>>,
    /// Tokens admitted per second lately (`None`: not asked, or unknown).
    pub outflow_rate: Option<f64>,
}

#[derive(Clone)]
pub struct WaitingQueue {
    pub(super) redis: RedisConnection,
    pub(super) prefix: String,
    /// How long an admitted token stays ACTIVE.
    pub(super) active_time: Duration,
    /// Tokens admitted per interval where the operator set no rate.
    pub(super) default_rate: u64,
    pub(super) settings: QueueSettings,
}

impl WaitingQueue {
    pub fn new(
        redis: RedisConnection,
        prefix: &str,
        concert: &ConcertSettings,
        settings: QueueSettings,
    ) -> Self {
        Self {
            redis,
            prefix: prefix.to_owned(),
            active_time: Duration::from_secs(concert.active_ttl_secs),
            default_rate: concert.admit_per_interval,
            settings,
        }
    }

    pub fn settings(&self) -> &QueueSettings {
        &self.settings
    }

    pub(super) fn key(&self, concert_id: u64, part: &str) -> String {
        format!("{}{{queue:{concert_id}}}:{part}", self.prefix)
    }

    fn concerts_key(&self) -> String {
        format!("{}queue:concerts", self.prefix)
    }

    /// Puts `user_id` in line for `concert_id`, or returns the live token
    /// they already hold (asking twice never means queueing twice). Before
    /// `opens_at` (and until the draw) a new token waits in the pre-queue.
    /// With the ticket comes the measured outflow (tokens/s), for its ETA.
    pub async fn enter(
        &self,
        concert_id: u64,
        user_id: u64,
        opens_at: DateTime<Utc>,
    ) -> Result<(QueueTicket, Option<f64>), RedisError> {
        let mut redis = self.redis.clone();
        redis
            .sadd::<_, _, ()>(self.concerts_key(), concert_id)
            .await?;
        let now = Utc::now();
        let pre_queue_until = if pre_queues(opens_at, now) {
            opens_at.timestamp_millis()
        } else {
            0
        };
        let token: String = ENTER
            .key(self.key(concert_id, "waiting"))
            .key(self.key(concert_id, "active"))
            .key(self.key(concert_id, "seq"))
            .key(self.key(concert_id, "owners"))
            .key(self.key(concert_id, "users"))
            .key(self.key(concert_id, "prequeue"))
            .key(self.key(concert_id, "seen"))
            .key(self.key(concert_id, "opening"))
            .key(self.key(concert_id, "rules"))
            .arg(user_id)
            .arg(Uuid::new_v4().to_string())
            .arg(now.timestamp_millis())
            .arg(pre_queue_until)
            .invoke_async(&mut redis)
            .await?;
        let token = Uuid::parse_str(&token).expect("queue tokens are UUIDs");
        let look = self.look(concert_id, &[token], true).await?;
        let status = look
            .tickets
            .into_iter()
            .next()
            .flatten()
            .map_or(QueueTokenStatus::Expired, |ticket| ticket.status);
        let ticket = QueueTicket {
            user_id,
            token,
            status,
        };
        Ok((ticket, look.outflow_rate))
    }

    /// The token's owner and status; `None` for a token never issued or
    /// long forgotten. Asking about a WAITING token keeps its place.
    pub async fn status(
        &self,
        concert_id: u64,
        token: Uuid,
    ) -> Result<Option<QueueTicket>, RedisError> {
        let look = self.look(concert_id, &[token], false).await?;
        Ok(look.tickets.into_iter().next().flatten())
    }

    /// What `tokens` say, in one round trip (the live-update reader asks
    /// for every watched token of a concert at once), with the measured
    /// outflow when `with_outflow`.
    pub async fn look(
        &self,
        concert_id: u64,
        tokens: &[Uuid],
        with_outflow: bool,
    ) -> Result<QueueLook, RedisError> {
        let now = Utc::now().timestamp_millis();
        let window_start = if with_outflow {
            now - self.settings.outflow_window().as_millis() as i64
        } else {
            -1
        };
        let mut script = STATUS.prepare_invoke();
        for part in [
            "waiting", "active", "owners", "prequeue", "seen", "rules", "outflow",
        ] {
            script.key(self.key(concert_id, part));
        }
        script.arg(now).arg(window_start);
        for token in tokens {
            script.arg(token.to_string());
        }
        let (outflow, statuses): (Vec<i64>, Vec<i64>) =
            script.invoke_async(&mut self.redis.clone()).await?;
        let steps: Vec<AdmissionStep> = outflow
            .chunks_exact(2)
            .map(|step| AdmissionStep {
                at_ms: step[0],
                admitted: step[1].max(0) as u64,
            })
            .collect();
        let tickets = tokens
            .iter()
            .zip(statuses.chunks_exact(3))
            .map(|(token, answer)| ticket(*token, answer))
            .collect();
        Ok(QueueLook {
            tickets,
            outflow_rate: measured_rate(&steps, now),
        })
    }

    /// The live token `user_id` holds for `concert_id`, if any.
    pub async fn token_of(
        &self,
        concert_id: u64,
        user_id: u64,
    ) -> Result<Option<Uuid>, RedisError> {
        let token: Option<String> = self
            .redis
            .clone()
            .hget(self.key(concert_id, "users"), user_id)
            .await?;
        Ok(token.and_then(|t| Uuid::parse_str(&t).ok()))
    }

    /// The live token `user_id` holds for `concert_id` with the measured
    /// outflow (for its ETA), if any.
    pub async fn look_of(
        &self,
        concert_id: u64,
        user_id: u64,
    ) -> Result<Option<(QueueTicket, Option<f64>)>, RedisError> {
        let Some(token) = self.token_of(concert_id, user_id).await? else {
            return Ok(None);
        };
        let look = self.look(concert_id, &[token], true).await?;
        let rate = look.outflow_rate;
        Ok(look
            .tickets
            .into_iter()
            .next()
            .flatten()
            .map(|ticket| (ticket, rate)))
    }

    /// Concerts that have (or had) a queue.
    pub async fn concerts(&self) -> Result<Vec<u64>, RedisError> {
        self.redis.clone().smembers(self.concerts_key()).await
    }

    /// Whether this instance admits in the current `interval`: with several
    /// `serve` instances, each interval (a slot on Redis's clock) is
    /// admitted once, by the first to ask in it, so the admission rate stays
    /// what was configured. (A lock held for one interval lost every other
    /// interval to its own expiry racing the next tick.)
    pub async fn lead_admission(&self, interval: Duration) -> Result<bool, RedisError> {
        let won: i64 = LEAD
            .key(format!("{}queue:admission-slot", self.prefix))
            .arg(interval.as_millis().max(1) as u64)
            .invoke_async(&mut self.redis.clone())
            .await?;
        Ok(won == 1)
    }

    /// Ends `user_id`'s active token for `concert_id` (after their payment);
    /// false when they held none.
    pub async fn expire(&self, concert_id: u64, user_id: u64) -> Result<bool, RedisError> {
        let ended: i64 = EXPIRE
            .key(self.key(concert_id, "active"))
            .key(self.key(concert_id, "owners"))
            .key(self.key(concert_id, "users"))
            .arg(user_id)
            .invoke_async(&mut self.redis.clone())
            .await?;
        Ok(ended == 1)
    }
}

/// One token's answer from `queue_status.lua`: `[owner, state, value]`.
fn ticket(token: Uuid, answer: &[i64]) -> Option<QueueTicket> {
    let (owner, state, value) = (answer[0], answer[1], answer[2]);
    if owner <= 0 {
        return None;
    }
    let at = |ms: i64| DateTime::from_timestamp_millis(ms).unwrap_or_default();
    let status = match state {
        1 => QueueTokenStatus::Waiting {
            position: value as u64,
        },
        2 => QueueTokenStatus::Active {
            expires_at: at(value),
        },
        3 => QueueTokenStatus::PreQueued {
            opens_at: at(value),
        },
        _ => QueueTokenStatus::Expired,
    };
    Some(QueueTicket {
        user_id: owner as u64,
        token,
        status,
    })
}
