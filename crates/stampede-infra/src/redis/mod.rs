//! Redis: one multiplexed, self-reconnecting connection shared by the
//! process, and the Lua-scripted structures built on it: the FCFS gate
//! ([`FcfsGate`]), the concert waiting queue ([`WaitingQueue`]), seat holds
//! ([`SeatHolds`]) and the sold-out ranking ([`SoldOutRanking`]).

mod coupon_requests;
mod fcfs_gate;
mod instances;
mod lease;
mod seat_holds;
mod sold_out_ranking;
mod waiting_queue;

pub use coupon_requests::CouponRequests;
pub use fcfs_gate::{FcfsGate, GateSnapshot, LedgerStats, OpenClaim, PoolTruth, Reservation};
pub use instances::Instances;
pub use lease::Lease;
pub use seat_holds::{HoldConfirmation, PendingHold, SeatHolds};
pub use sold_out_ranking::SoldOutRanking;
pub use waiting_queue::{Admission, QueueTicket, WaitingQueue};

use serde::Deserialize;

pub use ::redis::aio::ConnectionManager;

/// `[redis]` settings.
#[derive(Debug, Clone, Deserialize)]
pub struct RedisSettings {
    /// e.g. `redis://127.0.0.1:6379`.
    pub url: String,
    /// Prepended to every key, so several deployments (or tests) share one Redis.
    pub key_prefix: String,
}

impl RedisSettings {
    pub fn validate(&self) -> Result<(), String> {
        ::redis::Client::open(self.url.as_str())
            .map(|_| ())
            .map_err(|e| format!("redis.url is not a Redis URL: {e}"))
    }
}

/// Opens the shared connection. Fails fast when Redis is unreachable.
pub async fn connect(settings: &RedisSettings) -> Result<ConnectionManager, ::redis::RedisError> {
    let client = ::redis::Client::open(settings.url.as_str())?;
    let config = ::redis::aio::ConnectionManagerConfig::new()
        .set_number_of_retries(2)
        .set_connection_timeout(std::time::Duration::from_secs(3))
        .set_response_timeout(std::time::Duration::from_secs(3));
    ConnectionManager::new_with_config(client, config).await
}
