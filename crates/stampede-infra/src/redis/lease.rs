//! A lease in Redis: one instance at a time does a job (the healer), and
//! another takes it over within the lease's time when the holder dies.

use super::RedisConnection;
use redis::{RedisError, Script};
use std::sync::LazyLock;
use std::time::Duration;

/// Takes the lease when free, extends it when already ours.
static HOLD: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        if redis.call('GET', KEYS[1]) == ARGV[1] then
          redis.call('PEXPIRE', KEYS[1], ARGV[2])
          return 1
        end
        if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
        return 0",
    )
});

#[derive(Clone)]
pub struct Lease {
    redis: RedisConnection,
    key: String,
}

impl Lease {
    pub fn new(redis: RedisConnection, prefix: &str, name: &str) -> Self {
        Self {
            redis,
            key: format!("{prefix}lease:{name}"),
        }
    }

    /// Whether `holder` holds the lease for the next `ttl` (taken or extended).
    pub async fn hold(&self, holder: &str, ttl: Duration) -> Result<bool, RedisError> {
        let held: i64 = HOLD
            .key(&self.key)
            .arg(holder)
            .arg(ttl.as_millis().max(1) as u64)
            .invoke_async(&mut self.redis.clone())
            .await?;
        Ok(held == 1)
    }
}
