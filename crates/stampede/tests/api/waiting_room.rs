//! The waiting room: the ETA against the real wait, a fan who stops polling
//! losing their place, pausing intake, and the active cap under three
//! admitters on one Redis. The fair opening is in `waiting_room_opening.rs`.

use crate::box_office::*;
use crate::helpers::*;
use stampede::admission::QueueAdmission;
use stampede_api::auth::Role;
use std::time::{Duration, Instant};

/// `PUT`/`POST` on an admin queue route: (HTTP status, body).
pub async fn queue_admin(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let mut request = app
        .client
        .request(method, app.url(path))
        .bearer_auth(app.token(1, Role::Admin));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

pub async fn pause(app: &TestApp, concert: u64, paused: bool) {
    let action = if paused { "pause" } else { "resume" };
    let path = format!("/admin/concerts/{concert}/queue/{action}");
    let (status, body) = queue_admin(app, reqwest::Method::POST, &path, None).await;
    assert_eq!(
        (status, body["paused"].as_bool()),
        (200, Some(paused)),
        "{body}"
    );
}

#[tokio::test]
async fn the_eta_is_within_thirty_percent_of_the_actual_wait_at_a_steady_rate() {
    let mut settings = test_settings();
    // 2 every 200 ms: a steady 10 fans per second.
    settings.concert.admit_interval_ms = 200;
    settings.concert.admit_per_interval = 2;
    settings.queue.outflow_window_secs = 5;
    let app = spawn_app_with(settings, vec![]).await;
    let concert = on_sale(&app, 1, 5, 100).await.concert_id;
    let fans: Vec<u64> = (1_000..1_080).collect();
    for fan in &fans {
        enter_queue(&app, *fan, concert).await;
    }
    let last = *fans.last().unwrap();
    // The first answer with an ETA once 20 fans went ahead: by then the
    // outflow has been measured over several intervals of this (busy) box,
    // not over the first one or two.
    let estimate = std::sync::Mutex::new(None);
    let measured = eventually(WAIT, || async {
        let (_, body) = token_status(&app, last, concert).await;
        let eta = body["eta_secs"].as_u64();
        let position = body["position"].as_u64().unwrap_or(u64::MAX);
        *estimate.lock().unwrap() = eta.map(|eta| (eta, body["position"].clone()));
        eta.is_some() && position <= 60
    })
    .await;
    assert!(measured, "no ETA was ever given");
    let asked = Instant::now();
    let (eta, position) = estimate.into_inner().unwrap().unwrap();
    let admitted = eventually(WAIT, || async {
        token_status(&app, last, concert).await.1["status"] == "ACTIVE"
    })
    .await;
    assert!(admitted);
    let actual = asked.elapsed().as_secs_f64();
    let error = (eta as f64 - actual).abs() / actual;
    assert!(
        actual > 2.0 && error <= 0.30,
        "position {position}: ETA {eta} s, actual wait {actual:.2} s ({:.0}% off)",
        error * 100.0
    );
    app.stop().await;
}

#[tokio::test]
async fn a_waiting_fan_who_stops_polling_loses_the_place_and_the_next_fan_is_admitted() {
    let mut settings = test_settings();
    settings.concert.admit_interval_ms = 100;
    settings.concert.admit_per_interval = 1;
    settings.queue.keepalive_secs = 3;
    let app = spawn_app_with(settings, vec![]).await;
    let concert = on_sale(&app, 1, 5, 100).await.concert_id;
    // Nobody is admitted while the first fan walks away.
    pause(&app, concert, true).await;
    let gone = enter_queue(&app, 61, concert).await;
    enter_queue(&app, 62, concert).await;
    let (_, second) = token_status(&app, 62, concert).await;
    assert_eq!(second["position"], 2);
    assert!(second["poll_after_secs"].as_u64().unwrap() <= 1, "{second}");
    // Fan 62 keeps polling; fan 61 never asks again and loses the place.
    let moved_up = eventually(WAIT, || async {
        token_status(&app, 62, concert).await.1["position"] == 1
    })
    .await;
    assert!(moved_up, "the silent fan kept the place");
    let dropped = metric(
        &app.metrics().await,
        "stampede_queue_dropped_total",
        &[("concert", &concert.to_string())],
    );
    assert_eq!(dropped, 1.0);
    pause(&app, concert, false).await;
    let next_admitted = eventually(WAIT, || async {
        token_status(&app, 62, concert).await.1["status"] == "ACTIVE"
    })
    .await;
    assert!(next_admitted);
    assert_eq!(token_status(&app, 61, concert).await.0, 404);
    // Asking again queues the walker anew, at the back.
    assert_ne!(enter_queue(&app, 61, concert).await, gone);
    app.stop().await;
}

#[tokio::test]
async fn paused_intake_admits_nobody_and_resumes() {
    let mut settings = test_settings();
    settings.concert.admit_interval_ms = 100;
    settings.concert.admit_per_interval = 5;
    let app = spawn_app_with(settings, vec![]).await;
    let concert = on_sale(&app, 1, 5, 100).await.concert_id;
    let rules = format!("/admin/concerts/{concert}/queue");
    pause(&app, concert, true).await;
    for fan in 71..=80 {
        enter_queue(&app, fan, concert).await;
    }
    // Several admission steps see the ten fans and admit none.
    let label = concert.to_string();
    let steps_ran = eventually(WAIT, || async {
        let text = app.metrics().await;
        metric(&text, "stampede_queue_waiting", &[("concert", &label)]) == 10.0
    })
    .await;
    assert!(steps_ran);
    for fan in 71..=80 {
        let (_, body) = token_status(&app, fan, concert).await;
        assert_eq!(body["status"], "WAITING");
        assert!(body.get("eta_secs").is_none(), "paused: no outflow, no ETA");
    }
    let (_, view) = queue_admin(&app, reqwest::Method::GET, &rules, None).await;
    assert_eq!(view["paused"], true);
    pause(&app, concert, false).await;
    let all_in = eventually(WAIT, || async {
        for fan in 71..=80 {
            if token_status(&app, fan, concert).await.1["status"] != "ACTIVE" {
                return false;
            }
        }
        true
    })
    .await;
    assert!(all_in, "resuming admitted nobody");

    // The rules' errors.
    let bad = serde_json::json!({"admit_per_interval": 0});
    let (status, body) = queue_admin(&app, reqwest::Method::PUT, &rules, Some(bad)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("INVALID_QUEUE_RULES"))
    );
    let unknown = "/admin/concerts/999999/queue/pause";
    let (status, body) = queue_admin(&app, reqwest::Method::POST, unknown, None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("CONCERT_NOT_FOUND"))
    );
    let fan = app
        .client
        .post(app.url(&format!("{rules}/pause")))
        .bearer_auth(app.token(71, Role::User))
        .send()
        .await
        .unwrap();
    assert_eq!(fan.status(), 403);
    app.stop().await;
}

#[tokio::test]
async fn the_active_cap_holds_under_three_admitters_and_no_shows_free_their_slots() {
    let mut settings = test_settings();
    settings.concert.admit_interval_ms = 50;
    settings.concert.admit_per_interval = 4;
    // Nobody here takes a seat: every admitted fan is a no-show after a second.
    settings.queue.no_show_secs = 1;
    let app = spawn_app_with(settings.clone(), vec![]).await;
    let concert = on_sale(&app, 1, 5, 100).await.concert_id;
    let rules = format!("/admin/concerts/{concert}/queue");
    let cap = serde_json::json!({"admit_per_interval": 4, "active_cap": 6});
    let (status, view) = queue_admin(&app, reqwest::Method::PUT, &rules, Some(cap)).await;
    assert_eq!(
        (status, view["active_cap"].as_u64()),
        (200, Some(6)),
        "{view}"
    );
    pause(&app, concert, true).await;
    let fans: Vec<u64> = (2_000..2_030).collect();
    for fan in &fans {
        enter_queue(&app, *fan, concert).await;
    }
    // Three more admission loops on the same Redis, beside the app's own…
    let stop = tokio_util::sync::CancellationToken::new();
    let loops: Vec<_> = (0..3)
        .map(|_| {
            let admission = QueueAdmission::new(app.infra.queue.clone(), settings.concert.clone());
            tokio::spawn(admission.run(stop.clone()))
        })
        .collect();
    // …and three racing the whole sweep-decide-admit without the interval lock.
    let racers: Vec<_> = (0..3)
        .map(|_| {
            let queue = app.infra.queue.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut most_active = 0;
                while !stop.is_cancelled() {
                    let swept = queue.sweep(concert).await.unwrap();
                    let count = swept.rules.admit_count(swept.active, swept.waiting);
                    if let Some(step) = queue.admit_decided(concert, &swept, count).await.unwrap() {
                        most_active = most_active.max(step.active);
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                most_active
            })
        })
        .collect();
    pause(&app, concert, false).await;
    let seen_active = std::sync::atomic::AtomicU64::new(0);
    let everyone_admitted = eventually(WAIT, || async {
        let swept = app.infra.queue.sweep(concert).await.unwrap();
        seen_active.fetch_max(swept.active, std::sync::atomic::Ordering::Relaxed);
        swept.waiting == 0
    })
    .await;
    let mut most_active = seen_active.into_inner();
    stop.cancel();
    for task in loops {
        task.await.unwrap();
    }
    for racer in racers {
        most_active = most_active.max(racer.await.unwrap());
    }
    // 30 fans through a cap of 6 with nobody seated and a 600 s active
    // time: only the no-shows' freed slots can have let them all in.
    assert!(everyone_admitted, "the no-shows' slots were never freed");
    assert!(most_active <= 6, "{most_active} active over a cap of 6");
    assert!(most_active >= 1);
    app.stop().await;
}
