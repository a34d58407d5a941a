//! Dead-letter operations end to end: a data platform that is down sends
//! its events to `payment.success.DLT`; once it is back, `dlt replay`
//! brings them to it, exactly once, and touches nothing else.

use crate::box_office::*;
use crate::helpers::*;
use crate::sink::HttpSink;
use stampede::commands::dlt::{self, ReplayArgs};
use stampede_core::events::topics;
use std::sync::atomic::Ordering;
use std::time::Duration;

fn replay_args(group: Option<&str>, dry_run: bool) -> ReplayArgs {
    ReplayArgs {
        topic: "payment.success".into(),
        group: group.map(str::to_owned),
        since: None,
        dry_run,
    }
}

#[tokio::test]
async fn dead_letters_are_listed_shown_and_replayed_once_to_the_fixed_consumer() {
    let platform = HttpSink::start().await;
    platform.failing.store(true, Ordering::SeqCst);
    let mut settings = test_settings();
    settings.notify.data_platform_url = platform.url("platform");
    settings.kafka.consumer.retry_attempts = 1;
    let app = spawn_app_with(settings, vec![]).await;
    let sale = on_sale(&app, 1, 3, 100).await;
    for (seat, user) in (201..204).enumerate() {
        buy(&app, user, &sale, 0, seat).await;
    }
    let dead = eventually(WAIT, || async {
        metric(
            &app.metrics().await,
            "stampede_consumer_dead_lettered_total",
            &[("consumer", "data-platform")],
        ) == 3.0
    })
    .await;
    assert!(dead);

    let summaries = dlt::list(&app.infra).await.unwrap();
    let success_dlt = app.physical(&topics::dead_letter_of(topics::PAYMENT_SUCCESS));
    let summary = summaries
        .iter()
        .find(|s| s.topic == success_dlt)
        .expect("payment.success.DLT is listed");
    assert_eq!((summary.letters, summary.replayed), (3, 0));
    let group = app.infra.topics.group("data-platform-group");
    assert_eq!(summary.groups.get(&group), Some(&3));
    assert!(summary.oldest_ms <= summary.newest_ms && summary.oldest_ms.is_some());

    // A dry run names the three and publishes nothing; another group's
    // filter matches none.
    let dry = dlt::replay(
        &app.infra,
        &replay_args(Some("data-platform-group"), true),
        false,
    )
    .await
    .unwrap();
    assert_eq!((dry.read, dry.replayed), (3, 3));
    let other = dlt::replay(
        &app.infra,
        &replay_args(Some("ranking-update-group"), false),
        false,
    )
    .await
    .unwrap();
    assert_eq!((other.filtered_out, other.replayed), (3, 0));
    assert!(platform.bodies("platform").is_empty());

    // The platform is back: replay, and it receives each event once.
    platform.failing.store(false, Ordering::SeqCst);
    let replayed = dlt::replay(
        &app.infra,
        &replay_args(Some("data-platform-group"), false),
        false,
    )
    .await
    .unwrap();
    assert_eq!(replayed.replayed, 3);
    let delivered = eventually(WAIT, || async { platform.bodies("platform").len() >= 3 }).await;
    assert!(delivered);
    let mut ids: Vec<String> = platform
        .bodies("platform")
        .iter()
        .map(|b| b["event_id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3, "three distinct events");

    // A second replay finds nothing new to do.
    let again = dlt::replay(&app.infra, &replay_args(None, false), false)
        .await
        .unwrap();
    assert_eq!((again.replayed, again.replayed_before), (0, 3));
    let summary = dlt::list(&app.infra).await.unwrap();
    let summary = summary.iter().find(|s| s.topic == success_dlt).unwrap();
    assert_eq!(summary.replayed, 3);

    // Every other consumer of payment.success saw the replays too and, being
    // idempotent, changed nothing.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let history: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM transaction_history")
        .fetch_one(&app.infra.pool)
        .await
        .unwrap();
    let tickets: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM notifications WHERE kind = 'TICKET'")
            .fetch_one(&app.infra.pool)
            .await
            .unwrap();
    assert_eq!((history, tickets), (3, 3));
    assert_eq!(
        platform.bodies("platform").len(),
        3,
        "nothing replayed twice"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_dlt_command_prints_what_it_finds() {
    let app = spawn_app().await;
    let run = |args: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_stampede"))
            .args(args)
            .env("STAMPEDE__DATABASE__NAME", &app.settings.database.name)
            .env(
                "STAMPEDE__KAFKA__TOPIC_PREFIX",
                &app.settings.kafka.topic_prefix,
            )
            .env(
                "STAMPEDE__KAFKA__GROUP_PREFIX",
                &app.settings.kafka.group_prefix,
            )
            .env(
                "STAMPEDE__REDIS__KEY_PREFIX",
                &app.settings.redis.key_prefix,
            )
            .env("STAMPEDE__LOG__LEVEL", "warn")
            .output()
            .expect("stampede runs");
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (code, out, err) = run(&["dlt", "list"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("no dead letters"), "{out}");
    let (code, out, err) = run(&["dlt", "replay", "payment.failed", "--dry-run"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("0 letters read, would replay 0"), "{out}");
    let (code, _, err) = run(&["dlt", "replay", "payment.success", "--since", "yesterday"]);
    assert_eq!(code, Some(2), "clap refuses a bad --since: {err}");
    assert!(err.contains("RFC 3339"), "{err}");
    app.stop().await;
}
