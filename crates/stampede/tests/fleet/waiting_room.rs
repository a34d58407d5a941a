//! The waiting room on three instances sharing one Redis: each runs the
//! admission scheduler, and `kill -9` of the one admitting, mid-line,
//! neither lets more fans in than the concert's active cap nor stalls the
//! line (the others take over the next interval).

use crate::support::checks::{eventually, metric, WAIT};
use crate::support::client::Client;
use crate::support::fleet::Fleet;
use crate::{fleet_overrides, three_instances};
use reqwest::Method;
use stampede_api::auth::Role;
use std::cell::Cell;

const CAP: u64 = 6;
const FANS: u64 = 36;
const FIRST_FAN: u64 = 5_000;

/// An admin request to instance `n`: the answer's body, after checking it is 200.
async fn admin(
    client: &Client,
    fleet: &Fleet,
    n: usize,
    method: Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> serde_json::Value {
    let mut request = client
        .http
        .request(method, fleet.url(n, path))
        .bearer_auth(client.token(1, Role::Admin));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let view: serde_json::Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{path}: {view}");
    view
}

/// How many fans instance `n` admitted for `concert` (its own counter).
async fn admitted_by(client: &Client, fleet: &Fleet, n: usize, concert: u64) -> u64 {
    let text = client
        .http
        .get(fleet.url(n, "/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    metric(
        &text,
        "stampede_queue_admitted_total",
        &[("concert", &concert.to_string())],
    ) as u64
}

#[tokio::test]
async fn three_admitting_instances_never_exceed_the_active_cap_even_when_one_is_killed() {
    let mut overrides = fleet_overrides().await;
    overrides
        .set("concert.admit_interval_ms", 50)
        .set("concert.admit_per_interval", 4)
        // Nobody here takes a seat: every admitted fan is a no-show after
        // a second, and only that frees the slots for the rest.
        .set("queue.no_show_secs", 1);
    let (mut fleet, client, _) = three_instances(&overrides).await;
    let (concert, _) = client.concert(&fleet.url(0, ""), 5, 100).await;
    let rules = format!("/admin/concerts/{concert}/queue");
    let cap = serde_json::json!({"admit_per_interval": 4, "active_cap": CAP});
    let view = admin(&client, &fleet, 1, Method::PUT, &rules, Some(cap)).await;
    assert_eq!(view["active_cap"], CAP, "{view}");
    let pause = format!("{rules}/pause");
    admin(&client, &fleet, 2, Method::POST, &pause, None).await;
    for fan in FIRST_FAN..FIRST_FAN + FANS {
        let (status, body) = client
            .post(
                &fleet.url(fan as usize, "/queue/tokens"),
                fan,
                Some(serde_json::json!({"concert_id": concert})),
            )
            .await
            .unwrap();
        assert_eq!(status, 201, "{body}");
    }
    let view = admin(&client, &fleet, 0, Method::GET, &rules, None).await;
    assert_eq!(
        (view["waiting"].as_u64(), view["active"].as_u64()),
        (Some(FANS), Some(0))
    );
    let resume = format!("{rules}/resume");
    admin(&client, &fleet, 0, Method::POST, &resume, None).await;

    // Watch the room from every instance in turn until two caps' worth
    // went in; kill the instance that admitted most; watch the rest of the
    // line from the survivors.
    let most_active = Cell::new(0);
    let two_caps_in = watch(&client, &fleet, &rules, &[0, 1, 2], &most_active, |view| {
        view["waiting"].as_u64().unwrap() <= FANS - 2 * CAP
    })
    .await;
    assert!(two_caps_in, "two caps' worth were never admitted");
    let mut counts = Vec::new();
    for n in 0..3 {
        counts.push(admitted_by(&client, &fleet, n, concert).await);
    }
    let victim = (0..3).max_by_key(|n| counts[*n]).unwrap();
    fleet.instances[victim].kill9().await;
    let survivors: Vec<usize> = (0..3).filter(|n| *n != victim).collect();
    let view = admin(&client, &fleet, survivors[0], Method::GET, &rules, None).await;
    let waiting_at_kill = view["waiting"].as_u64().unwrap();
    eprintln!("admitted per instance: {counts:?}; killed {victim} with {waiting_at_kill} waiting");
    assert!(waiting_at_kill > 0, "the kill came after the line emptied");
    let everyone_admitted = watch(&client, &fleet, &rules, &survivors, &most_active, |view| {
        view["waiting"] == 0
    })
    .await;
    let mut by_survivors = 0;
    for n in &survivors {
        by_survivors += admitted_by(&client, &fleet, *n, concert).await;
    }
    eprintln!(
        "most active seen: {}; survivors admitted {by_survivors} in all",
        most_active.get()
    );
    assert!(
        everyone_admitted,
        "the survivors did not admit the rest of the line"
    );
    assert!(
        by_survivors >= waiting_at_kill,
        "{by_survivors} admitted by the survivors"
    );
    assert!(
        most_active.get() <= CAP,
        "{} active over a cap of {CAP}",
        most_active.get()
    );
}

/// Asks `instances` in turn for the room until `done` holds of a view (or
/// the wait is over), keeping the most fans seen active.
async fn watch(
    client: &Client,
    fleet: &Fleet,
    rules: &str,
    instances: &[usize],
    most_active: &Cell<u64>,
    done: impl Fn(&serde_json::Value) -> bool,
) -> bool {
    let (asked, done) = (&Cell::new(0), &done);
    eventually(WAIT, move || async move {
        let n = instances[asked.get() % instances.len()];
        asked.set(asked.get() + 1);
        let view = admin(client, fleet, n, Method::GET, rules, None).await;
        most_active.set(most_active.get().max(view["active"].as_u64().unwrap()));
        done(&view)
    })
    .await
}
