//! The gate's claim ledger: every taken unit ends persisted or given back,
//! once, whichever of the consumer and a revocation comes first.

use crate::fcfs_failures::rows;
use crate::helpers::*;
use chrono::Utc;
use stampede_api::auth::Role;
use stampede_core::coupon::CouponIssued;
use stampede_core::fcfs::{Gate, GateOutcome, PoolKind, PoolRef, PoolStatus, Revocation, Take};
use stampede_infra::mysql::pools;
use std::time::Duration;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(60);

/// One unit of `pool` for `user`, at most one per user.
fn take(pool: PoolRef, claim: Uuid, user: u64, now_ms: i64) -> Take {
    Take {
        pool,
        claim,
        user_id: user,
        now_ms,
        per_user_limit: 1,
    }
}

fn winner(claim: Uuid, policy: u64, user: u64) -> CouponIssued {
    CouponIssued {
        issue_id: claim,
        policy_id: policy,
        user_id: user,
        ordinal: 1,
        issued_at: Utc::now(),
        expires_at: Utc::now() + chrono::Duration::days(30),
    }
}

#[tokio::test]
async fn a_winner_that_arrives_after_its_claim_was_revoked_is_skipped_not_issued() {
    let app = spawn_app().await;
    let policy = app.open_policy(10, "GATE").await;
    let pool = PoolRef {
        kind: PoolKind::Coupon,
        id: policy,
    };
    let gate = &app.infra.gate;
    let now = Utc::now().timestamp_millis();

    // A publish reported failed, the unit given back…
    let late = Uuid::now_v7();
    let taken = gate.try_take(&take(pool, late, 7, now)).await.unwrap();
    assert!(matches!(taken, GateOutcome::Won { .. }));
    assert_eq!(
        gate.revoke(pool, late, 7).await.unwrap(),
        Revocation::GivenBack
    );
    assert_eq!(
        gate.revoke(pool, late, 7).await.unwrap(),
        Revocation::AlreadyRevoked
    );
    // …and its event reaching the broker after all (a lost acknowledgement).
    app.infra
        .events
        .publish(&winner(late, policy, 7))
        .await
        .unwrap();

    // A claim the consumer settles first cannot be revoked any more.
    let settled = Uuid::now_v7();
    gate.try_take(&take(pool, settled, 8, now)).await.unwrap();
    app.infra
        .events
        .publish(&winner(settled, policy, 8))
        .await
        .unwrap();
    assert!(eventually(WAIT, || async { rows(&app, policy).await == 1 }).await);
    assert_eq!(
        gate.revoke(pool, settled, 8).await.unwrap(),
        Revocation::AlreadySettled
    );

    let skipped = eventually(WAIT, || async {
        metric(
            &app.metrics().await,
            "stampede_winners_revoked_skipped_total",
            &[],
        ) == 1.0
    })
    .await;
    assert!(skipped, "the revoked claim's winner was skipped");
    assert_eq!(
        rows(&app, policy).await,
        1,
        "only the settled winner is a row"
    );
    let snapshot = gate.snapshot(pool).await.unwrap();
    assert_eq!(
        snapshot.stock,
        Some(9),
        "the revoked unit is back, the settled one taken"
    );
    assert_eq!(snapshot.marks.get(&7), None, "user 7 may try again");
    assert_eq!(snapshot.marks.get(&8), Some(&1));
    app.stop().await;
}

#[tokio::test]
async fn a_dead_instances_claims_heal_only_once_the_consumer_has_passed_them() {
    let mut settings = test_settings();
    settings.kafka.producer.delivery_timeout_ms = 2000;
    settings.healer.interval_ms = 300;
    settings.healer.heartbeat_ttl_ms = 900;
    // No persisting consumer yet: the healer cannot know what is on its way.
    let app = spawn_api_only_with(settings).await;
    let policy = app.open_policy(10, "GATE").await;
    let pool = PoolRef {
        kind: PoolKind::Coupon,
        id: policy,
    };
    // An instance that took two units and died (it never renews a heartbeat):
    // one winner's publish was acknowledged just before it died, the other
    // never left.
    let dead = stampede_infra::redis::FcfsGate::new(
        app.infra.redis.clone(),
        &app.settings.redis.key_prefix,
        Duration::from_secs(60),
        "an-instance-that-died",
    );
    let now = Utc::now().timestamp_millis();
    let (acknowledged, lost) = (Uuid::now_v7(), Uuid::now_v7());
    dead.try_take(&take(pool, acknowledged, 7, now))
        .await
        .unwrap();
    dead.try_take(&take(pool, lost, 8, now)).await.unwrap();
    app.infra
        .events
        .publish(&winner(acknowledged, policy, 7))
        .await
        .unwrap();

    // Past the publish bound, with nobody consuming: both stay open. Giving
    // either back now could take the acknowledged winner's unit.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let ledger = app.infra.gate.ledger_stats(pool).await.unwrap();
    assert_eq!(
        ledger.open, 2,
        "no claim is healed before the consumer passed it"
    );

    let stop = tokio_util::sync::CancellationToken::new();
    let consumer = tokio::spawn(stampede_infra::kafka::consumer::run_consumer(
        stampede_consumers::coupon_persist::spec(&app.infra),
        app.settings.kafka.clone(),
        app.infra.producer.clone(),
        stop.clone(),
    ));
    let healed = eventually(WAIT, || async {
        app.infra.gate.ledger_stats(pool).await.unwrap().open == 0
    })
    .await;
    assert!(healed, "once the consumer passed them, no claim stays open");
    assert!(eventually(WAIT, || async { rows(&app, policy).await == 1 }).await);
    let holder: u64 = sqlx::query_scalar("SELECT user_id FROM user_coupons WHERE policy_id = ?")
        .bind(policy)
        .fetch_one(&app.infra.pool)
        .await
        .unwrap();
    assert_eq!(
        holder, 7,
        "the acknowledged winner is persisted, not given back"
    );
    let snapshot = app.infra.gate.snapshot(pool).await.unwrap();
    assert_eq!(snapshot.stock, Some(9), "the lost unit is back");
    assert_eq!(snapshot.marks.get(&8), None, "user 8 may try again");
    let healer = metric(
        &app.metrics().await,
        "stampede_healer_returned_total",
        &[("pool_kind", "coupon")],
    );
    assert_eq!(healer, 1.0);
    stop.cancel();
    consumer.await.unwrap().unwrap();
    app.stop().await;
}

#[tokio::test]
async fn a_pool_caught_between_its_open_status_and_its_gate_is_not_taken_for_lost() {
    let mut settings = test_settings();
    // This test takes the healer's looks itself, one at a time.
    settings.healer.enabled = false;
    let app = spawn_api_only_with(settings).await;
    let bounds = app
        .settings
        .healer
        .bounds(app.settings.kafka.producer.delivery_timeout_ms);
    let mut rebuilds = stampede::healer::rebuild::Rebuilds::new(&app.infra, bounds);
    let passed = std::collections::HashMap::new();
    // Two pools whose status says OPEN and whose gate is not written: one is
    // being opened right now, the other's gate Redis lost.
    let (opening, lost) = (
        app.create_policy(5, "GATE").await,
        app.create_policy(5, "GATE").await,
    );
    let coupon = |id| PoolRef {
        kind: PoolKind::Coupon,
        id,
    };
    for id in [opening, lost] {
        assert!(pools::set_status(
            &app.infra.pool,
            coupon(id),
            PoolStatus::Draft,
            PoolStatus::Open
        )
        .await
        .unwrap());
    }
    rebuilds
        .step(&passed, Utc::now().timestamp_millis())
        .await
        .unwrap();
    let shared = &app;
    let write_gate = |id: u64| async move {
        let app = shared;
        let state = pools::pool_state(&app.infra.pool, coupon(id))
            .await
            .unwrap()
            .unwrap();
        app.infra
            .gate
            .open(coupon(id), state.remaining, state.window)
            .await
            .unwrap();
    };
    // The opening finishes: its gate is written before the next look.
    write_gate(opening).await;
    rebuilds
        .step(&passed, Utc::now().timestamp_millis())
        .await
        .unwrap();
    // Missing at both looks, the other is blocked: a counter written now
    // does not lift that, only the rebuild does.
    write_gate(lost).await;

    let issue = |id: u64| async move {
        shared
            .post(
                &format!("/coupons/{id}/issue"),
                &shared.token(3, Role::User),
                None,
            )
            .await
    };
    assert_eq!(issue(opening).await.status(), 201, "never blocked");
    let refused = issue(lost).await;
    assert_eq!(refused.status(), 503);
    assert_eq!(
        refused.json::<serde_json::Value>().await.unwrap()["code"],
        "GATE_REBUILDING"
    );
    app.stop().await;
}
