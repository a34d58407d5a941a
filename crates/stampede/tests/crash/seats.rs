//! Fans buying seats while the server dies and returns: queue, wait to be
//! admitted, hold a seat, pay with points; every step retried as a client
//! would (a cut connection, a lost queue token, a seat someone else took).

use crate::driver::Target;
use crate::support::client::Client;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// What one fan ended with.
#[derive(Debug, Clone, Default)]
pub struct Fan {
    pub user: u64,
    /// The reservation whose payment was answered 201.
    pub paid: Option<u64>,
}

async fn json(request: reqwest::RequestBuilder) -> Option<(u16, serde_json::Value)> {
    let response = request.send().await.ok()?;
    let status = response.status().as_u16();
    Some((status, response.json().await.unwrap_or_default()))
}

/// Where the fans buy: the server, the concert's schedule and its seats.
pub struct Stage {
    pub client: Client,
    pub target: Target,
    pub concert: u64,
    pub schedule: u64,
    pub seats: Arc<Vec<u64>>,
    /// The run's seed: each fan picks seats from its own stream of it.
    pub seed: u64,
    pub stop: Arc<AtomicBool>,
}

/// One fan's whole visit; gives up when `stop` is set.
pub async fn visit(stage: Stage, user: u64) -> Fan {
    let Stage {
        client,
        target,
        concert,
        schedule,
        seats,
        seed,
        stop,
    } = stage;
    let mut rng = StdRng::seed_from_u64(seed ^ user);
    let bearer = client.token(user, stampede_api::auth::Role::User);
    let mut fan = Fan { user, paid: None };
    let mut queue_token: Option<String> = None;
    while !stop.load(Ordering::SeqCst) {
        let Some(token) = queue_token.clone() else {
            let request = client
                .http
                .post(target.url("/queue/tokens"))
                .bearer_auth(&bearer)
                .json(&serde_json::json!({"concert_id": concert}));
            match json(request).await {
                Some((201, body)) | Some((200, body)) => {
                    queue_token = body["token"].as_str().map(str::to_owned)
                }
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
            continue;
        };
        let status = client
            .http
            .get(target.url(&format!("/queue/tokens/me?concert_id={concert}")))
            .bearer_auth(&bearer);
        match json(status).await {
            Some((200, body)) if body["status"] == "ACTIVE" => {}
            Some((200, body)) if body["status"] == "WAITING" => {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            Some(_) => {
                // Expired, or lost with Redis: queue again.
                queue_token = None;
                continue;
            }
            None => {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        }
        let seat = seats[rng.gen_range(0..seats.len())];
        let hold = client
            .http
            .post(target.url("/reservations"))
            .bearer_auth(&bearer)
            .header("X-Queue-Token", &token)
            .json(&serde_json::json!({"schedule_id": schedule, "seat_id": seat}));
        let reservation = match json(hold).await {
            Some((201, body)) => body["id"].as_u64().expect("a reservation id"),
            Some((401 | 403, _)) => {
                queue_token = None;
                continue;
            }
            _ => continue, // taken, or no answer: another seat, another try
        };
        loop {
            let pay = client
                .http
                .post(target.url(&format!("/reservations/{reservation}/payments")))
                .bearer_auth(&bearer)
                .header("X-Queue-Token", &token)
                .header("Idempotency-Key", format!("pay-{reservation}"))
                .json(&serde_json::json!({"method": "POINTS"}));
            match json(pay).await {
                Some((201, _)) => {
                    fan.paid = Some(reservation);
                    return fan;
                }
                Some(_) => break, // refused: the hold ran out, or the token did
                None if stop.load(Ordering::SeqCst) => return fan,
                None => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }
    fan
}
