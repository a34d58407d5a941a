//! The gate's claim ledger: every taken unit ends persisted or given back,
//! once, whichever of the consumer and a revocation comes first.

use crate::fcfs_failures::rows;
use crate::helpers::*;
use chrono::Utc;
use stampede_core::coupon::CouponIssued;
use stampede_core::fcfs::{Gate, GateOutcome, PoolKind, PoolRef, Revocation};
use std::time::Duration;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(60);

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
    let taken = gate.try_take(pool, late, 7, now, 1).await.unwrap();
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
    gate.try_take(pool, settled, 8, now, 1).await.unwrap();
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
