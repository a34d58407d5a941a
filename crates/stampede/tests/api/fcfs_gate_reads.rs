//! A pool that refuses everyone is answered from one read of its state
//! instead of the take script: the read must refuse exactly what the script
//! refuses, and must never keep a unit from being taken.

use crate::helpers::test_settings;
use chrono::Utc;
use redis::AsyncCommands;
use stampede_core::fcfs::{Gate, GateOutcome, PoolKind, PoolRef, Revocation, Take};
use stampede_infra::redis::{FcfsGate, RedisConnection};
use std::time::Duration;
use uuid::Uuid;

/// A gate of its own (fresh memory of which pools refuse everyone) on
/// keys of this test's own.
async fn gate(prefix: &str) -> FcfsGate {
    let settings = test_settings();
    let redis = RedisConnection::single(&settings.redis.url).await.unwrap();
    FcfsGate::new(redis, prefix, Duration::from_secs(60), "test-instance")
}

/// Coupon pool 1 on keys of the test's own, opened with `stock` and a
/// window from now: the prefix, its gate, the pool and now (ms).
async fn open_coupon_pool(stock: u64) -> (String, FcfsGate, PoolRef, i64) {
    let prefix = format!("t{}:", Uuid::now_v7().simple());
    let gate = gate(&prefix).await;
    let pool = PoolRef {
        kind: PoolKind::Coupon,
        id: 1,
    };
    let now = Utc::now();
    let window =
        stampede_core::fcfs::IssueWindow::new(now, now + chrono::Duration::hours(1)).unwrap();
    gate.open(pool, stock, window).await.unwrap();
    (prefix, gate, pool, now.timestamp_millis())
}

fn take(pool: PoolRef, user_id: u64, now_ms: i64) -> Take {
    Take {
        pool,
        claim: Uuid::now_v7(),
        user_id,
        now_ms,
        per_user_limit: 1,
    }
}

/// One state of a pool hash, written as the scripts write it.
#[derive(Debug, Clone, Copy)]
struct Written {
    stock: Option<i64>,
    rebuilding: bool,
    closed: bool,
    /// Where `now` is: inside the window, before it, or at its close.
    now_offset_ms: i64,
    held: u32,
}

async fn write(redis: &mut RedisConnection, hash: &str, state: Written, now: i64) {
    let _: () = redis.del(hash).await.unwrap();
    let mut fields = vec![
        ("opens_ms".to_owned(), now - 1_000 + state.now_offset_ms),
        ("closes_ms".to_owned(), now + 1_000 + state.now_offset_ms),
        ("closed".to_owned(), i64::from(state.closed)),
        ("u:7".to_owned(), i64::from(state.held)),
    ];
    if let Some(stock) = state.stock {
        fields.push(("stock".to_owned(), stock));
    }
    if state.rebuilding {
        fields.push(("rebuilding".to_owned(), 1));
    }
    let _: () = redis.hset_multiple(hash, &fields).await.unwrap();
}

#[tokio::test]
async fn the_read_refuses_exactly_what_the_take_script_refuses() {
    let prefix = format!("t{}:", Uuid::now_v7().simple());
    let reader = gate(&prefix).await;
    let mut redis = RedisConnection::single(&test_settings().redis.url)
        .await
        .unwrap();
    let now = Utc::now().timestamp_millis();
    let mut id = 0;
    let mut refusals = std::collections::BTreeSet::new();
    for stock in [None, Some(0), Some(3)] {
        for rebuilding in [false, true] {
            for closed in [false, true] {
                // Inside the window, before it opens, at the moment it closes.
                for now_offset_ms in [0, 5_000, -1_000] {
                    for held in [0, 1] {
                        id += 1;
                        let pool = PoolRef {
                            kind: PoolKind::Coupon,
                            id,
                        };
                        let state = Written {
                            stock,
                            rebuilding,
                            closed,
                            now_offset_ms,
                            held,
                        };
                        let hash = format!("{prefix}{{fcfs:coupon:{id}}}:pool");
                        write(&mut redis, &hash, state, now).await;
                        let read = reader.read_state(pool, 7).await.unwrap().refusal(now, 1);
                        // A gate that has not seen this pool runs the script.
                        let scripted = gate(&prefix).await.try_take(&take(pool, 7, now)).await;
                        let scripted = scripted.unwrap();
                        match read {
                            Some(refused) => {
                                assert_eq!(scripted, refused, "{state:?}");
                                refusals.insert(format!("{refused:?}"));
                            }
                            None => assert!(
                                matches!(scripted, GateOutcome::Won { .. }),
                                "{state:?}: the read left it to the script, which answered {scripted:?}"
                            ),
                        }
                    }
                }
            }
        }
    }
    assert_eq!(
        refusals.len(),
        6,
        "every refusal was compared: {refusals:?}"
    );
}

#[tokio::test]
async fn a_unit_given_back_after_the_pool_sold_out_is_taken_by_the_next_request() {
    let (_, gate, pool, now_ms) = open_coupon_pool(1).await;

    let first = take(pool, 1, now_ms);
    assert!(matches!(
        gate.try_take(&first).await.unwrap(),
        GateOutcome::Won { .. }
    ));
    // Sold out: from now on this gate reads the pool before the script…
    for user in 2..=4 {
        assert_eq!(
            gate.try_take(&take(pool, user, now_ms)).await.unwrap(),
            GateOutcome::SoldOut
        );
    }
    assert_eq!(
        gate.try_take(&take(pool, 1, now_ms)).await.unwrap(),
        GateOutcome::AlreadyIssued,
        "the holder hears that he holds it, from the read"
    );
    // …and a unit given back is still taken by the next request.
    assert_eq!(
        gate.revoke(pool, first.claim, 1).await.unwrap(),
        Revocation::GivenBack
    );
    assert!(matches!(
        gate.try_take(&take(pool, 5, now_ms)).await.unwrap(),
        GateOutcome::Won { ordinal: 1, .. }
    ));
    assert_eq!(
        gate.try_take(&take(pool, 6, now_ms)).await.unwrap(),
        GateOutcome::SoldOut
    );
    let snapshot = gate.snapshot(pool).await.unwrap();
    assert_eq!(snapshot.stock, Some(0));
    assert_eq!(snapshot.marks.get(&5), Some(&1));
    assert_eq!(snapshot.marks.get(&1), None, "the revoked mark is gone");
}

#[tokio::test]
async fn a_field_written_by_hand_that_is_no_number_leaves_the_answer_to_the_script() {
    let (prefix, gate, pool, now_ms) = open_coupon_pool(0).await;
    assert_eq!(
        gate.try_take(&take(pool, 1, now_ms)).await.unwrap(),
        GateOutcome::SoldOut
    );
    // The pool is read first from now on; a flag the read cannot parse…
    let mut redis = RedisConnection::single(&test_settings().redis.url)
        .await
        .unwrap();
    let hash = format!("{prefix}{{fcfs:coupon:1}}:pool");
    let _: () = redis.hset(&hash, "closed", "yes").await.unwrap();
    // …is read by the script as it always did ('1' alone means closed).
    assert_eq!(
        gate.try_take(&take(pool, 2, now_ms)).await.unwrap(),
        GateOutcome::SoldOut
    );
}
