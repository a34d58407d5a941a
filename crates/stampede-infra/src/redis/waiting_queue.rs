//! The concert waiting queue in Redis: queue tokens, admitted in arrival order.
//!
//! A user takes a token and waits in arrival order; the admission
//! scheduler moves a fixed number of tokens per interval to ACTIVE for a
//! while. Keys of one concert share a hash tag (`{queue:<concert>}`), so the
//! scripts stay valid on Redis Cluster:
//!
//! | key | type | holds |
//! |---|---|---|
//! | `<prefix>{queue:<concert>}:waiting` | sorted set | token → arrival number |
//! | `…:active` | sorted set | token → end of its active time (ms) |
//! | `…:seq` | string | arrival counter |
//! | `…:owners` | hash | token → user |
//! | `…:users` | hash | user → token (one live token per user) |
//! | `<prefix>queue:concerts` | set | concerts with a queue (for the scheduler) |
//! | `<prefix>queue:admission-lock` | string | one admitting instance per interval |

use super::RedisConnection;
use chrono::{DateTime, Utc};
use redis::{AsyncCommands, RedisError, Script};
use stampede_core::concert::QueueTokenStatus;
use std::sync::LazyLock;
use std::time::Duration;
use uuid::Uuid;

static ENTER: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/queue_enter.lua")));
static STATUS: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/queue_status.lua")));
static ADMIT: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/queue_admit.lua")));
static EXPIRE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/queue_expire.lua")));

/// A token and what it says about its owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueTicket {
    pub user_id: u64,
    pub token: Uuid,
    pub status: QueueTokenStatus,
}

/// One admission step's result for one concert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Admission {
    pub admitted: u64,
    pub waiting: u64,
    pub active: u64,
}

#[derive(Clone)]
pub struct WaitingQueue {
    redis: RedisConnection,
    prefix: String,
    active_time: Duration,
}

impl WaitingQueue {
    /// `active_time`: how long an admitted token stays ACTIVE.
    pub fn new(redis: RedisConnection, prefix: &str, active_time: Duration) -> Self {
        Self {
            redis,
            prefix: prefix.to_owned(),
            active_time,
        }
    }

    fn key(&self, concert_id: u64, part: &str) -> String {
        format!("{}{{queue:{concert_id}}}:{part}", self.prefix)
    }

    fn concerts_key(&self) -> String {
        format!("{}queue:concerts", self.prefix)
    }

    /// Puts `user_id` in line for `concert_id`, or returns the live token
    /// they already hold (asking twice never means queueing twice).
    pub async fn enter(&self, concert_id: u64, user_id: u64) -> Result<QueueTicket, RedisError> {
        let mut redis = self.redis.clone();
        redis
            .sadd::<_, _, ()>(self.concerts_key(), concert_id)
            .await?;
        let token: String = ENTER
            .key(self.key(concert_id, "waiting"))
            .key(self.key(concert_id, "active"))
            .key(self.key(concert_id, "seq"))
            .key(self.key(concert_id, "owners"))
            .key(self.key(concert_id, "users"))
            .arg(user_id)
            .arg(Uuid::new_v4().to_string())
            .arg(Utc::now().timestamp_millis())
            .invoke_async(&mut redis)
            .await?;
        let token = Uuid::parse_str(&token).expect("queue tokens are UUIDs");
        let status = self
            .status(concert_id, token)
            .await?
            .map_or(QueueTokenStatus::Expired, |ticket| ticket.status);
        Ok(QueueTicket {
            user_id,
            token,
            status,
        })
    }

    /// The token's owner and status; `None` for a token never issued or
    /// long forgotten.
    pub async fn status(
        &self,
        concert_id: u64,
        token: Uuid,
    ) -> Result<Option<QueueTicket>, RedisError> {
        let (owner, state, value): (u64, i64, i64) = STATUS
            .key(self.key(concert_id, "waiting"))
            .key(self.key(concert_id, "active"))
            .key(self.key(concert_id, "owners"))
            .arg(token.to_string())
            .arg(Utc::now().timestamp_millis())
            .invoke_async(&mut self.redis.clone())
            .await?;
        if owner == 0 {
            return Ok(None);
        }
        let status = match state {
            1 => QueueTokenStatus::Waiting {
                position: value as u64,
            },
            2 => QueueTokenStatus::Active {
                expires_at: DateTime::from_timestamp_millis(value).unwrap_or_default(),
            },
            _ => QueueTokenStatus::Expired,
        };
        Ok(Some(QueueTicket {
            user_id: owner,
            token,
            status,
        }))
    }

    /// The live token `user_id` holds for `concert_id`, if any.
    pub async fn ticket_of(
        &self,
        concert_id: u64,
        user_id: u64,
    ) -> Result<Option<QueueTicket>, RedisError> {
        let token: Option<String> = self
            .redis
            .clone()
            .hget(self.key(concert_id, "users"), user_id)
            .await?;
        match token.and_then(|t| Uuid::parse_str(&t).ok()) {
            Some(token) => self.status(concert_id, token).await,
            None => Ok(None),
        }
    }

    /// Admits up to `count` of the longest-waiting tokens of `concert_id`.
    pub async fn admit(&self, concert_id: u64, count: u64) -> Result<Admission, RedisError> {
        let (admitted, waiting, active): (u64, u64, u64) = ADMIT
            .key(self.key(concert_id, "waiting"))
            .key(self.key(concert_id, "active"))
            .key(self.key(concert_id, "owners"))
            .key(self.key(concert_id, "users"))
            .arg(count)
            .arg(Utc::now().timestamp_millis())
            .arg(self.active_time.as_millis() as u64)
            .invoke_async(&mut self.redis.clone())
            .await?;
        Ok(Admission {
            admitted,
            waiting,
            active,
        })
    }

    /// Concerts that have (or had) a queue.
    pub async fn concerts(&self) -> Result<Vec<u64>, RedisError> {
        self.redis.clone().smembers(self.concerts_key()).await
    }

    /// Whether this instance admits during the next `interval`: with
    /// several `serve` instances, only one admits per interval, so the
    /// admission rate stays what was configured.
    pub async fn lead_admission(
        &self,
        instance: Uuid,
        interval: Duration,
    ) -> Result<bool, RedisError> {
        let won: Option<String> = redis::cmd("SET")
            .arg(format!("{}queue:admission-lock", self.prefix))
            .arg(instance.to_string())
            .arg("NX")
            .arg("PX")
            .arg(interval.as_millis().max(1) as u64)
            .query_async(&mut self.redis.clone())
            .await?;
        Ok(won.is_some())
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
