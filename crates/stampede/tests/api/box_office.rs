//! Helpers that walk the box office the way a client does: put a concert on
//! sale, queue, get admitted, hold a seat, pay.

use crate::helpers::*;
use stampede_api::auth::Role;
use std::time::Duration;

pub const WAIT: Duration = Duration::from_secs(30);

/// A concert on sale: its id, its schedules and each schedule's seat ids.
pub struct OnSale {
    pub concert_id: u64,
    pub schedule_ids: Vec<u64>,
    pub seats: Vec<Vec<u64>>,
}

/// Puts a concert on sale with `schedules` schedules of `seats` seats at `price`.
pub async fn on_sale(app: &TestApp, schedules: usize, seats: u32, price: u64) -> OnSale {
    let opens = chrono::Utc::now() - chrono::Duration::seconds(1);
    on_sale_opening(app, schedules, seats, price, opens).await
}

/// [`on_sale`] with booking (and so the waiting queue) opening at `opens`.
pub async fn on_sale_opening(
    app: &TestApp,
    schedules: usize,
    seats: u32,
    price: u64,
    opens: chrono::DateTime<chrono::Utc>,
) -> OnSale {
    let admin = app.token(1, Role::Admin);
    let schedules: Vec<serde_json::Value> = (0..schedules)
        .map(|n| {
            serde_json::json!({
                "starts_at": chrono::Utc::now() + chrono::Duration::days(30 + n as i64),
                "venue": format!("Hall {n}"),
                "booking_opens_at": opens,
                "seats": [{"grade": "R", "price": price, "count": seats}],
            })
        })
        .collect();
    let body = serde_json::json!({"title": "Stampede Live", "schedules": schedules});
    let response = app.post("/admin/concerts", &admin, Some(body)).await;
    assert_eq!(response.status(), 201, "{:?}", response.text().await);
    let created: serde_json::Value = response.json().await.unwrap();
    let concert_id = created["id"].as_u64().unwrap();
    let schedule_ids: Vec<u64> = created["schedules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_u64().unwrap())
        .collect();
    let mut seat_ids = Vec::new();
    for schedule in &schedule_ids {
        let ids: Vec<u64> =
            sqlx::query_scalar("SELECT id FROM seats WHERE schedule_id = ? ORDER BY seat_number")
                .bind(schedule)
                .fetch_all(&app.infra.pool)
                .await
                .unwrap();
        seat_ids.push(ids);
    }
    OnSale {
        concert_id,
        schedule_ids,
        seats: seat_ids,
    }
}

/// Takes a queue token for `user`; returns the token.
pub async fn enter_queue(app: &TestApp, user: u64, concert_id: u64) -> String {
    let response = app
        .post(
            "/queue/tokens",
            &app.token(user, Role::User),
            Some(serde_json::json!({"concert_id": concert_id})),
        )
        .await;
    assert_eq!(response.status(), 201);
    let body: serde_json::Value = response.json().await.unwrap();
    body["token"].as_str().unwrap().to_owned()
}

/// `GET /queue/tokens/me` for `user`: (HTTP status, body).
pub async fn token_status(app: &TestApp, user: u64, concert_id: u64) -> (u16, serde_json::Value) {
    let response = app
        .get(
            &format!("/queue/tokens/me?concert_id={concert_id}"),
            Some(&app.token(user, Role::User)),
        )
        .await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

/// Queues `user` and waits until the scheduler admitted the token.
pub async fn admitted(app: &TestApp, user: u64, concert_id: u64) -> String {
    let token = enter_queue(app, user, concert_id).await;
    let active = eventually(WAIT, || async {
        token_status(app, user, concert_id).await.1["status"] == "ACTIVE"
    })
    .await;
    assert!(active, "user {user} was never admitted");
    token
}

/// A request with the user's bearer token and queue token.
pub fn with_tokens(
    app: &TestApp,
    request: reqwest::RequestBuilder,
    user: u64,
    queue_token: &str,
) -> reqwest::RequestBuilder {
    request
        .bearer_auth(app.token(user, Role::User))
        .header("X-Queue-Token", queue_token)
}

/// `POST /reservations`: (HTTP status, body).
pub async fn hold(
    app: &TestApp,
    user: u64,
    queue_token: &str,
    schedule_id: u64,
    seat_id: u64,
) -> (u16, serde_json::Value) {
    let request = app
        .client
        .post(app.url("/reservations"))
        .json(&serde_json::json!({"schedule_id": schedule_id, "seat_id": seat_id}));
    let response = with_tokens(app, request, user, queue_token)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

/// `POST /reservations/{id}/payments` with points: (HTTP status, body).
pub async fn pay(
    app: &TestApp,
    user: u64,
    queue_token: &str,
    reservation: u64,
) -> (u16, serde_json::Value) {
    let request = app
        .client
        .post(app.url(&format!("/reservations/{reservation}/payments")))
        .json(&serde_json::json!({"method": "POINTS"}));
    let response = with_tokens(app, request, user, queue_token)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

/// Gives `user` `amount` points through the admin grant (support's route;
/// users buy theirs with a card top-up).
pub async fn grant_points(app: &TestApp, user: u64, amount: u64) {
    let response = app
        .post(
            &format!("/admin/users/{user}/points/grants"),
            &app.token(1, Role::Admin),
            Some(serde_json::json!({"amount": amount, "reason": "test setup"})),
        )
        .await;
    assert_eq!(response.status(), 201);
}

pub async fn balance(app: &TestApp, user: u64) -> u64 {
    stampede_infra::mysql::catalog::points_balance(&app.infra.pool, user)
        .await
        .unwrap()
}

/// (reservation status, seat status) as stored.
pub async fn stored(app: &TestApp, reservation: u64) -> (String, String) {
    sqlx::query_as(
        "SELECT r.status, s.status FROM reservations r JOIN seats s ON s.id = r.seat_id WHERE r.id = ?",
    )
    .bind(reservation)
    .fetch_one(&app.infra.pool)
    .await
    .unwrap()
}

/// Charges, admits, holds `seat` and pays for `user`; returns the reservation id.
pub async fn buy(app: &TestApp, user: u64, sale: &OnSale, schedule: usize, seat: usize) -> u64 {
    grant_points(app, user, 1_000_000).await;
    let token = admitted(app, user, sale.concert_id).await;
    let (status, held) = hold(
        app,
        user,
        &token,
        sale.schedule_ids[schedule],
        sale.seats[schedule][seat],
    )
    .await;
    assert_eq!(status, 201, "{held}");
    let reservation = held["id"].as_u64().unwrap();
    let (status, paid) = pay(app, user, &token, reservation).await;
    assert_eq!(status, 201, "{paid}");
    reservation
}
