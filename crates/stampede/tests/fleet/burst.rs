//! One flash sale, three instances: the gate in Redis is the only place
//! that decides, so however the requests are spread, the stock is issued
//! exactly, once per user, and every winner is persisted.

use crate::support::checks::winners_persisted_once;
use crate::{fleet_overrides, post_spread, three_instances};
use futures::StreamExt;
use std::collections::HashSet;

const STOCK: u64 = 2_000;
const FANS: u64 = 20_000;
const FIRST_FAN: u64 = 10;

#[tokio::test]
async fn twenty_thousand_fans_over_three_instances_get_exactly_the_stock_once_each() {
    let overrides = fleet_overrides().await;
    let (fleet, client, db) = three_instances(&overrides).await;
    let policy = client.open_policy(&fleet.url(0, ""), STOCK).await;
    let path = format!("/coupons/{policy}/issue");
    let ports = fleet.ports();

    // Fan k asks instance k % 3, as a round-robin balancer spreads them.
    let answers: Vec<(u64, usize, u16, String)> =
        futures::stream::iter(FIRST_FAN..FIRST_FAN + FANS)
            .map(|user| {
                let (client, ports, path) = (&client, &ports, &path);
                async move {
                    let instance = (user % 3) as usize;
                    let (status, body) = post_spread(client, ports, instance, path, user)
                        .await
                        .expect("every instance stays up");
                    let code = body["code"].as_str().unwrap_or_default().to_owned();
                    (user, instance, status, code)
                }
            })
            .buffer_unordered(64)
            .collect()
            .await;

    let mut winners: HashSet<u64> = HashSet::new();
    let mut refused = Vec::new();
    let mut won_on = [0u64; 3];
    for (user, instance, status, code) in &answers {
        match (*status, code.as_str()) {
            (201, _) => {
                winners.insert(*user);
                won_on[*instance] += 1;
            }
            (409, "SOLD_OUT") => {}
            // A broker write that timed out under the load gave its unit back.
            (503, _) => refused.push(*user),
            other => panic!("user {user} on instance {instance}: {other:?}"),
        }
    }
    // Who was refused may ask again, as a client would.
    for user in refused {
        let (status, body) = post_spread(&client, &ports, 0, &path, user).await.unwrap();
        assert!(
            status == 201 || body["code"] == "SOLD_OUT",
            "{status} {body}"
        );
        if status == 201 {
            winners.insert(user);
        }
    }
    eprintln!(
        "{} winners of {FANS} fans; by instance {won_on:?}",
        winners.len()
    );
    assert_eq!(winners.len() as u64, STOCK, "the stock sold out exactly");
    assert!(
        won_on.iter().all(|&n| n > 0),
        "every instance issued some: {won_on:?}"
    );
    winners_persisted_once(&db, policy, STOCK, &winners).await;
}
