//! Redis: one shared handle per process ([`RedisConnection`]: a single
//! server or a Redis Cluster), and the Lua-scripted structures built on it:
//! the FCFS gate ([`FcfsGate`]), the concert waiting queue
//! ([`WaitingQueue`]), seat holds ([`SeatHolds`]), the shared rate limits
//! ([`RateLimits`]) and the sold-out ranking ([`SoldOutRanking`]).

mod connection;
mod coupon_requests;
mod fcfs_gate;
mod instances;
mod lease;
mod queue_admission;
mod queue_opening;
mod rate_limits;
mod seat_holds;
mod sold_out_ranking;
mod waiting_queue;

pub use coupon_requests::CouponRequests;
pub use fcfs_gate::{FcfsGate, GateSnapshot, LedgerStats, OpenClaim, PoolTruth, Reservation};
pub use instances::Instances;
pub use lease::Lease;
pub use queue_admission::{Admission, SweptQueue};
pub use queue_opening::{Draw, OpeningAudit};
pub use rate_limits::{RateLimits, RateVerdict};
pub use seat_holds::{HoldConfirmation, PendingHold, SeatHolds};
pub use sold_out_ranking::SoldOutRanking;
pub use waiting_queue::{QueueLook, QueueTicket, WaitingQueue};

use serde::Deserialize;

pub use connection::RedisConnection;

/// `[redis]` settings.
#[derive(Debug, Clone, Deserialize)]
pub struct RedisSettings {
    /// e.g. `redis://127.0.0.1:6379`; unused when `cluster_nodes` is set.
    pub url: String,
    /// Masters of a Redis Cluster (`redis://host:port`, one or more): when
    /// set, Stampede uses the cluster client instead of `url`.
    #[serde(default)]
    pub cluster_nodes: Vec<String>,
    /// Prepended to every key, so several deployments (or tests) share one Redis.
    pub key_prefix: String,
}

impl RedisSettings {
    /// The cluster's nodes, or none for a single server (an empty entry,
    /// as an empty environment variable gives, is not a node).
    pub fn cluster_nodes(&self) -> Vec<String> {
        self.cluster_nodes
            .iter()
            .map(|node| node.trim().to_owned())
            .filter(|node| !node.is_empty())
            .collect()
    }

    /// Where this connects, for messages.
    pub fn target(&self) -> String {
        match self.cluster_nodes() {
            nodes if nodes.is_empty() => self.url.clone(),
            nodes => format!("the Redis Cluster of {}", nodes.join(", ")),
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        ::redis::Client::open(self.url.as_str())
            .map_err(|e| format!("redis.url is not a Redis URL: {e}"))?;
        for node in self.cluster_nodes() {
            ::redis::Client::open(node.as_str())
                .map_err(|e| format!("redis.cluster_nodes: {node:?} is not a Redis URL: {e}"))?;
        }
        Ok(())
    }
}

/// Opens the shared connection: to the cluster when `cluster_nodes` is
/// set, else to `url`. Fails fast when Redis is unreachable.
pub async fn connect(settings: &RedisSettings) -> Result<RedisConnection, ::redis::RedisError> {
    match settings.cluster_nodes() {
        nodes if nodes.is_empty() => RedisConnection::single(&settings.url).await,
        nodes => RedisConnection::cluster(&nodes).await,
    }
}
