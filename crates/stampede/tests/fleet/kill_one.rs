//! `kill -9` of one of three instances while its consumers are persisting
//! winners: the consumer groups give its partitions to the other two, the
//! events it had read but not committed are read again (and absorbed), and
//! the healer on a survivor settles the claims it left open.

use crate::support::checks::{eventually, winners_persisted_once, WAIT};
use crate::support::client::Client;
use crate::support::fleet::Fleet;
use crate::{fleet_overrides, post_spread, Answer};
use futures::StreamExt;
use stampede_core::fcfs::{PoolKind, PoolRef};
use stampede_infra::Infra;
use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

const STOCK: u64 = 6_000;
const FANS: u64 = 9_000;
const FIRST_FAN: u64 = 100;
const VICTIM: usize = 2;

/// Whether `answer` tells the user it holds a coupon.
fn holds(answer: &Answer) -> bool {
    match answer {
        Some((201, _)) => true,
        Some((409, body)) => body["code"] == "ALREADY_ISSUED",
        _ => false,
    }
}

#[tokio::test]
async fn kill_9_of_one_instance_while_consumers_run_loses_no_event_and_counts_each_once() {
    let overrides = fleet_overrides().await;
    let settings = overrides.settings();
    let mut fleet = Fleet::start(3, &overrides).await;
    let client = Client::new(&settings);
    let infra = Infra::connect(settings.infra()).await.unwrap();
    let policy = client.open_policy(&fleet.url(0, ""), STOCK).await;
    let pool = PoolRef {
        kind: PoolKind::Coupon,
        id: policy,
    };
    let path = format!("/coupons/{policy}/issue");

    let answered = Arc::new(AtomicUsize::new(0));
    let killed = Arc::new(AtomicBool::new(false));
    let last: Arc<Mutex<BTreeMap<u64, Answer>>> = Arc::default();
    let ports = fleet.ports();
    let burst = {
        let (client, path, answered, killed, last) = (
            client.clone(),
            path.clone(),
            answered.clone(),
            killed.clone(),
            last.clone(),
        );
        tokio::spawn(async move {
            futures::stream::iter(FIRST_FAN..FIRST_FAN + FANS)
                .for_each_concurrent(48, |user| {
                    let (client, path, answered, killed, last, ports) =
                        (&client, &path, &answered, &killed, &last, &ports);
                    async move {
                        // After the kill the balancer no longer sends to the victim.
                        let mut instance = (user % 3) as usize;
                        if instance == VICTIM && killed.load(Ordering::SeqCst) {
                            instance = 0;
                        }
                        let answer = post_spread(client, ports, instance, path, user).await;
                        last.lock().unwrap().insert(user, answer);
                        answered.fetch_add(1, Ordering::SeqCst);
                    }
                })
                .await
        })
    };

    // The kill comes while winners are being persisted, not before or after.
    let midway = eventually(WAIT, || async {
        let rows = crate::support::checks::count(
            &infra.pool,
            &format!("SELECT COUNT(*) FROM user_coupons WHERE policy_id = {policy}"),
        )
        .await;
        rows > 0 && answered.load(Ordering::SeqCst) as u64 >= FANS / 4
    })
    .await;
    assert!(midway, "the consumers were persisting winners");
    fleet.instances[VICTIM].kill9().await;
    killed.store(true, Ordering::SeqCst);
    eprintln!(
        "instance {} killed after {} answers",
        VICTIM + 1,
        answered.load(Ordering::SeqCst)
    );
    burst.await.unwrap();

    // The victim's open claims belong to nobody alive: the healer settles them.
    let settled = eventually(WAIT, || async {
        infra
            .gate
            .ledger_stats(pool)
            .await
            .is_ok_and(|ledger| ledger.open == 0)
    })
    .await;
    assert!(settled, "no claim of the dead instance is left open");
    // Fans whose request was cut ask again, of a survivor.
    let cut: Vec<u64> = last
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, answer)| answer.is_none())
        .map(|(user, _)| *user)
        .collect();
    for &user in &cut {
        let answer = post_spread(&client, &fleet.ports(), 0, &path, user).await;
        assert!(answer.is_some(), "a survivor answers");
        last.lock().unwrap().insert(user, answer);
    }
    let last = last.lock().unwrap().clone();
    for (user, answer) in &last {
        let (status, body) = answer.as_ref().unwrap();
        assert!(
            [201, 409, 503].contains(status),
            "user {user}: {status} {body}"
        );
    }
    let winners: HashSet<u64> = last
        .iter()
        .filter(|(_, answer)| holds(answer))
        .map(|(user, _)| *user)
        .collect();
    eprintln!(
        "{} hold a coupon; {} requests were cut by the kill",
        winners.len(),
        cut.len()
    );
    winners_persisted_once(&infra.pool, policy, STOCK, &winners).await;
}
