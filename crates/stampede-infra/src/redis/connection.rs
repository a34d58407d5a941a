//! The one Redis handle of a process: a single server through redis-rs'
//! self-reconnecting [`ConnectionManager`], or a Redis Cluster through its
//! cluster client, which routes every command (and every script, by its
//! first key) to the node that owns the key's slot and follows the
//! cluster's MOVED/ASK answers when slots move.
//!
//! Everything else takes a [`RedisConnection`] and is written once for
//! both: a multi-key command or script only ever names keys of one hash
//! tag, so on a cluster it runs on one node, atomically, as on one server.

use ::redis::aio::{ConnectionLike, ConnectionManager};
use ::redis::cluster_async::ClusterConnection;
use ::redis::{Cmd, Pipeline, RedisFuture, RedisResult, Value};
use std::time::Duration;

/// How long a connection attempt, and then each command, may take before
/// it fails: a caller answers 503 rather than hang with Redis away.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(3);

/// Cheap to clone: clones share the connection(s).
// Not boxed: callers clone the handle for every command, and a box would
// make each clone of the common, single-server case an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Clone)]
pub enum RedisConnection {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl RedisConnection {
    /// Connects to one server at `url`. Fails fast when it is unreachable.
    pub async fn single(url: &str) -> RedisResult<Self> {
        let client = ::redis::Client::open(url)?;
        let config = ::redis::aio::ConnectionManagerConfig::new()
            .set_number_of_retries(2)
            .set_connection_timeout(CONNECT_TIMEOUT)
            .set_response_timeout(RESPONSE_TIMEOUT);
        Ok(Self::Single(
            ConnectionManager::new_with_config(client, config).await?,
        ))
    }

    /// Connects to the cluster that `nodes` (any of its masters, one is
    /// enough) belong to, and learns its slot map.
    pub async fn cluster(nodes: &[String]) -> RedisResult<Self> {
        let client = ::redis::cluster::ClusterClientBuilder::new(nodes.to_vec())
            .connection_timeout(CONNECT_TIMEOUT)
            .response_timeout(RESPONSE_TIMEOUT)
            .retries(3)
            .build()?;
        Ok(Self::Cluster(client.get_async_connection().await?))
    }
}

impl ConnectionLike for RedisConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(connection) => connection.req_packed_command(cmd),
            Self::Cluster(connection) => connection.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(connection) => connection.req_packed_commands(pipeline, offset, count),
            Self::Cluster(connection) => connection.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(connection) => connection.get_db(),
            Self::Cluster(connection) => connection.get_db(),
        }
    }
}
