//! Three instances on a three-master Redis Cluster: every script names
//! only keys of one hash tag (a pool, a concert's queue, a schedule's
//! holds, a limit shard), so each runs on one node, atomically, and the
//! gate, the waiting queue, seat holds and the rate limits stay exact.

use crate::fleet_overrides;
use crate::limits::{ask_round, limited_fleet, tally};
use crate::support::checks::{count, eventually, winners_persisted_once, WAIT};
use crate::support::client::Client;
use crate::support::fleet::Fleet;
use crate::support::redis_cluster::RedisCluster;
use crate::support::settings::Overrides;
use crate::{post_spread, three_instances};
use futures::StreamExt;
use stampede_api::auth::Role;
use std::collections::{BTreeSet, HashSet};

const STOCK: u64 = 500;
const FANS: u64 = 4_000;
const SEATS: u32 = 40;
const SEAT_FANS: u64 = 120;

async fn on_redis_cluster() -> Overrides {
    RedisCluster::up().await;
    let mut overrides = fleet_overrides().await;
    overrides.set("redis.cluster_nodes", RedisCluster::NODES);
    overrides
}

#[tokio::test]
async fn the_gate_and_seat_holds_are_exact_on_a_redis_cluster() {
    let overrides = on_redis_cluster().await;
    let (fleet, client, db) = three_instances(&overrides).await;
    let base = fleet.url(0, "");

    // The gate: a burst over the three instances.
    let policy = client.open_policy(&base, STOCK).await;
    let path = format!("/coupons/{policy}/issue");
    let ports = fleet.ports();
    let answers: Vec<(u64, u16, serde_json::Value)> = futures::stream::iter(10..10 + FANS)
        .map(|user| {
            let (client, ports, path) = (&client, &ports, &path);
            async move {
                let (status, body) = post_spread(client, ports, user as usize, path, user)
                    .await
                    .unwrap();
                (user, status, body)
            }
        })
        .buffer_unordered(48)
        .collect()
        .await;
    for (user, status, body) in &answers {
        assert!(
            *status == 201 || body["code"] == "SOLD_OUT",
            "user {user}: {status} {body}"
        );
    }
    let winners: HashSet<u64> = answers
        .iter()
        .filter(|(_, status, _)| *status == 201)
        .map(|(user, ..)| *user)
        .collect();
    assert_eq!(winners.len() as u64, STOCK, "the stock sold out exactly");
    winners_persisted_once(&db, policy, STOCK, &winners).await;

    // The waiting queue and seat holds: fans queue, are admitted, and race
    // for too few seats, each trying them in its own order.
    let (concert, schedule) = client.concert(&base, SEATS, 1000).await;
    let seats: Vec<u64> = sqlx::query_scalar("SELECT id FROM seats WHERE schedule_id = ?")
        .bind(schedule)
        .fetch_all(&db)
        .await
        .unwrap();
    let held: Vec<(u64, u64)> = futures::stream::iter(2_000_000..2_000_000 + SEAT_FANS)
        .map(|fan| {
            let (client, fleet, seats) = (&client, &fleet, &seats);
            async move { hold_a_seat(client, fleet, concert, schedule, seats, fan).await }
        })
        .buffer_unordered(40)
        .filter_map(|held| async move { held })
        .collect()
        .await;
    let distinct: BTreeSet<u64> = held.iter().map(|(_, seat)| *seat).collect();
    assert_eq!(distinct.len(), held.len(), "no seat held twice: {held:?}");
    assert_eq!(held.len(), SEATS as usize, "every seat was held once");
    let rows = count(
        &db,
        &format!("SELECT COUNT(DISTINCT seat_id) FROM reservations WHERE schedule_id = {schedule}"),
    )
    .await;
    assert_eq!(rows, SEATS as i64, "one reservation per seat");
}

/// One fan: a queue token, admitted (ACTIVE), then seats in its own order
/// until one holds; (fan, seat), or None when every seat was taken.
async fn hold_a_seat(
    client: &Client,
    fleet: &Fleet,
    concert: u64,
    schedule: u64,
    seats: &[u64],
    fan: u64,
) -> Option<(u64, u64)> {
    let bearer = client.token(fan, Role::User);
    let instance = fan as usize;
    let (_, entered) = client
        .post(
            &fleet.url(instance, "/queue/tokens"),
            fan,
            Some(serde_json::json!({"concert_id": concert})),
        )
        .await
        .unwrap();
    let token = entered["token"].as_str().expect("a queue token").to_owned();
    // Another instance may answer: the queue is in Redis, not in a process.
    let admitted = eventually(WAIT, || async {
        let path = format!("/queue/tokens/me?concert_id={concert}");
        let status = client
            .get_json(&fleet.url(instance + 1, &path), Some(fan))
            .await;
        status["status"] == "ACTIVE"
    })
    .await;
    assert!(admitted, "fan {fan} was admitted");
    let start = (fan as usize * 7) % seats.len();
    for k in 0..seats.len() {
        let seat = seats[(start + k) % seats.len()];
        let response = client
            .http
            .post(fleet.url(instance + k, "/reservations"))
            .bearer_auth(&bearer)
            .header("X-Queue-Token", &token)
            .json(&serde_json::json!({"schedule_id": schedule, "seat_id": seat}))
            .send()
            .await
            .unwrap();
        match response.status().as_u16() {
            201 => return Some((fan, seat)),
            409 => continue,
            other => panic!(
                "fan {fan}, seat {seat}: {other} {}",
                response.text().await.unwrap_or_default()
            ),
        }
    }
    None
}

#[tokio::test]
async fn rate_limits_hold_across_instances_on_a_redis_cluster() {
    let mut overrides = on_redis_cluster().await;
    overrides
        .set("rate_limit.per_user_per_sec", 1)
        // Both limits in one script, the global one in shards on other nodes.
        .set("rate_limit.global_per_sec", 10_000)
        .set("rate_limit.global_shards", 4);
    let (fleet, client, path) = limited_fleet(&overrides).await;
    let (answers, took) = ask_round(&client, &fleet, &path, std::iter::repeat_n(7, 9)).await;
    let (admitted, every_instance_refused) = tally(&answers);
    assert!(admitted <= 1 + took.as_secs(), "{admitted} in {took:?}");
    assert!(every_instance_refused, "{answers:?}");
}
