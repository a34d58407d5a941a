//! Queue-mode request statuses, kept in Redis with a TTL: every request
//! (winner or not) has one, and most are rejections that never reach MariaDB.

use super::RedisConnection;
use redis::{AsyncCommands, RedisError};
use stampede_core::coupon::RequestStatus;
use uuid::Uuid;

#[derive(Clone)]
pub struct CouponRequests {
    redis: RedisConnection,
    prefix: String,
    ttl_secs: u64,
}

impl CouponRequests {
    pub fn new(redis: RedisConnection, prefix: &str, ttl_secs: u64) -> Self {
        Self {
            redis,
            prefix: prefix.to_owned(),
            ttl_secs,
        }
    }

    /// Keyed by user too: a request id is only readable by its owner.
    fn key(&self, user_id: u64, request_id: Uuid) -> String {
        format!("{}coupon-request:{user_id}:{request_id}", self.prefix)
    }

    /// Sets the status of a decided request (the consumer's verdict).
    pub async fn set(
        &self,
        user_id: u64,
        request_id: Uuid,
        status: &RequestStatus,
    ) -> Result<(), RedisError> {
        self.write(user_id, request_id, status, false).await
    }

    /// Sets `status` unless the request already has one: the route marks a
    /// request PENDING after publishing it, and must not overwrite a verdict
    /// the consumer wrote in between.
    pub async fn set_if_absent(
        &self,
        user_id: u64,
        request_id: Uuid,
        status: &RequestStatus,
    ) -> Result<(), RedisError> {
        self.write(user_id, request_id, status, true).await
    }

    /// `SET key status EX ttl`, with `NX` when `only_if_absent`.
    async fn write(
        &self,
        user_id: u64,
        request_id: Uuid,
        status: &RequestStatus,
        only_if_absent: bool,
    ) -> Result<(), RedisError> {
        let json = serde_json::to_string(status).expect("statuses serialise");
        let mut set = redis::cmd("SET");
        set.arg(self.key(user_id, request_id)).arg(json);
        if only_if_absent {
            set.arg("NX");
        }
        set.arg("EX")
            .arg(self.ttl_secs)
            .query_async::<Option<String>>(&mut self.redis.clone())
            .await
            .map(|_| ())
    }

    pub async fn get(
        &self,
        user_id: u64,
        request_id: Uuid,
    ) -> Result<Option<RequestStatus>, RedisError> {
        let json: Option<String> = self
            .redis
            .clone()
            .get(self.key(user_id, request_id))
            .await?;
        Ok(json.and_then(|j| serde_json::from_str(&j).ok()))
    }
}
