//! Numbers from Redis's `INFO`, summed over every node of a cluster: what
//! the benchmarks read before and after a run to say what Redis did.

use stampede_infra::redis::RedisConnection;

/// `field` of `INFO section` (e.g. `stats`, `total_commands_processed`),
/// summed over the nodes; `None` when Redis does not answer or has no such
/// field.
pub async fn sum(redis: &RedisConnection, section: &str, field: &str) -> Option<f64> {
    let info: redis::Value = redis::cmd("INFO")
        .arg(section)
        .query_async(&mut redis.clone())
        .await
        .ok()?;
    // A cluster answers one text per node.
    let texts: Vec<String> = match info {
        redis::Value::Map(nodes) => nodes
            .into_iter()
            .filter_map(|(_, v)| redis::from_redis_value(&v).ok())
            .collect(),
        other => vec![redis::from_redis_value(&other).ok()?],
    };
    let prefix = format!("{field}:");
    let values: Vec<f64> = texts
        .iter()
        .flat_map(|text| text.lines())
        .filter_map(|line| line.strip_prefix(&prefix))
        .filter_map(|n| n.trim().parse().ok())
        .collect();
    (!values.is_empty()).then(|| values.iter().sum())
}

/// Commands Redis has processed since it started.
pub async fn commands(redis: &RedisConnection) -> Option<u64> {
    sum(redis, "stats", "total_commands_processed")
        .await
        .map(|n| n as u64)
}

/// CPU seconds Redis has used since it started (user and system).
pub async fn cpu_secs(redis: &RedisConnection) -> Option<f64> {
    let user = sum(redis, "cpu", "used_cpu_user").await?;
    let system = sum(redis, "cpu", "used_cpu_sys").await?;
    Some(user + system)
}
