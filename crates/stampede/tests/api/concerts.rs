//! The box office: the waiting queue, seat holds and their expiry, and the
//! errors a client can get.

use crate::box_office::*;
use crate::helpers::*;
use stampede::admission::{AdmissionStep, QueueAdmission};
use stampede_api::auth::Role;
use stampede_infra::redis::HoldConfirmation;

#[tokio::test]
async fn the_queue_admits_in_arrival_order_and_active_time_runs_out() {
    let mut settings = test_settings();
    // The scheduler stays out of the way: this test admits by hand.
    settings.concert.admit_interval_ms = 3_600_000;
    settings.concert.active_ttl_secs = 1;
    let app = spawn_app_with(settings, vec![]).await;
    let sale = on_sale(&app, 1, 5, 100).await;
    let concert = sale.concert_id;
    for user in 11..=15 {
        enter_queue(&app, user, concert).await;
    }
    // Asking again keeps the place in line.
    let again = enter_queue(&app, 12, concert).await;
    assert_eq!(
        token_status(&app, 12, concert).await.1["token"],
        again.as_str()
    );
    assert_eq!(token_status(&app, 12, concert).await.1["position"], 2);

    let admission = app.infra.queue.admit(concert, 2).await.unwrap();
    assert_eq!((admission.admitted, admission.waiting), (2, 3));
    for user in [11, 12] {
        assert_eq!(
            token_status(&app, user, concert).await.1["status"],
            "ACTIVE"
        );
    }
    for (user, position) in [(13, 1), (14, 2), (15, 3)] {
        let (_, body) = token_status(&app, user, concert).await;
        assert_eq!(body["status"], "WAITING");
        assert_eq!(body["position"], position, "user {user}");
    }
    app.infra.queue.admit(concert, 2).await.unwrap();
    assert_eq!(token_status(&app, 13, concert).await.1["status"], "ACTIVE");
    assert_eq!(token_status(&app, 15, concert).await.1["position"], 1);

    // Active for one second, then the token no longer opens the box office.
    let token = token_status(&app, 11, concert).await.1["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let seats = format!(
        "/concerts/{concert}/schedules/{}/seats",
        sale.schedule_ids[0]
    );
    let request = app.client.get(app.url(&seats));
    let answer = with_tokens(&app, request, 11, &token).send().await.unwrap();
    assert_eq!(answer.status(), 200);
    let expired = eventually(WAIT, || async {
        token_status(&app, 11, concert).await.1["status"] == "EXPIRED"
    })
    .await;
    assert!(expired);
    let request = app.client.get(app.url(&seats));
    let answer = with_tokens(&app, request, 11, &token).send().await.unwrap();
    assert_eq!(answer.status(), 401);
    let body: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(body["code"], "QUEUE_TOKEN_EXPIRED");
    // The next admission forgets it; asking again queues anew.
    app.infra.queue.admit(concert, 0).await.unwrap();
    assert_eq!(token_status(&app, 11, concert).await.0, 404);
    let fresh = enter_queue(&app, 11, concert).await;
    assert_ne!(fresh, token);
    app.stop().await;
}

#[tokio::test]
async fn the_scheduler_admits_per_interval_and_one_instance_leads_each_interval() {
    let mut settings = test_settings();
    settings.concert.admit_per_interval = 3;
    let app = spawn_app_with(settings.clone(), vec![]).await;
    let sale = on_sale(&app, 1, 5, 100).await;
    for user in 21..=27 {
        enter_queue(&app, user, sale.concert_id).await;
    }
    let all_active = eventually(WAIT, || async {
        for user in 21..=27 {
            if token_status(&app, user, sale.concert_id).await.1["status"] != "ACTIVE" {
                return false;
            }
        }
        true
    })
    .await;
    assert!(all_active);
    let admitted = metric(
        &app.metrics().await,
        "stampede_queue_admitted_total",
        &[("concert", &sale.concert_id.to_string())],
    );
    assert_eq!(admitted, 7.0);

    // Two instances asking for the same interval: one admits, one stands by.
    let mut slow = settings.concert.clone();
    slow.admit_interval_ms = 60_000;
    let first = QueueAdmission::new(app.infra.queue.clone(), slow.clone());
    let second = QueueAdmission::new(app.infra.queue.clone(), slow);
    // Race until neither finds the app's own scheduler holding the interval.
    let deadline = tokio::time::Instant::now() + WAIT;
    let steps = loop {
        let (a, b) = tokio::join!(first.try_step(), second.try_step());
        let steps = [a.unwrap(), b.unwrap()];
        if steps
            .iter()
            .any(|s| matches!(s, AdmissionStep::Admitted(_)))
        {
            break steps;
        }
        assert!(tokio::time::Instant::now() < deadline, "nobody ever led");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(
        steps
            .iter()
            .filter(|s| **s == AdmissionStep::NotLeader)
            .count(),
        1,
        "{steps:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn twenty_buyers_of_one_seat_get_one_hold() {
    let app = spawn_app().await;
    let sale = on_sale(&app, 1, 3, 100).await;
    let (schedule, seat) = (sale.schedule_ids[0], sale.seats[0][1]);
    let mut tokens = Vec::new();
    for user in 100..120 {
        tokens.push((user, admitted(&app, user, sale.concert_id).await));
    }
    let answers = futures::future::join_all(
        tokens
            .iter()
            .map(|(user, token)| hold(&app, *user, token, schedule, seat)),
    )
    .await;
    let won: Vec<&serde_json::Value> = answers
        .iter()
        .filter(|(s, _)| *s == 201)
        .map(|(_, b)| b)
        .collect();
    assert_eq!(won.len(), 1, "{answers:?}");
    assert!(answers
        .iter()
        .filter(|(s, _)| *s != 201)
        .all(|(s, b)| *s == 409 && b["code"] == "SEAT_TAKEN"));
    let live: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM reservations WHERE seat_id = ? AND status IN ('PENDING', 'CONFIRMED')",
    )
    .bind(seat)
    .fetch_one(&app.infra.pool)
    .await
    .unwrap();
    assert_eq!(live, 1);
    let reservation = won[0]["id"].as_u64().unwrap();
    assert_eq!(
        stored(&app, reservation).await,
        ("PENDING".into(), "HELD".into())
    );
    // reservation.created reached the seat-lock consumer, which confirmed
    // the Redis hold it found.
    let confirmed = eventually(WAIT, || async {
        metric(
            &app.metrics().await,
            "stampede_seat_hold_confirmations_total",
            &[("outcome", "extended")],
        ) >= 1.0
    })
    .await;
    assert!(confirmed);
    app.stop().await;
}

#[tokio::test]
async fn a_released_hold_is_extended_never_written_back() {
    let app = spawn_app().await;
    let sale = on_sale(&app, 1, 1, 100).await;
    let (schedule, seat) = (sale.schedule_ids[0], sale.seats[0][0]);
    let token = admitted(&app, 45, sale.concert_id).await;
    let (_, held) = hold(&app, 45, &token, schedule, seat).await;
    let reservation = stampede_infra::mysql::reservations::find_reservation(
        &app.infra.pool,
        held["id"].as_u64().unwrap(),
    )
    .await
    .unwrap()
    .unwrap();
    let holds = &app.infra.seat_holds;
    let (id, until) = (reservation.hold_id, reservation.hold_expires_at);
    assert_eq!(
        holds.confirm(schedule, seat, id, until).await.unwrap(),
        HoldConfirmation::Extended
    );
    let other = uuid::Uuid::new_v4();
    assert_eq!(
        holds.confirm(schedule, seat, other, until).await.unwrap(),
        HoldConfirmation::HeldByOther
    );
    assert!(
        !holds.release(schedule, seat, other).await.unwrap(),
        "not its hold"
    );
    // The cleanup released it (a payment was decided); a late confirmation
    // must not resurrect it on a seat the database may have freed.
    assert!(holds.release(schedule, seat, id).await.unwrap());
    assert_eq!(
        holds.confirm(schedule, seat, id, until).await.unwrap(),
        HoldConfirmation::Gone
    );
    assert_eq!(holds.holder(schedule, seat).await.unwrap(), None);
    app.stop().await;
}

#[tokio::test]
async fn a_hold_runs_out_by_itself_and_the_seat_can_be_held_again() {
    let mut settings = test_settings();
    settings.concert.hold_ttl_secs = 1;
    let app = spawn_app_with(settings, vec![]).await;
    let sale = on_sale(&app, 1, 2, 500).await;
    let (schedule, seat) = (sale.schedule_ids[0], sale.seats[0][0]);
    grant_points(&app, 31, 10_000).await;
    let first = admitted(&app, 31, sale.concert_id).await;
    let second = admitted(&app, 32, sale.concert_id).await;
    let (status, held) = hold(&app, 31, &first, schedule, seat).await;
    assert_eq!(status, 201);
    let reservation = held["id"].as_u64().unwrap();
    assert_eq!(hold(&app, 32, &second, schedule, seat).await.0, 409);

    // The Redis hold expires by itself, and the reservation reads EXPIRED.
    let gone = eventually(WAIT, || async {
        app.infra
            .seat_holds
            .holder(schedule, seat)
            .await
            .unwrap()
            .is_none()
    })
    .await;
    assert!(gone);
    let read = app
        .get(
            &format!("/reservations/{reservation}"),
            Some(&app.token(31, Role::User)),
        )
        .await;
    assert_eq!(
        read.json::<serde_json::Value>().await.unwrap()["status"],
        "EXPIRED"
    );
    let seats_path = format!("/concerts/{}/schedules/{schedule}/seats", sale.concert_id);
    let request = app.client.get(app.url(&seats_path));
    let map: serde_json::Value = with_tokens(&app, request, 32, &second)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(map["available"], 2, "a run-out hold reads AVAILABLE: {map}");

    // Someone else takes the seat; the first buyer's late payment is refused.
    let (status, taken) = hold(&app, 32, &second, schedule, seat).await;
    assert_eq!(status, 201, "{taken}");
    assert_eq!(stored(&app, reservation).await.0, "EXPIRED");
    let (status, refused) = pay(&app, 31, &first, reservation).await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (409, Some("RESERVATION_NOT_PAYABLE"))
    );
    assert_eq!(balance(&app, 31).await, 10_000);
    app.stop().await;
}

#[tokio::test]
async fn a_payment_after_the_hold_ran_out_fails_and_is_compensated() {
    let mut settings = test_settings();
    settings.concert.hold_ttl_secs = 1;
    let app = spawn_app_with(settings, vec![]).await;
    let sale = on_sale(&app, 1, 1, 500).await;
    grant_points(&app, 41, 10_000).await;
    let token = admitted(&app, 41, sale.concert_id).await;
    let (_, held) = hold(&app, 41, &token, sale.schedule_ids[0], sale.seats[0][0]).await;
    let reservation = held["id"].as_u64().unwrap();
    let over = eventually(WAIT, || async {
        app.infra
            .seat_holds
            .holder(sale.schedule_ids[0], sale.seats[0][0])
            .await
            .unwrap()
            .is_none()
    })
    .await;
    assert!(over);
    let (status, refused) = pay(&app, 41, &token, reservation).await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (409, Some("HOLD_EXPIRED"))
    );
    // payment.failed: the compensator ends it EXPIRED and frees the seat.
    let compensated = eventually(WAIT, || async {
        stored(&app, reservation).await == ("EXPIRED".into(), "AVAILABLE".into())
    })
    .await;
    assert!(compensated, "{:?}", stored(&app, reservation).await);
    assert_eq!(balance(&app, 41).await, 10_000, "no points were taken");
    app.stop().await;
}

#[tokio::test]
async fn box_office_errors_are_the_documented_ones() {
    let mut settings = test_settings();
    settings.concert.admit_interval_ms = 3_600_000;
    let app = spawn_app_with(settings, vec![]).await;
    let sale = on_sale(&app, 1, 2, 100).await;
    let (concert, schedule) = (sale.concert_id, sale.schedule_ids[0]);
    let code = |response: reqwest::Response| async move {
        let status = response.status().as_u16();
        let body: serde_json::Value = response.json().await.unwrap();
        (status, body["code"].as_str().unwrap_or_default().to_owned())
    };
    let user = app.token(51, Role::User);
    let seats = app.url(&format!("/concerts/{concert}/schedules/{schedule}/seats"));

    let no_token = app
        .client
        .get(&seats)
        .bearer_auth(&user)
        .send()
        .await
        .unwrap();
    assert_eq!(code(no_token).await, (401, "QUEUE_TOKEN_REQUIRED".into()));
    let garbage = with_tokens(&app, app.client.get(&seats), 51, "not-a-token");
    assert_eq!(
        code(garbage.send().await.unwrap()).await,
        (401, "QUEUE_TOKEN_INVALID".into())
    );
    let waiting = enter_queue(&app, 51, concert).await;
    let request = with_tokens(&app, app.client.get(&seats), 51, &waiting);
    assert_eq!(
        code(request.send().await.unwrap()).await,
        (403, "QUEUE_TOKEN_WAITING".into())
    );
    app.infra.queue.admit(concert, 10).await.unwrap();
    let theirs = with_tokens(&app, app.client.get(&seats), 52, &waiting);
    assert_eq!(
        code(theirs.send().await.unwrap()).await,
        (403, "QUEUE_TOKEN_NOT_YOURS".into())
    );
    let other_concert = app.url(&format!(
        "/concerts/{}/schedules/{schedule}/seats",
        concert + 1000
    ));
    let request = with_tokens(&app, app.client.get(&other_concert), 51, &waiting);
    assert_eq!(
        code(request.send().await.unwrap()).await,
        (404, "SCHEDULE_NOT_FOUND".into())
    );

    let (status, body) = hold(&app, 51, &waiting, schedule, sale.seats[0][0] + 1000).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("SEAT_NOT_FOUND"))
    );
    let (status, body) = hold(&app, 51, &waiting, schedule + 1000, sale.seats[0][0]).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("SCHEDULE_NOT_FOUND"))
    );
    let (status, body) = pay(&app, 51, &waiting, 999_999).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("RESERVATION_NOT_FOUND"))
    );

    let queue = app
        .post(
            "/queue/tokens",
            &user,
            Some(serde_json::json!({"concert_id": concert + 1000})),
        )
        .await;
    assert_eq!(code(queue).await, (404, "CONCERT_NOT_FOUND".into()));
    let unknown = app
        .get("/queue/tokens/me?concert_id=abc", Some(&user))
        .await;
    assert_eq!(code(unknown).await, (400, "INVALID_QUERY".into()));
    let ranking = app.get("/concerts/rankings/sold-out?limit=0", None).await;
    assert_eq!(code(ranking).await, (422, "INVALID_QUERY".into()));

    let not_admin = app
        .post(
            "/admin/concerts",
            &user,
            Some(serde_json::json!({"title": "x", "schedules": []})),
        )
        .await;
    assert_eq!(code(not_admin).await, (403, "FORBIDDEN".into()));
    let admin = app.token(1, Role::Admin);
    let empty = app
        .post(
            "/admin/concerts",
            &admin,
            Some(serde_json::json!({"title": "x", "schedules": []})),
        )
        .await;
    assert_eq!(code(empty).await, (422, "INVALID_BODY".into()));
    let bad_grade = serde_json::json!({"title": "x", "schedules": [{"starts_at": "2030-01-01T00:00:00Z",
        "venue": "v", "seats": [{"grade": "vip", "price": 1, "count": 1}]}]});
    let answer = app.post("/admin/concerts", &admin, Some(bad_grade)).await;
    assert_eq!(code(answer).await, (422, "INVALID_BODY".into()));
    let card = app
        .client
        .post(app.url("/reservations/1/payments"))
        .json(&serde_json::json!({"method": "CARD"}));
    let answer = with_tokens(&app, card, 51, &waiting).send().await.unwrap();
    assert_eq!(code(answer).await, (422, "INVALID_BODY".into()));
    app.stop().await;
}
