//! Numbers from Redis's `INFO`, summed over every node of a cluster: what
//! the benchmarks read before and after a run to say what Redis did.

use stampede_infra::redis::RedisConnection;

/// `INFO section`, one text per node (one on a single Redis); `None` when
/// Redis does not answer.
async fn texts(redis: &RedisConnection, section: &str) -> Option<Vec<String>> {
    let info: redis::Value = redis::cmd("INFO")
        .arg(section)
        .query_async(&mut redis.clone())
        .await
        .ok()?;
    Some(match info {
        redis::Value::Map(nodes) => nodes
            .into_iter()
            .filter_map(|(_, v)| redis::from_redis_value(&v).ok())
            .collect(),
        other => vec![redis::from_redis_value(&other).ok()?],
    })
}

/// `field` summed over `texts`; `None` when no node has it.
fn sum(texts: &[String], field: &str) -> Option<f64> {
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
    let stats = texts(redis, "stats").await?;
    sum(&stats, "total_commands_processed").map(|n| n as u64)
}

/// CPU seconds Redis has used since it started (user and system), from
/// one `INFO cpu`.
pub async fn cpu_secs(redis: &RedisConnection) -> Option<f64> {
    let cpu = texts(redis, "cpu").await?;
    Some(sum(&cpu, "used_cpu_user")? + sum(&cpu, "used_cpu_sys")?)
}
