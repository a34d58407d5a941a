//! Every answer an `Idempotency-Key` claim can give, on the real table:
//! first use, a duplicate while it runs, another request with the key, a
//! replay, a first request abandoned by a dead process, an expired key and
//! a released one.

use crate::helpers::spawn_app;
use stampede_infra::mysql::idempotency::{self, Claim, ABANDONED_AFTER_SECS};

#[tokio::test]
async fn a_claim_runs_once_replays_refuses_and_takes_over_what_was_abandoned_or_expired() {
    let app = spawn_app().await;
    let pool = &app.infra.pool;
    let claim =
        |key: &'static str, hash: &'static str| idempotency::claim(pool, 7, key, hash, 3600);

    assert_eq!(claim("k", "a").await.unwrap(), Claim::Run);
    assert_eq!(claim("k", "a").await.unwrap(), Claim::InProgress);
    assert_eq!(claim("k", "b").await.unwrap(), Claim::Mismatch);
    idempotency::complete(pool, 7, "k", 201, r#"{"id":1}"#)
        .await
        .unwrap();
    assert_eq!(
        claim("k", "a").await.unwrap(),
        Claim::Replay {
            status: 201,
            body: r#"{"id":1}"#.into()
        }
    );
    assert_eq!(claim("k", "b").await.unwrap(), Claim::Mismatch);

    // A first request whose process died before answering.
    assert_eq!(claim("dead", "a").await.unwrap(), Claim::Run);
    sqlx::query(
        "UPDATE idempotency_keys SET created_at = created_at - INTERVAL ? SECOND \
         WHERE user_id = 7 AND idempotency_key = 'dead'",
    )
    .bind(ABANDONED_AFTER_SECS + 1)
    .execute(pool)
    .await
    .unwrap();
    assert_eq!(
        claim("dead", "b").await.unwrap(),
        Claim::Mismatch,
        "only the same request takes over"
    );
    assert_eq!(claim("dead", "a").await.unwrap(), Claim::Run);
    assert_eq!(
        claim("dead", "a").await.unwrap(),
        Claim::InProgress,
        "taken over once"
    );

    // A key past its expiry is used afresh, even for another request.
    sqlx::query(
        "UPDATE idempotency_keys SET expires_at = UTC_TIMESTAMP(3) - INTERVAL 1 SECOND \
         WHERE user_id = 7 AND idempotency_key = 'k'",
    )
    .execute(pool)
    .await
    .unwrap();
    assert_eq!(claim("k", "b").await.unwrap(), Claim::Run);
    assert_eq!(claim("k", "b").await.unwrap(), Claim::InProgress);

    // A released key (the request failed on our side) may be retried.
    idempotency::release(pool, 7, "k").await.unwrap();
    assert_eq!(claim("k", "b").await.unwrap(), Claim::Run);
    app.stop().await;
}
