//! Rate limits counted in Redis hold across instances: a user at its limit
//! is refused by each of three instances, not let through three times.

use crate::support::client::Client;
use crate::support::fleet::Fleet;
use crate::support::settings::Overrides;
use crate::{fleet_overrides, three_instances};
use std::time::{Duration, Instant};

/// `user` asks instance 0, 1, 2, 0, … `times` times in a row, as fast as
/// the answers come: (instance, status, Retry-After) of each, and how long
/// it all took.
pub async fn ask_round(
    client: &Client,
    fleet: &Fleet,
    path: &str,
    users: impl Iterator<Item = u64>,
) -> (Vec<(usize, u16, Option<String>)>, Duration) {
    let started = Instant::now();
    let mut answers = Vec::new();
    for (k, user) in users.enumerate() {
        let response = client
            .http
            .post(fleet.url(k, path))
            .bearer_auth(client.token(user, stampede_api::auth::Role::User))
            .send()
            .await
            .unwrap();
        let retry_after = response
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned());
        answers.push((
            k % fleet.instances.len(),
            response.status().as_u16(),
            retry_after,
        ));
    }
    (answers, started.elapsed())
}

/// What a round shows: requests let through, and whether every instance
/// refused at least one with 429 and a Retry-After.
pub fn tally(answers: &[(usize, u16, Option<String>)]) -> (u64, bool) {
    let admitted = answers.iter().filter(|(_, s, _)| *s != 429).count() as u64;
    let every_instance_refused = (0..3).all(|n| {
        answers
            .iter()
            .any(|(i, s, retry)| *i == n && *s == 429 && retry.is_some())
    });
    (admitted, every_instance_refused)
}

/// Opens a policy on a fleet of three with `limits` set; the issue path.
pub async fn limited_fleet(overrides: &Overrides) -> (Fleet, Client, String) {
    let (fleet, client, _) = three_instances(overrides).await;
    let policy = client.open_policy(&fleet.url(0, ""), 1000).await;
    (fleet, client, format!("/coupons/{policy}/issue"))
}

#[tokio::test]
async fn a_user_at_its_limit_gets_429_from_every_instance_not_three_times_the_limit() {
    let mut overrides = fleet_overrides().await;
    overrides.set("rate_limit.per_user_per_sec", 1);
    let (fleet, client, path) = limited_fleet(&overrides).await;
    let (answers, took) = ask_round(&client, &fleet, &path, std::iter::repeat_n(42, 12)).await;
    let (admitted, every_instance_refused) = tally(&answers);
    eprintln!("{admitted} of 12 let through in {took:?}: {answers:?}");
    // One a second, plus the one at once; per-instance counting would let three through at once.
    assert!(
        admitted <= 1 + took.as_secs(),
        "{admitted} let through in {took:?}"
    );
    assert!(
        every_instance_refused,
        "each instance refused the user: {answers:?}"
    );
}

#[tokio::test]
async fn the_global_limit_is_one_budget_for_the_whole_fleet() {
    let mut overrides = fleet_overrides().await;
    overrides.set("rate_limit.global_per_sec", 2);
    let (fleet, client, path) = limited_fleet(&overrides).await;
    let (answers, took) = ask_round(&client, &fleet, &path, 1000..1030).await;
    let (admitted, every_instance_refused) = tally(&answers);
    eprintln!("{admitted} of 30 let through in {took:?}");
    assert!(
        admitted <= 2 + 2 * took.as_secs() + 1,
        "{admitted} let through in {took:?}"
    );
    assert!(every_instance_refused, "{answers:?}");
}
