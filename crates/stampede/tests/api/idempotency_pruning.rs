//! The pruner inside `serve` forgets `Idempotency-Key`s past
//! `idempotency.retention_hours` and keeps younger ones.

use crate::helpers::{eventually, spawn_app_with};
use crate::support::settings::Overrides;
use stampede_infra::mysql::idempotency::{self, Claim};
use std::time::Duration;

async fn key_exists(pool: &sqlx::MySqlPool, key: &str) -> bool {
    sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM idempotency_keys WHERE idempotency_key = ?")
        .bind(key)
        .fetch_one(pool)
        .await
        .unwrap()
        == 1
}

#[tokio::test]
async fn keys_past_the_retention_are_pruned_and_younger_ones_kept() {
    let mut overrides = Overrides::unique();
    overrides
        .set("idempotency.retention_hours", 1)
        .set("payments.idempotency_ttl_secs", 3600)
        .set("idempotency.prune_interval_secs", 1)
        // Several batches for the old keys: the loop runs until one is short.
        .set("idempotency.prune_batch_size", 2);
    let app = spawn_app_with(overrides.settings(), vec![]).await;
    let pool = &app.infra.pool;
    let old_keys = ["old-1", "old-2", "old-3", "old-4", "old-5"];
    for key in old_keys.iter().chain(&["fresh"]) {
        let claim = idempotency::claim(pool, 9, key, "hash", 3600)
            .await
            .unwrap();
        assert_eq!(claim, Claim::Run);
        idempotency::complete(pool, 9, key, 201, "{}")
            .await
            .unwrap();
    }
    // Two hours ago: past the one-hour retention.
    sqlx::query(
        "UPDATE idempotency_keys SET created_at = created_at - INTERVAL 2 HOUR, \
         expires_at = expires_at - INTERVAL 2 HOUR WHERE idempotency_key LIKE 'old-%'",
    )
    .execute(pool)
    .await
    .unwrap();

    let pruned = eventually(Duration::from_secs(30), || async {
        let mut any = false;
        for key in old_keys {
            any |= key_exists(pool, key).await;
        }
        !any
    })
    .await;
    assert!(pruned, "keys past the retention are deleted");
    assert!(
        key_exists(pool, "fresh").await,
        "a key inside the retention stays"
    );
    // And it still answers its replay.
    let replay = idempotency::claim(pool, 9, "fresh", "hash", 3600)
        .await
        .unwrap();
    assert_eq!(
        replay,
        Claim::Replay {
            status: 201,
            body: "{}".into()
        }
    );
}
