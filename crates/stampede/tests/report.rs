//! `stampede report daily` over a million orders, as its own process,
//! with its resident memory sampled while it runs.

use stampede::configuration::Settings;
use std::time::{Duration, Instant};

const DAY: &str = "2026-01-15";
/// The bound the report must stay under, whatever the day's volume.
const RSS_BOUND_KIB: u64 = 64 * 1024;

async fn database(orders: u64) -> (Settings, sqlx::MySqlPool) {
    let mut settings = Settings::load(None).unwrap();
    settings.database.name = format!(
        "stampede_test_report_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let pool = stampede_infra::mysql::connect(&settings.database)
        .await
        .unwrap();
    stampede_infra::mysql::migrate(&pool).await.unwrap();
    let (_, options) = stampede_infra::mysql::catalog::create_product(
        &pool,
        "report product",
        None,
        &[("small".into(), 1000, 0), ("large".into(), 3000, 0)],
    )
    .await
    .unwrap();
    // MariaDB's SEQUENCE engine generates the rows server-side: fast.
    // Statuses cycle PENDING, PAID, COMPLETED, FAILED; totals are 1000.
    sqlx::query(&format!(
        "INSERT INTO orders (user_id, status, subtotal, discount, total, created_at, updated_at) \
         SELECT seq % 1000 + 1, ELT(seq % 4 + 1, 'PENDING', 'PAID', 'COMPLETED', 'FAILED'), 1000, 0, 1000, \
                '{DAY} 12:00:00', '{DAY} 12:00:00' FROM seq_0_to_{}",
        orders - 1
    ))
    .execute(&pool)
    .await
    .unwrap();
    // One item each: every third order the large option (×2), else the small one.
    sqlx::query(&format!(
        "INSERT INTO order_items (order_id, option_id, quantity, unit_price) \
         SELECT id, IF(id % 3 = 0, {large}, {small}), IF(id % 3 = 0, 2, 1), IF(id % 3 = 0, 3000, 1000) FROM orders",
        small = options[0],
        large = options[1]
    ))
    .execute(&pool)
    .await
    .unwrap();
    // A day before, which must not count.
    sqlx::query("INSERT INTO orders (user_id, status, subtotal, discount, total, created_at, updated_at) VALUES (1, 'PAID', 5, 0, 5, '2026-01-14 23:59:59', '2026-01-14 23:59:59')")
        .execute(&pool)
        .await
        .unwrap();
    (settings, pool)
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[tokio::test]
async fn a_million_orders_are_reported_exactly_in_flat_memory() {
    const ORDERS: u64 = 1_000_000;
    let started = Instant::now();
    let (settings, pool) = database(ORDERS).await;
    let inserted = started.elapsed();
    let output = std::env::temp_dir().join(format!("{}.json", settings.database.name));
    let began = Instant::now();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_stampede"))
        .args([
            "report", "daily", "--date", DAY, "--format", "json", "--output",
        ])
        .arg(&output)
        .env("STAMPEDE__DATABASE__NAME", &settings.database.name)
        .env("STAMPEDE__LOG__LEVEL", "warn")
        .spawn()
        .unwrap();
    let mut peak = 0;
    let status = loop {
        if let Some(rss) = rss_kib(child.id()) {
            peak = peak.max(rss);
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let took = began.elapsed();
    assert!(status.success());
    println!("inserted {ORDERS} orders in {inserted:?}; report in {took:?}; peak RSS {peak} KiB (bound {RSS_BOUND_KIB} KiB)");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&output).unwrap()).unwrap();
    assert_eq!(report["orders"], ORDERS);
    for status in ["PENDING", "PAID", "COMPLETED", "FAILED"] {
        let entry = report["statuses"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["status"] == status)
            .unwrap();
        assert_eq!(entry["orders"], ORDERS / 4, "{status}");
        assert_eq!(entry["amount"], ORDERS / 4 * 1000, "{status}");
    }
    assert_eq!(report["revenue"], ORDERS / 2 * 1000);
    let top = report["top_options"].as_array().unwrap();
    assert_eq!(top.len(), 2);
    // Of the paid half: ids divisible by 3 bought 2 large, the rest 1 small.
    let quantity = |i: usize| top[i]["quantity"].as_i64().unwrap();
    assert!(quantity(0) >= quantity(1), "ordered by quantity");
    let sold: i64 = sqlx::query_scalar(
        "SELECT CAST(SUM(i.quantity) AS SIGNED) FROM order_items i JOIN orders o ON o.id = i.order_id \
         WHERE o.status IN ('PAID', 'COMPLETED')",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(quantity(0) + quantity(1), sold);
    assert!(
        peak > 0 && peak < RSS_BOUND_KIB,
        "peak RSS {peak} KiB over the {RSS_BOUND_KIB} KiB bound"
    );
    let _ = std::fs::remove_file(&output);
    sqlx::query(&format!("DROP DATABASE `{}`", settings.database.name))
        .execute(&pool)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_bad_date_is_refused_with_a_clear_message() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_stampede"))
        .args(["report", "daily", "--date", "2026-13-01"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--date must be a day as YYYY-MM-DD"),
        "{stderr}"
    );
}
