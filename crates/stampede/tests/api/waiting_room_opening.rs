//! The fair opening: fans who queue before the opening wait in a pre-queue,
//! drawn once into a keyed random order that an auditor can reproduce;
//! later fans queue FIFO behind them. And the live event stream.

use crate::box_office::*;
use crate::helpers::*;
use crate::waiting_room::{pause, queue_admin};
use stampede_api::auth::Role;
use stampede_infra::redis::Draw;
use std::collections::HashSet;

#[tokio::test]
async fn the_pre_queue_is_drawn_once_into_a_permutation_that_is_not_arrival_order() {
    let mut settings = test_settings();
    // The app's scheduler stays out of the way: three "instances" draw here.
    settings.concert.admit_interval_ms = 3_600_000;
    let app = spawn_app_with(settings, vec![]).await;
    let opens = chrono::Utc::now() + chrono::Duration::seconds(3);
    let sale = on_sale_opening(&app, 1, 5, 100, opens).await;
    let concert = sale.concert_id;
    let early: Vec<u64> = (3_000..3_040).collect();
    let mut arrival = Vec::new();
    for fan in &early {
        arrival.push(enter_queue(&app, *fan, concert).await);
        let (_, body) = token_status(&app, *fan, concert).await;
        assert_eq!(body["status"], "PRE_QUEUED", "{body}");
    }
    let opening = format!("/admin/concerts/{concert}/queue/opening");
    let (status, body) = queue_admin(&app, reqwest::Method::GET, &opening, None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("QUEUE_NOT_DRAWN"))
    );
    // The door stays shut to a pre-queued token.
    let seats = format!(
        "/concerts/{concert}/schedules/{}/seats",
        sale.schedule_ids[0]
    );
    let request = app.client.get(app.url(&seats));
    let refused = with_tokens(&app, request, early[0], &arrival[0])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["code"], "QUEUE_TOKEN_WAITING");

    let opened = eventually(WAIT, || async { chrono::Utc::now() >= opens }).await;
    assert!(opened);
    let queue = &app.infra.queue;
    let (a, b, c) = tokio::join!(
        queue.draw(concert),
        queue.draw(concert),
        queue.draw(concert)
    );
    let draws = [a.unwrap(), b.unwrap(), c.unwrap()];
    let drawn: Vec<_> = draws
        .iter()
        .filter(|d| matches!(d, Draw::Drawn { .. }))
        .collect();
    assert_eq!(drawn, [&Draw::Drawn { count: 40 }], "{draws:?}");
    assert_eq!(queue.draw(concert).await.unwrap(), Draw::AlreadyDrawn);

    // A fan arriving after the opening queues behind every drawn one.
    enter_queue(&app, 3_100, concert).await;
    assert_eq!(token_status(&app, 3_100, concert).await.1["position"], 41);

    // Everyone once, in an order that is not the arrival order.
    let mut by_position = vec![String::new(); early.len()];
    for fan in &early {
        let (_, body) = token_status(&app, *fan, concert).await;
        let position = body["position"].as_u64().expect("a drawn fan waits") as usize;
        by_position[position - 1] = body["token"].as_str().unwrap().to_owned();
    }
    let everyone: HashSet<_> = by_position.iter().collect();
    assert_eq!(everyone, arrival.iter().collect::<HashSet<_>>());
    assert_ne!(by_position, arrival, "the draw kept arrival order");

    // The audit shows the seed and the order, and the seed reproduces it.
    let (status, audit) = queue_admin(&app, reqwest::Method::GET, &opening, None).await;
    assert_eq!(status, 200, "{audit}");
    assert_eq!(audit["seed"].as_str().unwrap().len(), 64);
    assert_eq!(audit["reproduces"], true);
    let order: Vec<String> = serde_json::from_value(audit["order"].clone()).unwrap();
    assert_eq!(order, by_position);
    app.stop().await;
}

#[tokio::test]
async fn the_event_stream_follows_the_place_until_admitted_from_one_reader() {
    let mut settings = test_settings();
    settings.concert.admit_interval_ms = 300;
    settings.concert.admit_per_interval = 1;
    settings.queue.events_tick_ms = 100;
    let app = spawn_app_with(settings, vec![]).await;
    let concert = on_sale(&app, 1, 5, 100).await.concert_id;
    crate::waiting_room::pause(&app, concert, true).await;
    for fan in 4_001..=4_006 {
        enter_queue(&app, fan, concert).await;
    }
    let stream = |fan: u64| {
        app.client
            .get(app.url(&format!("/queue/tokens/me/events?concert_id={concert}")))
            .bearer_auth(app.token(fan, Role::User))
            .send()
    };
    // Six fans follow their places; the instance's one reader feeds them all.
    let mut watchers = Vec::new();
    for fan in 4_001..=4_006 {
        let response = stream(fan).await.unwrap();
        assert_eq!(response.status(), 200);
        watchers.push(response);
    }
    let reads = || async {
        metric(
            &app.metrics().await,
            "stampede_queue_event_reads_total",
            &[],
        )
    };
    let before = reads().await;
    let started = std::time::Instant::now();
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let ticks = started.elapsed().as_millis() as f64 / 100.0;
    let made = reads().await - before;
    assert!(
        made <= ticks + 2.0,
        "{made} reads in {ticks} ticks for 6 streams"
    );

    crate::waiting_room::pause(&app, concert, false).await;
    let mut last = watchers.pop().unwrap();
    let mut text = String::new();
    while let Some(chunk) = last.chunk().await.unwrap() {
        text.push_str(&String::from_utf8_lossy(&chunk));
        if text.contains("event: admitted") {
            break;
        }
    }
    let positions: Vec<u64> = text
        .split("\n\n")
        .filter_map(|block| block.lines().find_map(|l| l.strip_prefix("data: ")))
        .filter_map(|data| serde_json::from_str::<serde_json::Value>(data).ok())
        .filter_map(|view| view["position"].as_u64())
        .collect();
    assert_eq!(positions.first(), Some(&6), "{text}");
    assert!(positions.windows(2).all(|w| w[1] <= w[0]), "{positions:?}");
    assert!(
        positions.contains(&1),
        "the place never reached the front: {positions:?}"
    );
    assert!(text.contains("event: admitted"), "{text}");
    app.stop().await;
}

#[tokio::test]
async fn a_pre_queued_fan_keeps_the_place_until_the_draw_and_then_must_keep_asking() {
    let mut settings = test_settings();
    settings.concert.admit_interval_ms = 100;
    settings.queue.keepalive_secs = 2;
    let app = spawn_app_with(settings, vec![]).await;
    // The opening is further away than the keepalive.
    let opens = chrono::Utc::now() + chrono::Duration::seconds(4);
    let concert = on_sale_opening(&app, 1, 5, 100, opens).await.concert_id;
    // Nobody is admitted: the drawn fans stay in line.
    pause(&app, concert, true).await;
    enter_queue(&app, 3_200, concert).await;
    enter_queue(&app, 3_201, concert).await;
    // The scheduler draws at the opening; both places survived the silence before it.
    let drawn = eventually(WAIT, || async {
        let (_, body) = queue_admin(
            &app,
            reqwest::Method::GET,
            &format!("/admin/concerts/{concert}/queue"),
            None,
        )
        .await;
        body["waiting"] == 2 && body["pre_queued"] == 0
    })
    .await;
    assert!(drawn, "the pre-queue was not drawn, or lost a silent fan");
    // From the draw on, fan 3201 asks and fan 3200 does not (asking for
    // 3200's place would keep it): 3200 is dropped.
    let label = concert.to_string();
    let dropped = eventually(WAIT, || async {
        token_status(&app, 3_201, concert).await;
        let text = app.metrics().await;
        metric(
            &text,
            "stampede_queue_dropped_total",
            &[("concert", &label)],
        ) == 1.0
    })
    .await;
    assert!(dropped, "the silent drawn fan kept the place");
    assert_eq!(token_status(&app, 3_200, concert).await.0, 404);
    let (_, body) = token_status(&app, 3_201, concert).await;
    assert_eq!(
        (body["status"].as_str(), body["position"].as_u64()),
        (Some("WAITING"), Some(1))
    );
}
