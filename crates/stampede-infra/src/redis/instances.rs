//! Which `serve` instances are alive: each renews a key with a short TTL
//! (its heartbeat); a key that expired is an instance that died (or lost
//! Redis for longer than the TTL). The healer reads them to tell the claims
//! and holds of a dead instance, which nobody else will ever finish.

use super::RedisConnection;
use redis::{AsyncCommands, RedisError};
use std::time::Duration;

#[derive(Clone)]
pub struct Instances {
    redis: RedisConnection,
    prefix: String,
}

impl Instances {
    pub fn new(redis: RedisConnection, prefix: &str) -> Self {
        Self {
            redis,
            prefix: prefix.to_owned(),
        }
    }

    /// One hash tag for all, so they can be read in one MGET on a cluster too.
    fn key(&self, instance: &str) -> String {
        format!("{}{{instances}}:{instance}", self.prefix)
    }

    /// Says `instance` is alive for the next `ttl`.
    pub async fn heartbeat(&self, instance: &str, ttl: Duration) -> Result<(), RedisError> {
        self.redis
            .clone()
            .pset_ex(self.key(instance), 1, ttl.as_millis().max(1) as u64)
            .await
    }

    /// Whether each of `instances` is alive.
    pub async fn alive(&self, instances: &[String]) -> Result<Vec<bool>, RedisError> {
        if instances.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = instances.iter().map(|i| self.key(i)).collect();
        let values: Vec<Option<i64>> = redis::cmd("MGET")
            .arg(keys)
            .query_async(&mut self.redis.clone())
            .await?;
        Ok(values.into_iter().map(|v| v.is_some()).collect())
    }
}
