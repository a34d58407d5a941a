//! FCFS under failure: publish failures, killed consumers, database
//! outages, redeliveries, poison records, and every documented error.

use crate::chaos::ChaosProxy;
use crate::helpers::*;
use chrono::Utc;
use stampede_api::auth::Role;
use stampede_core::coupon::{CouponIssueRequested, CouponIssued};
use stampede_core::fcfs::{
    record_or_revoke, Gate, GateOutcome, PoolKind, PoolRef, Take, TakeError,
};
use stampede_infra::kafka::consumer::run_consumer;
use stampede_infra::kafka::{EventProducer, EventSink};
use stampede_infra::Infra;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(60);

pub async fn rows(app: &TestApp, policy: u64) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM user_coupons WHERE policy_id = ?")
        .bind(policy)
        .fetch_one(&app.infra.pool)
        .await
        .unwrap()
}

async fn remaining(app: &TestApp, policy: u64) -> u64 {
    sqlx::query_scalar("SELECT remaining FROM coupon_policies WHERE id = ?")
        .bind(policy)
        .fetch_one(&app.infra.pool)
        .await
        .unwrap()
}

async fn issue_all(app: &TestApp, policy: u64, users: std::ops::RangeInclusive<u64>) -> usize {
    let mut won = 0;
    for user in users {
        let response = app
            .post(
                &format!("/coupons/{policy}/issue"),
                &app.token(user, Role::User),
                None,
            )
            .await;
        won += usize::from(response.status() == 201);
    }
    won
}

#[tokio::test]
async fn a_win_that_cannot_be_published_is_given_back_and_nobody_is_told_won() {
    let app = spawn_app().await;
    let policy = app.open_policy(10, "GATE").await;
    let pool = PoolRef {
        kind: PoolKind::Coupon,
        id: policy,
    };
    // A real producer whose broker cannot be reached: every send fails.
    let mut producer_settings = app.settings.kafka.producer.clone();
    producer_settings.delivery_timeout_ms = 500;
    let dead = EventProducer::new("127.0.0.1:1", &producer_settings).unwrap();
    let sink = EventSink::new(dead, app.infra.topics.clone());
    for user in 1..=5 {
        let claim = Uuid::now_v7();
        let take = Take {
            pool,
            claim,
            user_id: user,
            now_ms: Utc::now().timestamp_millis(),
            per_user_limit: 1,
        };
        let won = app.infra.gate.try_take(&take).await.unwrap();
        assert!(matches!(won, GateOutcome::Won { .. }), "{won:?}");
        let winner = CouponIssued {
            issue_id: claim,
            policy_id: policy,
            user_id: user,
            ordinal: 1,
            issued_at: Utc::now(),
            expires_at: Utc::now(),
        };
        let result = record_or_revoke(&app.infra.gate, &sink, &take, winner).await;
        assert!(
            matches!(result, Err(TakeError::NotRecorded(_))),
            "{result:?}"
        );
    }
    let snapshot = app.infra.gate.snapshot(pool).await.unwrap();
    assert_eq!(snapshot.stock, Some(10), "every unit given back");
    assert!(
        snapshot.marks.is_empty(),
        "every mark removed: the users may try again"
    );
    // And they can: through the real API the same users now win.
    assert_eq!(issue_all(&app, policy, 1..=5).await, 5);
    assert!(eventually(WAIT, || async { rows(&app, policy).await == 5 }).await);
    app.stop().await;
}

#[tokio::test]
async fn a_persisting_consumer_killed_mid_batch_loses_nothing_and_duplicates_nothing() {
    let app = spawn_api_only().await;
    let policy = app.open_policy(300, "GATE").await;
    assert_eq!(issue_all(&app, policy, 1..=400).await, 300);

    let spec = || stampede_consumers::coupon_persist::spec(&app.infra);
    let first = tokio::spawn(run_consumer(
        spec(),
        app.settings.kafka.clone(),
        app.infra.producer.clone(),
        CancellationToken::new(),
    ));
    assert!(eventually(WAIT, || async { rows(&app, policy).await > 0 }).await);
    first.abort(); // killed: no graceful commit
    let _ = first.await;
    let stop = CancellationToken::new();
    let second = tokio::spawn(run_consumer(
        spec(),
        app.settings.kafka.clone(),
        app.infra.producer.clone(),
        stop.clone(),
    ));
    assert!(eventually(WAIT, || async { rows(&app, policy).await == 300 }).await);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(rows(&app, policy).await, 300, "no duplicate");
    assert_eq!(remaining(&app, policy).await, 0);
    stop.cancel();
    second.await.unwrap().unwrap();
    app.stop().await;
}

#[tokio::test]
async fn during_a_database_outage_winners_wait_and_are_all_persisted_when_it_returns() {
    let app = spawn_api_only().await;
    let policy = app.open_policy(50, "GATE").await;
    let proxy = ChaosProxy::start("127.0.0.1:3306").await;
    let mut settings = app.settings.clone();
    settings.database.url = format!("mysql://root@127.0.0.1:{}", proxy.port);
    settings.database.acquire_timeout_ms = 500;
    let through_proxy = Infra::connect(settings.infra()).await.unwrap();
    let name = stampede_consumers::coupon_persist::NAME;

    proxy.take_down();
    assert_eq!(
        issue_all(&app, policy, 1..=50).await,
        50,
        "the gate does not need the database"
    );
    let stop = CancellationToken::new();
    let consumer = tokio::spawn(run_consumer(
        stampede_consumers::coupon_persist::spec(&through_proxy),
        settings.kafka.clone(),
        through_proxy.producer.clone(),
        stop.clone(),
    ));
    assert!(
        eventually(WAIT, || async {
            metric(
                &app.metrics().await,
                "stampede_consumer_retries_total",
                &[("consumer", name)],
            ) >= 2.0
        })
        .await,
        "the consumer retries while the database is away"
    );
    assert_eq!(rows(&app, policy).await, 0);
    proxy.bring_up();
    assert!(
        eventually(WAIT, || async { rows(&app, policy).await == 50 }).await,
        "all persisted once it returns"
    );
    assert_eq!(remaining(&app, policy).await, 0);
    assert_eq!(
        metric(
            &app.metrics().await,
            "stampede_consumer_dead_lettered_total",
            &[("consumer", name)]
        ),
        0.0
    );
    stop.cancel();
    consumer.await.unwrap().unwrap();
    app.stop().await;
}

#[tokio::test]
async fn redelivering_every_event_ten_times_changes_nothing() {
    let app = spawn_app().await;
    let gate_policy = app.open_policy(100, "GATE").await;
    let winners: Vec<CouponIssued> = (1..=20)
        .map(|user| CouponIssued {
            issue_id: Uuid::now_v7(),
            policy_id: gate_policy,
            user_id: user,
            ordinal: 1,
            issued_at: Utc::now(),
            expires_at: Utc::now() + chrono::Duration::days(30),
        })
        .collect();
    let queue_policy = app.open_policy(100, "QUEUE").await;
    let request = CouponIssueRequested {
        request_id: Uuid::now_v7(),
        policy_id: queue_policy,
        user_id: 7,
        requested_at: Utc::now(),
    };
    for _ in 0..10 {
        for winner in &winners {
            app.infra.events.publish(winner).await.unwrap();
        }
        app.infra.events.publish(&request).await.unwrap();
    }
    let name = stampede_consumers::coupon_persist::NAME;
    assert!(
        eventually(WAIT, || async {
            metric(
                &app.metrics().await,
                "stampede_winners_persisted_total",
                &[("consumer", name)],
            ) + metric(
                &app.metrics().await,
                "stampede_winners_duplicate_total",
                &[("consumer", name)],
            ) >= 200.0
        })
        .await
    );
    assert_eq!(rows(&app, gate_policy).await, 20);
    assert_eq!(remaining(&app, gate_policy).await, 80);
    assert!(eventually(WAIT, || async { rows(&app, queue_policy).await == 1 }).await);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        rows(&app, queue_policy).await,
        1,
        "one coupon for ten deliveries"
    );
    assert_eq!(remaining(&app, queue_policy).await, 99);
    let snapshot = app
        .infra
        .gate
        .snapshot(PoolRef {
            kind: PoolKind::Coupon,
            id: queue_policy,
        })
        .await
        .unwrap();
    assert_eq!(snapshot.stock, Some(99), "the Redis counter moved once");
    app.stop().await;
}

#[tokio::test]
async fn a_poison_winner_goes_to_the_dlt_and_the_rest_of_its_batch_is_persisted() {
    let app = spawn_app().await;
    let policy = app.open_policy(100, "GATE").await;
    let winner = |policy_id, user_id| CouponIssued {
        issue_id: Uuid::now_v7(),
        policy_id,
        user_id,
        ordinal: 1,
        issued_at: Utc::now(),
        expires_at: Utc::now(),
    };
    for user in 1..=10 {
        let policy_id = if user == 5 { 987_654_321 } else { policy };
        app.infra
            .events
            .publish(&winner(policy_id, user))
            .await
            .unwrap();
    }
    assert!(eventually(WAIT, || async { rows(&app, policy).await == 9 }).await);
    let dlt = app.infra.topics.dead_letter(&app.physical("coupon.issued"));
    let letters = read_topic(&app.settings, &dlt, 1, WAIT).await;
    assert_eq!(letters.len(), 1);
    let message =
        String::from_utf8(header(&letters[0], "kafka_dlt-exception-message").unwrap()).unwrap();
    assert!(message.contains("987654321"), "{message}");
    assert_eq!(remaining(&app, policy).await, 91);
    app.stop().await;
}

async fn error_code(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: serde_json::Value = response.json().await.unwrap();
    (status, body["code"].as_str().unwrap_or_default().to_owned())
}

#[tokio::test]
async fn bad_requests_get_the_documented_errors_never_a_500() {
    let app = spawn_app().await;
    let user = app.token(42, Role::User);
    let admin = app.token(1, Role::Admin);
    let now = Utc::now();
    let policy_body = |opens: chrono::DateTime<Utc>| {
        serde_json::json!({
            "name": "p", "discount": {"kind": "PERCENT", "percent": 10, "cap": 5000}, "total_stock": 5,
            "issue_window": {"opens_at": opens, "closes_at": opens + chrono::Duration::hours(1)}, "valid_days": 7
        })
    };
    let issue = |id: String| format!("/coupons/{id}/issue");

    assert_eq!(
        error_code(app.post(&issue("999999".into()), &user, None).await).await,
        (404, "POLICY_NOT_FOUND".into())
    );
    assert_eq!(
        error_code(app.post(&issue("abc".into()), &user, None).await).await,
        (400, "INVALID_PATH".into())
    );
    let anonymous = app
        .client
        .post(app.url(&issue("1".into())))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(anonymous).await, (401, "MISSING_TOKEN".into()));

    let created = app
        .post(
            "/admin/coupon-policies",
            &admin,
            Some(policy_body(now + chrono::Duration::hours(1))),
        )
        .await;
    assert_eq!(created.status(), 201);
    let future: serde_json::Value = created.json().await.unwrap();
    let future_id = future["id"].as_u64().unwrap();
    assert_eq!(future["status"], "DRAFT");
    assert_eq!(
        error_code(app.post(&issue(future_id.to_string()), &user, None).await).await,
        (422, "NOT_OPEN".into()),
        "never opened"
    );
    assert_eq!(
        app.post(
            &format!("/admin/coupon-policies/{future_id}/open"),
            &admin,
            None
        )
        .await
        .status(),
        200
    );
    assert_eq!(
        error_code(
            app.post(
                &format!("/admin/coupon-policies/{future_id}/open"),
                &admin,
                None
            )
            .await
        )
        .await,
        (409, "INVALID_TRANSITION".into())
    );
    assert_eq!(
        error_code(app.post(&issue(future_id.to_string()), &user, None).await).await,
        (422, "NOT_OPEN".into()),
        "window not open"
    );

    let open = app.open_policy(5, "GATE").await;
    assert_eq!(
        app.post(&issue(open.to_string()), &user, None)
            .await
            .status(),
        201
    );
    assert_eq!(
        error_code(app.post(&issue(open.to_string()), &user, None).await).await,
        (409, "ALREADY_ISSUED".into())
    );
    assert_eq!(
        app.post(
            &format!("/admin/coupon-policies/{open}/close"),
            &admin,
            None
        )
        .await
        .status(),
        200
    );
    let other = app.token(43, Role::User);
    assert_eq!(
        error_code(app.post(&issue(open.to_string()), &other, None).await).await,
        (422, "CLOSED".into())
    );

    let create = |body: &str| {
        app.client
            .post(app.url("/admin/coupon-policies"))
            .bearer_auth(&admin)
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
    };
    assert_eq!(
        error_code(create("{not json").await.unwrap()).await,
        (400, "MALFORMED_JSON".into())
    );
    assert_eq!(
        error_code(create(r#"{"name": 5}"#).await.unwrap()).await,
        (422, "INVALID_BODY".into())
    );
    let mut zero = policy_body(now);
    zero["total_stock"] = 0.into();
    assert_eq!(
        error_code(create(&zero.to_string()).await.unwrap()).await,
        (422, "INVALID_BODY".into())
    );
    let mut backwards = policy_body(now);
    backwards["issue_window"]["closes_at"] =
        serde_json::to_value(now - chrono::Duration::hours(1)).unwrap();
    assert_eq!(
        error_code(create(&backwards.to_string()).await.unwrap()).await,
        (422, "INVALID_BODY".into())
    );
    let huge = "x".repeat(100_000);
    assert_eq!(
        error_code(create(&format!(r#"{{"name": "{huge}"}}"#)).await.unwrap()).await,
        (413, "PAYLOAD_TOO_LARGE".into())
    );
    let as_user = app
        .post("/admin/coupon-policies", &user, Some(policy_body(now)))
        .await;
    assert_eq!(error_code(as_user).await, (403, "FORBIDDEN".into()));
    assert_eq!(
        error_code(app.get("/coupon-requests/not-a-uuid", Some(&user)).await).await,
        (400, "INVALID_PATH".into())
    );
    assert_eq!(
        error_code(
            app.get(&format!("/coupon-requests/{}", Uuid::now_v7()), Some(&user))
                .await
        )
        .await,
        (404, "REQUEST_NOT_FOUND".into())
    );
    let metrics = app.metrics().await;
    assert!(
        !metrics.contains("status=\"500\""),
        "no request ended in a 500"
    );
    app.stop().await;
}

#[tokio::test]
async fn over_the_per_user_limit_the_answer_is_429_with_retry_after() {
    let mut settings = test_settings();
    settings.rate_limit.per_user_per_sec = 1;
    let app = spawn_app_with(settings, vec![]).await;
    let policy = app.open_policy(5, "GATE").await;
    let user = app.token(9, Role::User);
    assert_eq!(
        app.post(&format!("/coupons/{policy}/issue"), &user, None)
            .await
            .status(),
        201
    );
    let limited = app
        .post(&format!("/coupons/{policy}/issue"), &user, None)
        .await;
    assert_eq!(limited.status(), 429);
    assert!(
        limited.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    assert_eq!(error_code(limited).await.1, "RATE_LIMITED");
    app.stop().await;
}

#[tokio::test]
async fn a_campaign_entry_wins_once_writes_a_token_and_is_persisted() {
    let app = spawn_app().await;
    let admin = app.token(1, Role::Admin);
    let now = Utc::now();
    let body = serde_json::json!({"name": "launch", "total_slots": 2,
        "window": {"opens_at": now - chrono::Duration::minutes(1), "closes_at": now + chrono::Duration::hours(1)}});
    let created: serde_json::Value = app
        .post("/admin/campaigns", &admin, Some(body))
        .await
        .json()
        .await
        .unwrap();
    let id = created["id"].as_u64().unwrap();
    assert_eq!(
        app.post(&format!("/admin/campaigns/{id}/open"), &admin, None)
            .await
            .status(),
        200
    );
    let app = &app;
    let enter = |user: u64| {
        let (path, token) = (
            format!("/campaigns/{id}/entries"),
            app.token(user, Role::User),
        );
        async move { app.post(&path, &token, None).await }
    };
    assert_eq!(enter(1).await.status(), 201);
    assert_eq!(
        error_code(enter(1).await).await,
        (409, "ALREADY_ISSUED".into())
    );
    assert_eq!(enter(2).await.status(), 201);
    assert_eq!(error_code(enter(3).await).await, (409, "SOLD_OUT".into()));
    assert!(
        app.infra.gate.entry_token(id, 1).await.unwrap().is_some(),
        "the winner holds an entry token"
    );
    assert!(app.infra.gate.entry_token(id, 3).await.unwrap().is_none());
    assert_eq!(
        error_code(
            app.post("/campaigns/777777/entries", &app.token(1, Role::User), None)
                .await
        )
        .await,
        (404, "CAMPAIGN_NOT_FOUND".into())
    );
    let persisted = || async {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM campaign_entries WHERE campaign_id = ?")
            .bind(id)
            .fetch_one(&app.infra.pool)
            .await
            .unwrap()
    };
    assert!(eventually(WAIT, || async { persisted().await == 2 }).await);
    let at = stampede_infra::mysql::campaigns::entry_created_at(&app.infra.pool, 1, id)
        .await
        .unwrap();
    assert!(at.is_some(), "found by (user, campaign)");
}

#[tokio::test]
async fn the_audit_finds_drift_and_repairs_redis_from_the_database() {
    use redis::AsyncCommands;
    use stampede::commands::audit::{audit_coupons, repair_coupons};
    let mut settings = test_settings();
    // The repair waits out the publish bound; a short one keeps the test quick.
    settings.kafka.producer.delivery_timeout_ms = 2000;
    let app = spawn_app_with(settings, vec![]).await;
    let policy = app.open_policy(20, "GATE").await;
    assert_eq!(issue_all(&app, policy, 1..=10).await, 10);
    assert!(eventually(WAIT, || async { rows(&app, policy).await == 10 }).await);
    let report = audit_coupons(&app.infra, policy).await.unwrap();
    assert!(report.in_agreement(), "{report}");

    // Redis loses its marks and gains stock (a hand-edited key, a restored snapshot).
    let pool_hash = format!(
        "{}{{fcfs:coupon:{policy}}}:pool",
        app.settings.redis.key_prefix
    );
    let mut redis = app.infra.redis.clone();
    redis
        .hset::<_, _, _, ()>(&pool_hash, "stock", 15)
        .await
        .unwrap();
    let marks: Vec<String> = (1..=10).map(|user| format!("u:{user}")).collect();
    redis.hdel::<_, _, ()>(&pool_hash, &marks).await.unwrap();
    let report = audit_coupons(&app.infra, policy).await.unwrap();
    assert!(!report.in_agreement());
    assert_eq!(report.stock_drift(), Some(5));
    assert_eq!(report.rows_without_marks, 10, "these users could win twice");

    // The policy is open and issuing: the repair is safe anyway.
    repair_coupons(&app.infra, &app.settings, policy)
        .await
        .unwrap();
    let report = audit_coupons(&app.infra, policy).await.unwrap();
    assert!(report.in_agreement(), "{report}");
    let again = app
        .post(
            &format!("/coupons/{policy}/issue"),
            &app.token(3, Role::User),
            None,
        )
        .await;
    assert_eq!(
        again.status(),
        409,
        "a holder cannot win twice after the repair"
    );
    app.stop().await;
}
