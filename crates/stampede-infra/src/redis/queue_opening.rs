//! The fair opening in Redis: the concert's seed is written once
//! (`HSETNX`), the pre-queue is read, core draws its order from the seed,
//! and `queue_draw.lua` puts that order ahead of the FIFO queue exactly
//! once, however many instances try (the script refuses a second draw, a
//! different seed, and a pre-queue that changed since it was read).

use super::queue_admission::corrupt;
use super::WaitingQueue;
use chrono::{DateTime, Utc};
use redis::{AsyncCommands, RedisError, Script};
use stampede_core::concert::fair_opening::{draw_order, OpeningSeed};
use std::sync::LazyLock;
use uuid::Uuid;

static DRAW: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/queue_draw.lua")));

/// What one attempt at the draw did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Draw {
    /// This call drew `count` pre-queued tokens.
    Drawn { count: u64 },
    /// Someone drew before.
    AlreadyDrawn,
    /// The pre-queue changed while it was read; the next step tries again.
    Stale,
}

/// The draw as it happened, for an auditor: with the seed and the tokens,
/// [`draw_order`] gives the same order again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpeningAudit {
    pub seed: OpeningSeed,
    pub drawn_at: DateTime<Utc>,
    pub order: Vec<Uuid>,
}

impl OpeningAudit {
    pub fn seed_hex(&self) -> String {
        hex::encode(self.seed)
    }

    /// Whether drawing again from the seed gives the stored order.
    pub fn reproduces(&self) -> bool {
        draw_order(&self.seed, &self.order) == self.order
    }
}

impl WaitingQueue {
    /// Draws the pre-queue's order (call it once the opening has come).
    pub async fn draw(&self, concert_id: u64) -> Result<Draw, RedisError> {
        let mut redis = self.redis.clone();
        let opening = self.key(concert_id, "opening");
        let fresh = fresh_seed();
        redis
            .hset_nx::<_, _, _, ()>(&opening, "seed", hex::encode(fresh))
            .await?;
        let stored: String = redis.hget(&opening, "seed").await?;
        let seed = parse_seed(&stored)?;
        let pre_queued: Vec<String> = redis
            .zrange(self.key(concert_id, "prequeue"), 0, -1)
            .await?;
        let tokens: Vec<Uuid> = pre_queued
            .iter()
            .map(|token| {
                Uuid::parse_str(token).map_err(|_| corrupt("a pre-queued token is no UUID".into()))
            })
            .collect::<Result<_, _>>()?;
        let order = draw_order(&seed, &tokens);
        let mut script = DRAW.prepare_invoke();
        for part in ["waiting", "prequeue", "seen", "opening", "opening-order"] {
            script.key(self.key(concert_id, part));
        }
        script.arg(Utc::now().timestamp_millis()).arg(&stored);
        for token in &order {
            script.arg(token.to_string());
        }
        let outcome: i64 = script.invoke_async(&mut redis).await?;
        Ok(match outcome {
            1 => Draw::Drawn {
                count: order.len() as u64,
            },
            0 => Draw::AlreadyDrawn,
            _ => Draw::Stale,
        })
    }

    /// The concert's draw, once it happened.
    pub async fn opening_audit(&self, concert_id: u64) -> Result<Option<OpeningAudit>, RedisError> {
        let mut redis = self.redis.clone();
        let (seed, drawn_at): (Option<String>, Option<i64>) = redis
            .hget(self.key(concert_id, "opening"), &["seed", "drawn_at"])
            .await?;
        let (Some(seed), Some(drawn_at)) = (seed, drawn_at) else {
            return Ok(None);
        };
        let order: Vec<String> = redis
            .lrange(self.key(concert_id, "opening-order"), 0, -1)
            .await?;
        Ok(Some(OpeningAudit {
            seed: parse_seed(&seed)?,
            drawn_at: DateTime::from_timestamp_millis(drawn_at).unwrap_or_default(),
            order: order
                .iter()
                .map(|token| {
                    Uuid::parse_str(token).map_err(|_| corrupt("a drawn token is no UUID".into()))
                })
                .collect::<Result<_, _>>()?,
        }))
    }
}

/// 244 random bits from two v4 UUIDs (the OS generator behind `uuid`).
fn fresh_seed() -> OpeningSeed {
    let mut seed = [0; 32];
    seed[..16].copy_from_slice(Uuid::new_v4().as_bytes());
    seed[16..].copy_from_slice(Uuid::new_v4().as_bytes());
    seed
}

fn parse_seed(stored: &str) -> Result<OpeningSeed, RedisError> {
    hex::decode(stored)
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or_else(|| corrupt("the opening seed is not 32 hex bytes".into()))
}
