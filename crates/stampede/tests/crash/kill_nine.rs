//! `kill -9` at random moments (seeded: `STAMPEDE_CHAOS_SEED=<n>` replays a
//! run), Redis emptied once and MariaDB restarted once, while coupons,
//! campaign entries, queue-mode requests and seats are bought; then the
//! healer alone makes everything add up, and every client's last answer is
//! the truth.

use crate::driver::{Answer, PoolDriver, Target};
use crate::seats::{visit, Fan, Stage};
use crate::support::brokers::repo_root;
use crate::support::checks::{count, eventually};
use crate::support::client::Client;
use crate::support::pg_sim::free_port;
use crate::support::serve::ServeProcess;
use crate::support::settings::Overrides;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use stampede_core::fcfs::{PoolKind, PoolRef};
use stampede_infra::Infra;
use std::collections::{BTreeSet, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const COUPONS: u64 = 50_000;
const SLOTS: u64 = 20_000;
const QUEUED: u64 = 5_000;
const SEATS: u32 = 150;
const FANS: u64 = 200;
const SEAT_PRICE: u64 = 1000;
const FAN_POINTS: u64 = 10_000;
const KILLS: usize = 6;
/// The goal is ≤ 10 s; the assertion leaves room for a loaded CI machine.
const HEAL_WITHIN: Duration = Duration::from_secs(30);

async fn flush_redis() {
    let client = redis::Client::open("redis://127.0.0.1:6379").unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    redis::cmd("FLUSHALL")
        .query_async::<()>(&mut connection)
        .await
        .unwrap();
}

/// Stops MariaDB (a clean shutdown, as a restart does) and starts it again
/// with the same provisioning that started it.
async fn restart_mariadb() {
    let down = tokio::process::Command::new("mariadb-admin")
        .args(["-h127.0.0.1", "-uroot", "shutdown"])
        .status()
        .await
        .expect("mariadb-admin runs");
    assert!(down.success(), "MariaDB shut down");
    // The port closes before the process has finished shutting down.
    let exited = eventually(Duration::from_secs(60), || async {
        let running = tokio::process::Command::new("pgrep")
            .args(["-x", "mariadbd"])
            .output()
            .await
            .expect("pgrep runs");
        !running.status.success()
    })
    .await;
    assert!(exited, "mariadbd exited");
    let up = tokio::process::Command::new("bash")
        .arg(repo_root().join("scripts/provision.sh"))
        .output()
        .await
        .expect("provision runs");
    assert!(up.status.success(), "MariaDB started again: {up:?}");
}

/// The gate and the database agree on `pool` and account for its stock,
/// with no claim left open.
async fn gate_at_rest(infra: &Infra, pool: PoolRef, table: &str, stock: u64) -> bool {
    let Ok(Some(counter)) = infra.gate.snapshot_stock(pool).await else {
        return false;
    };
    let Ok(ledger) = infra.gate.ledger_stats(pool).await else {
        return false;
    };
    let (winners_table, column) = match pool.kind {
        PoolKind::Coupon => ("user_coupons", "policy_id"),
        PoolKind::Campaign => ("campaign_entries", "campaign_id"),
    };
    let Ok(remaining) =
        sqlx::query_scalar::<_, u64>(&format!("SELECT remaining FROM {table} WHERE id = ?"))
            .bind(pool.id)
            .fetch_one(&infra.pool)
            .await
    else {
        return false;
    };
    let rows = count(
        &infra.pool,
        &format!(
            "SELECT COUNT(*) FROM {winners_table} WHERE {column} = {}",
            pool.id
        ),
    )
    .await as u64;
    ledger.open == 0 && counter == remaining as i64 && remaining + rows == stock
}

async fn holders(infra: &Infra, sql: &str) -> BTreeSet<u64> {
    let users: Vec<u64> = sqlx::query_scalar(sql)
        .fetch_all(&infra.pool)
        .await
        .unwrap();
    let distinct: BTreeSet<u64> = users.iter().copied().collect();
    assert_eq!(distinct.len(), users.len(), "no user holds two: {sql}");
    distinct
}

/// Users whose last answer says they hold one (won now, or already did).
fn told_they_hold(driver: &PoolDriver) -> BTreeSet<u64> {
    driver
        .last_answers()
        .into_iter()
        .filter(|(_, answer)| {
            matches!(answer, Answer::Got(201, _))
                || matches!(answer, Answer::Got(409, code) if code == "ALREADY_ISSUED")
        })
        .map(|(user, _)| user)
        .collect()
}

#[tokio::test]
async fn kill_9_at_random_moments_loses_nothing_and_the_healer_mends_the_rest() {
    let seed = std::env::var("STAMPEDE_CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random::<u64>);
    eprintln!("chaos seed {seed} (STAMPEDE_CHAOS_SEED={seed} replays this run)");
    let mut rng = StdRng::seed_from_u64(seed);

    let mut overrides = Overrides::unique();
    overrides
        .set("http.port", free_port())
        .set("kafka.producer.delivery_timeout_ms", 3000)
        .set("healer.interval_ms", 500)
        .set("healer.heartbeat_ttl_ms", 1500)
        .set("healer.hold_pending_secs", 2);
    let settings = overrides.settings();
    let mut serve = ServeProcess::start("serve", &overrides).await;
    let target = Target(Arc::new(AtomicU16::new(serve.port)));
    let client = Client::new(&settings);
    let base = target.url("");
    let infra = Infra::connect(settings.infra()).await.unwrap();

    let coupon = client.open_policy(&base, COUPONS).await;
    let campaign = client.open_campaign(&base, SLOTS).await;
    let queued = client.open_policy_in(&base, QUEUED, "QUEUE").await;
    let (concert, schedule) = client.concert(&base, SEATS, SEAT_PRICE).await;
    let seats: Arc<Vec<u64>> = Arc::new(
        sqlx::query_scalar("SELECT id FROM seats WHERE schedule_id = ?")
            .bind(schedule)
            .fetch_all(&infra.pool)
            .await
            .unwrap(),
    );
    let fans: Vec<u64> = (9_000_000..9_000_000 + FANS).collect();
    for &fan in &fans {
        client.grant_points(&base, fan, FAN_POINTS).await;
    }

    let stop = Arc::new(AtomicBool::new(false));
    let coupons = PoolDriver::new(format!("/coupons/{coupon}/issue"));
    let entries = PoolDriver::new(format!("/campaigns/{campaign}/entries"));
    let requests = PoolDriver::new(format!("/coupons/{queued}/issue"));
    let mut load = vec![
        tokio::spawn(
            coupons
                .clone()
                .drive(client.clone(), target.clone(), 10, 16, stop.clone()),
        ),
        tokio::spawn(entries.clone().drive(
            client.clone(),
            target.clone(),
            3_000_000,
            8,
            stop.clone(),
        )),
        tokio::spawn(requests.clone().drive(
            client.clone(),
            target.clone(),
            6_000_000,
            4,
            stop.clone(),
        )),
    ];
    let visits: Vec<tokio::task::JoinHandle<Fan>> = fans
        .iter()
        .map(|&fan| {
            tokio::spawn(visit(
                Stage {
                    client: client.clone(),
                    target: target.clone(),
                    concert,
                    schedule,
                    seats: seats.clone(),
                    seed,
                    stop: stop.clone(),
                },
                fan,
            ))
        })
        .collect();

    for kill in 0..KILLS {
        tokio::time::sleep(Duration::from_millis(rng.gen_range(800..2500))).await;
        match kill {
            1 => {
                eprintln!("Redis FLUSHALL");
                flush_redis().await;
                tokio::time::sleep(Duration::from_millis(rng.gen_range(500..1500))).await;
            }
            3 => {
                eprintln!("MariaDB restart");
                restart_mariadb().await;
                tokio::time::sleep(Duration::from_millis(rng.gen_range(500..1500))).await;
            }
            _ => {}
        }
        eprintln!("kill -9 #{}", kill + 1);
        serve.kill9().await;
        tokio::time::sleep(Duration::from_millis(rng.gen_range(0..500))).await;
        serve.restart().await;
        target.0.store(serve.port, Ordering::SeqCst);
    }
    let restarted = Instant::now();
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::SeqCst);
    for driver in load.drain(..) {
        driver.await.unwrap();
    }
    let fans: Vec<Fan> = futures::future::join_all(visits)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();

    // Healing, with nobody's help.
    let coupon_pool = PoolRef {
        kind: PoolKind::Coupon,
        id: coupon,
    };
    let campaign_pool = PoolRef {
        kind: PoolKind::Campaign,
        id: campaign,
    };
    let healed = eventually(Duration::from_secs(90), || async {
        gate_at_rest(&infra, coupon_pool, "coupon_policies", COUPONS).await
            && gate_at_rest(&infra, campaign_pool, "campaigns", SLOTS).await
    })
    .await;
    let took = restarted.elapsed();
    eprintln!("healed {:.1} s after the last restart", took.as_secs_f64());
    assert!(
        healed,
        "the gates and the database agree again, no claim open"
    );
    assert!(
        took <= HEAL_WITHIN,
        "healed within {HEAL_WITHIN:?}: {took:?}"
    );

    // Clients that got no answer ask again; then every last answer is the truth.
    coupons.retry_unanswered(&client, &target).await;
    entries.retry_unanswered(&client, &target).await;
    requests.retry_unanswered(&client, &target).await;
    assert!(gate_at_rest(&infra, coupon_pool, "coupon_policies", COUPONS).await);
    assert!(gate_at_rest(&infra, campaign_pool, "campaigns", SLOTS).await);
    let coupon_holders = holders(
        &infra,
        &format!("SELECT user_id FROM user_coupons WHERE policy_id = {coupon}"),
    )
    .await;
    assert_eq!(
        coupon_holders,
        told_they_hold(&coupons),
        "coupons: answers = rows"
    );
    let entry_holders = holders(
        &infra,
        &format!("SELECT user_id FROM campaign_entries WHERE campaign_id = {campaign}"),
    )
    .await;
    assert_eq!(
        entry_holders,
        told_they_hold(&entries),
        "entries: answers = rows"
    );
    // Never "not opened" (Redis lost the counter, the pool was OPEN), never a 500.
    for driver in [&coupons, &entries, &requests] {
        for (user, answers) in driver.answers.lock().unwrap().iter() {
            for answer in answers {
                assert!(
                    matches!(
                        answer,
                        Answer::Nothing | Answer::Got(201 | 202 | 409 | 503, _)
                    ),
                    "{}: user {user} got {answer:?}",
                    driver.path
                );
            }
        }
    }
    let given_back = infra.gate.ledger_stats(coupon_pool).await.unwrap().revoked;
    eprintln!(
        "coupons {} of {COUPONS} ({given_back} units given back), campaign entries {} of {SLOTS}",
        coupon_holders.len(),
        entry_holders.len()
    );

    queue_requests_decided_truthfully(&client, &target, &infra, &requests, queued).await;
    seats_sold_once_and_points_kept(&infra, schedule, &fans).await;

    // Nothing was dead-lettered that would have succeeded a second later.
    for topic in [
        "coupon.issued",
        "campaign.entry.succeeded",
        "coupon.issue.requested",
    ] {
        let dlt = infra.topics.dead_letter(&infra.topics.physical(topic));
        let letters =
            stampede_infra::kafka::dead_letter_reader::read_dead_letters(infra.kafka(), &dlt)
                .await
                .unwrap();
        assert!(letters.is_empty(), "{dlt}: {} letters", letters.len());
    }
    assert!(serve.terminate().await, "the last instance stops cleanly");
}

/// Every queue-mode request ends ISSUED or REJECTED; those ISSUED are the
/// rows, and the policy accounts for its stock.
async fn queue_requests_decided_truthfully(
    client: &Client,
    target: &Target,
    infra: &Infra,
    requests: &PoolDriver,
    policy: u64,
) {
    let mut issued = BTreeSet::new();
    let mut already = BTreeSet::new();
    let all = requests.answers.lock().unwrap().clone();
    for (user, answers) in all {
        for answer in answers {
            let Answer::Got(202, request) = answer else {
                continue;
            };
            let url = target.url(&format!("/coupon-requests/{request}"));
            let bearer = client.token(user, stampede_api::auth::Role::User);
            let status = std::sync::Mutex::new(serde_json::Value::Null);
            let decided = eventually(Duration::from_secs(60), || async {
                let Ok(response) = client.http.get(&url).bearer_auth(&bearer).send().await else {
                    return false;
                };
                let body: serde_json::Value = response.json().await.unwrap_or_default();
                let done = body["status"] == "ISSUED" || body["status"] == "REJECTED";
                *status.lock().unwrap() = body;
                done
            })
            .await;
            let status = status.into_inner().unwrap();
            assert!(
                decided,
                "request {request} of user {user} was decided: {status}"
            );
            if status["status"] == "ISSUED" {
                issued.insert(user);
            } else if status["reason"] == "ALREADY_ISSUED" {
                already.insert(user);
            }
        }
    }
    let rows = holders(
        infra,
        &format!("SELECT user_id FROM user_coupons WHERE policy_id = {policy}"),
    )
    .await;
    assert!(issued.is_subset(&rows), "every ISSUED request is a coupon");
    let unexplained: Vec<&u64> = rows
        .difference(&issued)
        .filter(|u| !already.contains(u))
        .collect();
    assert!(
        unexplained.is_empty(),
        "coupons of requests nobody was told of: {unexplained:?}"
    );
    let remaining: u64 = sqlx::query_scalar("SELECT remaining FROM coupon_policies WHERE id = ?")
        .bind(policy)
        .fetch_one(&infra.pool)
        .await
        .unwrap();
    assert_eq!(
        remaining + rows.len() as u64,
        QUEUED,
        "queue mode: remaining + rows = stock"
    );
    eprintln!("queue mode: {} issued of {QUEUED}", rows.len());
}

/// No seat held or sold twice, a paid seat is SOLD, no Redis hold without
/// its reservation, points conserved.
async fn seats_sold_once_and_points_kept(infra: &Infra, schedule: u64, fans: &[Fan]) {
    let pool = &infra.pool;
    let doubles = count(
        pool,
        &format!(
            "SELECT COUNT(*) FROM (SELECT seat_id FROM reservations WHERE schedule_id = {schedule} \
             AND status IN ('PENDING', 'CONFIRMED') GROUP BY seat_id HAVING COUNT(*) > 1) d"
        ),
    )
    .await;
    assert_eq!(doubles, 0, "no seat with two live reservations");
    let sold: HashSet<u64> = sqlx::query_scalar(&format!(
        "SELECT id FROM seats WHERE schedule_id = {schedule} AND status = 'SOLD'"
    ))
    .fetch_all(pool)
    .await
    .unwrap()
    .into_iter()
    .collect();
    let confirmed: HashSet<u64> = sqlx::query_scalar(&format!(
        "SELECT seat_id FROM reservations WHERE schedule_id = {schedule} AND status = 'CONFIRMED'"
    ))
    .fetch_all(pool)
    .await
    .unwrap()
    .into_iter()
    .collect();
    assert_eq!(sold, confirmed, "the SOLD seats are the paid ones");
    for fan in fans {
        if let Some(reservation) = fan.paid {
            let status: String = sqlx::query_scalar("SELECT status FROM reservations WHERE id = ?")
                .bind(reservation)
                .fetch_one(pool)
                .await
                .unwrap();
            assert_eq!(status, "CONFIRMED", "fan {} was told paid", fan.user);
        }
    }
    // Holds whose request died are freed (within hold_pending_secs + a healer tick).
    let stranded = eventually(Duration::from_secs(30), || async {
        for &seat in &seat_ids(pool, schedule).await {
            if let Ok(Some(hold)) = infra.seat_holds.holder(schedule, seat).await {
                let owned = count(
                    pool,
                    &format!(
                        "SELECT COUNT(*) FROM reservations WHERE hold_id = '{hold}' \
                         AND status IN ('PENDING', 'CONFIRMED')"
                    ),
                )
                .await;
                if owned != 1 {
                    return false;
                }
            }
        }
        true
    })
    .await;
    assert!(stranded, "every Redis hold belongs to a live reservation");
    let balances = count(
        pool,
        "SELECT CAST(COALESCE(SUM(balance), 0) AS SIGNED) FROM user_points",
    )
    .await;
    let paid = count(
        pool,
        "SELECT CAST(COALESCE(SUM(amount), 0) AS SIGNED) FROM payments WHERE status = 'SUCCESS'",
    )
    .await;
    assert_eq!(
        balances + paid,
        (fans.len() as u64 * FAN_POINTS) as i64,
        "points: balances + payments = charged"
    );
    eprintln!(
        "seats: {} sold of {SEATS}, {} fans told paid",
        sold.len(),
        fans.iter().filter(|f| f.paid.is_some()).count()
    );
}

async fn seat_ids(pool: &sqlx::MySqlPool, schedule: u64) -> Vec<u64> {
    sqlx::query_scalar("SELECT id FROM seats WHERE schedule_id = ?")
        .bind(schedule)
        .fetch_all(pool)
        .await
        .unwrap()
}
