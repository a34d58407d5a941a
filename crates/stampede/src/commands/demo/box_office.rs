//! Part 4: the box office. A concert schedule goes on sale; fans queue, are
//! admitted by the scheduler, race for seats (two fans want each seat: one
//! gets the hold, the other `SEAT_TAKEN`) and pay with points. A few fans
//! short of points are quickest to hold a seat: their payment fails, the
//! compensator frees the seat, and the fans still without a seat take the
//! freed ones until the schedule sells out and enters the sold-out ranking.

use super::client::{Answer, Api};
use futures::StreamExt;
use reqwest::Method;
use stampede_api::auth::Role;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

#[derive(Debug, Default)]
pub struct BoxOffice {
    pub ok: bool,
    pub seats: usize,
    pub sold: usize,
    pub seat_taken: usize,
    pub payments_failed: usize,
    pub sell_out_ms: Option<u64>,
    pub ranking_position: Option<usize>,
    pub paid_payments: Vec<u64>,
}

struct Fan {
    user: u64,
    token: String,
}

/// A fan and their place in the crowd (which decides the seat they want).
type Numbered<'a> = (usize, &'a Fan);

pub async fn run(api: &Api, seats: u32, first_fan: u64) -> anyhow::Result<BoxOffice> {
    let admin = (1, Role::Admin);
    let now = chrono::Utc::now();
    let concert = serde_json::json!({
        "title": "Stampede Live",
        "schedules": [{
            "starts_at": now + chrono::Duration::days(30),
            "venue": "Olympic Hall",
            "booking_opens_at": now,
            "seats": [{"grade": "R", "price": 50000, "count": seats}],
        }],
    });
    let created = api.post_ok("/admin/concerts", admin, concert).await?;
    let concert_id = created["id"].as_u64().unwrap_or_default();
    let schedule_id = created["schedules"][0]["id"].as_u64().unwrap_or_default();
    let fans = seats as u64 * 2;
    println!("\nStampede demo — 4. box office: {seats} seats, {fans} fans in the waiting queue");

    let short: BTreeSet<u64> = (0..u64::from(seats))
        .filter(|n| n % 10 == 3)
        .map(|n| first_fan + n)
        .collect();
    let started = Instant::now();
    let fans: Vec<Fan> =
        futures::stream::iter((0..fans).map(|n| queue_up(api, concert_id, first_fan + n, &short)))
            .buffer_unordered(20)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<anyhow::Result<_>>()?;
    println!(
        "  admitted by the scheduler        {} fans in {:.2?}",
        fans.len(),
        started.elapsed()
    );

    let mut outcome = BoxOffice {
        seats: seats as usize,
        ..BoxOffice::default()
    };
    let seat_ids = seat_ids(api, concert_id, schedule_id, &fans[0]).await?;
    // Round 1: fan n wants seat n mod seats, so two fans want each seat;
    // the fans short of points happen to be quickest.
    let (quick, crowd): (Vec<Numbered>, Vec<Numbered>) = fans
        .iter()
        .enumerate()
        .partition(|(_, fan)| short.contains(&fan.user));
    let mut attempts = Vec::new();
    for (n, fan) in quick {
        attempts.push((
            n,
            hold(api, fan, schedule_id, seat_ids[n % seat_ids.len()]).await,
        ));
    }
    let rush: Vec<(usize, Answer)> = futures::stream::iter(crowd.into_iter().map(|(n, fan)| {
        let seat = seat_ids[n % seat_ids.len()];
        async move { (n, hold(api, fan, schedule_id, seat).await) }
    }))
    .buffer_unordered(20)
    .collect()
    .await;
    attempts.extend(rush);
    let mut waiting: Vec<&Fan> = Vec::new();
    let mut held = Vec::new();
    for (n, (status, body)) in attempts {
        match status {
            201 => held.push((&fans[n], body["id"].as_u64().unwrap_or_default())),
            409 => {
                outcome.seat_taken += 1;
                waiting.push(&fans[n]);
            }
            _ => anyhow::bail!("holding a seat answered {status}: {body}"),
        }
    }
    pay_all(api, &held, &mut outcome).await?;

    // Later rounds: seats freed by failed payments go to fans still waiting.
    let deadline = Instant::now() + Duration::from_secs(30);
    while outcome.sold < seat_ids.len() && !waiting.is_empty() && Instant::now() < deadline {
        let free = available(api, concert_id, schedule_id, waiting[0]).await?;
        if free.is_empty() {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        }
        let mut round = Vec::new();
        for seat in free {
            let Some(fan) = waiting.pop() else { break };
            let (status, body) = hold(api, fan, schedule_id, seat).await;
            if status == 201 {
                round.push((fan, body["id"].as_u64().unwrap_or_default()));
            } else {
                waiting.push(fan);
            }
        }
        pay_all(api, &round, &mut outcome).await?;
    }

    let ranked = Instant::now() + Duration::from_secs(30);
    while Instant::now() < ranked && outcome.sold == seat_ids.len() {
        let (_, lines) = api
            .get("/concerts/rankings/sold-out?limit=100", None)
            .await?;
        let lines = lines.as_array().cloned().unwrap_or_default();
        if let Some(position) = lines.iter().position(|l| l["schedule_id"] == schedule_id) {
            outcome.ranking_position = Some(position + 1);
            outcome.sell_out_ms = lines[position]["sell_out_ms"].as_u64();
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!("  holds refused: SEAT_TAKEN        {}", outcome.seat_taken);
    println!(
        "  payments failed (short of points) {} → reservations cancelled, seats freed, taken again",
        outcome.payments_failed
    );
    println!(
        "  seats sold                       {} / {}",
        outcome.sold, outcome.seats
    );
    match (outcome.sell_out_ms, outcome.ranking_position) {
        (Some(ms), Some(position)) => println!(
            "  sold out in                      {:.2} s (#{position} in the sold-out ranking)",
            ms as f64 / 1000.0
        ),
        _ => println!("  sold out in                      not ranked"),
    }
    outcome.ok = outcome.sold == outcome.seats
        && outcome.ranking_position.is_some()
        && outcome.payments_failed >= short.len();
    Ok(outcome)
}

/// Charges (too little for a few), queues, and waits to be admitted.
async fn queue_up(
    api: &Api,
    concert_id: u64,
    user: u64,
    short: &BTreeSet<u64>,
) -> anyhow::Result<Fan> {
    let me = (user, Role::User);
    let points = if short.contains(&user) {
        10_000
    } else {
        100_000
    };
    api.grant_points(user, points, "demo fan").await?;
    let ticket = api
        .post_ok(
            "/queue/tokens",
            me,
            serde_json::json!({"concert_id": concert_id}),
        )
        .await?;
    let token = ticket["token"].as_str().unwrap_or_default().to_owned();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, status) = api
            .get(
                &format!("/queue/tokens/me?concert_id={concert_id}"),
                Some(me),
            )
            .await?;
        if status["status"] == "ACTIVE" {
            return Ok(Fan { user, token });
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "user {user} was never admitted: {status}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn with_token(
    api: &Api,
    fan: &Fan,
    method: Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> Answer {
    api.call(
        method,
        path,
        Some((fan.user, Role::User)),
        body,
        &[("X-Queue-Token", &fan.token)],
    )
    .await
    .unwrap_or((0, serde_json::Value::Null))
}

async fn hold(api: &Api, fan: &Fan, schedule_id: u64, seat_id: u64) -> Answer {
    let body = serde_json::json!({"schedule_id": schedule_id, "seat_id": seat_id});
    with_token(api, fan, Method::POST, "/reservations", Some(body)).await
}

async fn seat_map(
    api: &Api,
    concert_id: u64,
    schedule_id: u64,
    fan: &Fan,
) -> anyhow::Result<Vec<serde_json::Value>> {
    let path = format!("/concerts/{concert_id}/schedules/{schedule_id}/seats");
    let (status, map) = with_token(api, fan, Method::GET, &path, None).await;
    anyhow::ensure!(status == 200, "the seat map answered {status}: {map}");
    Ok(map["seats"].as_array().cloned().unwrap_or_default())
}

async fn seat_ids(
    api: &Api,
    concert_id: u64,
    schedule_id: u64,
    fan: &Fan,
) -> anyhow::Result<Vec<u64>> {
    let seats = seat_map(api, concert_id, schedule_id, fan).await?;
    Ok(seats.iter().filter_map(|s| s["id"].as_u64()).collect())
}

async fn available(
    api: &Api,
    concert_id: u64,
    schedule_id: u64,
    fan: &Fan,
) -> anyhow::Result<Vec<u64>> {
    let seats = seat_map(api, concert_id, schedule_id, fan).await?;
    Ok(seats
        .iter()
        .filter(|s| s["status"] == "AVAILABLE")
        .filter_map(|s| s["id"].as_u64())
        .collect())
}

/// Pays every held reservation; counts sales and refusals.
async fn pay_all(api: &Api, held: &[(&Fan, u64)], outcome: &mut BoxOffice) -> anyhow::Result<()> {
    let answers: Vec<Answer> = futures::stream::iter(held.iter().map(|(fan, reservation)| {
        let path = format!("/reservations/{reservation}/payments");
        async move {
            with_token(
                api,
                fan,
                Method::POST,
                &path,
                Some(serde_json::json!({"method": "POINTS"})),
            )
            .await
        }
    }))
    .buffer_unordered(20)
    .collect()
    .await;
    for (status, body) in answers {
        match status {
            201 => {
                outcome.sold += 1;
                outcome.paid_payments.extend(body["payment_id"].as_u64());
            }
            409 if body["code"] == "INSUFFICIENT_POINTS" => outcome.payments_failed += 1,
            _ => anyhow::bail!("paying a reservation answered {status}: {body}"),
        }
    }
    Ok(())
}
