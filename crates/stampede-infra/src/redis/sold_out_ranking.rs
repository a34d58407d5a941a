//! The sold-out ranking's Redis side: a sorted set of schedules scored by
//! how many milliseconds they took to sell out (fastest first). MariaDB's
//! `sold_out_rankings` is the truth; this set is what readers are served
//! from, and it is rebuilt from the table when Redis lost it.

use super::RedisConnection;
use redis::{AsyncCommands, RedisError};

#[derive(Clone)]
pub struct SoldOutRanking {
    redis: RedisConnection,
    key: String,
}

impl SoldOutRanking {
    pub fn new(redis: RedisConnection, prefix: &str) -> Self {
        Self {
            redis,
            key: format!("{prefix}ranking:sold-out"),
        }
    }

    /// Records a sell-out; a schedule keeps its first score (`ZADD NX`).
    pub async fn record(&self, schedule_id: u64, sell_out_ms: u64) -> Result<(), RedisError> {
        redis::cmd("ZADD")
            .arg(&self.key)
            .arg("NX")
            .arg(sell_out_ms)
            .arg(schedule_id)
            .query_async(&mut self.redis.clone())
            .await
    }

    /// Takes a schedule out of the ranking (it is on sale again).
    pub async fn remove(&self, schedule_id: u64) -> Result<(), RedisError> {
        self.redis.clone().zrem(&self.key, schedule_id).await
    }

    /// The fastest `limit` schedules: (schedule id, sell-out ms).
    pub async fn top(&self, limit: usize) -> Result<Vec<(u64, u64)>, RedisError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        self.redis
            .clone()
            .zrange_withscores(&self.key, 0, limit as isize - 1)
            .await
    }
}
