//! The three-master Redis Cluster of scripts/redis-cluster.sh (7001-7003).

use super::brokers::script;

pub struct RedisCluster;

impl RedisCluster {
    pub const NODES: &'static str =
        "redis://127.0.0.1:7001,redis://127.0.0.1:7002,redis://127.0.0.1:7003";

    /// Starts the nodes that are not running (making the cluster once) and
    /// waits until every node serves every slot.
    pub async fn up() -> Self {
        script("redis-cluster.sh", &["up"], &[]).await;
        Self
    }
}
