//! The failure knobs: failed, duplicated, lost and delayed answers and
//! callbacks, and a seed that makes a run of them reproducible.

use crate::support::*;
use axum::http::StatusCode;
use stampede::commands::pg_sim::{ErrorBody, PgSimConfig, TransactionStatus};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

#[tokio::test]
async fn failure_rate_one_fails_every_payment() {
    let sink = Sink::start().await;
    let pg = Pg::start(PgSimConfig {
        failure_rate: 1.0,
        ..config()
    })
    .await;
    let accepted = pg.pay(&payment("2001", &sink), None).await;
    let received = sink.wait_for_callbacks(1).await;
    assert!(received[0].is_signed_with(SECRET));
    let body = received[0].json();
    assert_eq!(body.transaction_key, accepted.transaction_key);
    assert_eq!(body.status, TransactionStatus::Failed);
    assert!(body.reason.as_deref().is_some_and(|r| !r.is_empty()));
    let view = pg.status(&accepted.transaction_key).await;
    assert_eq!(view.status, TransactionStatus::Failed);
    assert_eq!(view.reason, body.reason);
    pg.stop().await;
}

#[tokio::test]
async fn duplicate_callback_rate_one_calls_back_twice() {
    let sink = Sink::start().await;
    let pg = Pg::start(PgSimConfig {
        duplicate_callback_rate: 1.0,
        ..config()
    })
    .await;
    let accepted = pg.pay(&payment("3001", &sink), None).await;
    let received = sink.wait_for_callbacks(2).await;
    for callback in &received {
        assert!(callback.is_signed_with(SECRET));
        assert_eq!(callback.json().transaction_key, accepted.transaction_key);
    }
    assert_eq!(received[0].json(), received[1].json());
    let view = pg.status(&accepted.transaction_key).await;
    assert_eq!(view.callbacks_sent, 2);
    assert_eq!(view.status, received[0].json().status);
    pg.stop().await;
}

#[tokio::test]
async fn lost_callback_rate_one_decides_without_calling_back() {
    let sink = Sink::start().await;
    let pg = Pg::start(PgSimConfig {
        lost_callback_rate: 1.0,
        ..config()
    })
    .await;
    let accepted = pg.pay(&payment("4001", &sink), None).await;
    let view = pg.wait_decided(&accepted.transaction_key).await;
    assert_eq!(view.status, TransactionStatus::Success);
    assert_eq!(view.callbacks_sent, 0);
    // A later payment of the same PG, decided after the first, is lost too,
    // and by then the first would long have been delivered.
    let later = pg.pay(&payment("4002", &sink), None).await;
    pg.wait_decided(&later.transaction_key).await;
    assert!(sink.received().is_empty());
    assert_eq!(sink.attempts.load(Ordering::SeqCst), 0);
    pg.stop().await;
}

#[tokio::test]
async fn error_rate_one_answers_500_and_creates_nothing() {
    let sink = Sink::start().await;
    let pg = Pg::start(PgSimConfig {
        error_rate: 1.0,
        ..config()
    })
    .await;
    let response = pg.pay_raw(&payment("5001", &sink), Some("k-5001")).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let error: ErrorBody = response.json().await.unwrap();
    assert_eq!(error.code, "INTERNAL_ERROR");
    assert!(pg.of_order("5001").await.transactions.is_empty());
    pg.stop().await;
}

#[tokio::test]
async fn timeout_rate_one_never_answers_but_still_creates_the_transaction() {
    let sink = Sink::start().await;
    let pg = Pg::start(PgSimConfig {
        timeout_rate: 1.0,
        ..config()
    })
    .await;
    let started = Instant::now();
    let error = pg
        .http
        .post(format!("{}/api/v1/payments", pg.base))
        .timeout(Duration::from_millis(300))
        .json(&payment("6001", &sink))
        .send()
        .await
        .expect_err("the PG never answers");
    assert!(error.is_timeout(), "{error}");
    assert!(started.elapsed() >= Duration::from_millis(300));

    // The client never learned the key; the order's lookup finds it, and it
    // is decided and called back all the same.
    let received = sink.wait_for_callbacks(1).await;
    let transactions = pg.of_order("6001").await.transactions;
    assert_eq!(transactions.len(), 1);
    assert_eq!(
        received[0].json().transaction_key,
        transactions[0].transaction_key
    );
    // Stopping is not held up by a request the PG sits on.
    let hanging = {
        let (http, url, body) = (
            pg.http.clone(),
            format!("{}/api/v1/payments", pg.base),
            payment("6002", &sink),
        );
        tokio::spawn(async move { http.post(url).json(&body).send().await })
    };
    pg.wait_order("6002").await;
    pg.stop().await;
    let answer = hanging.await.unwrap();
    assert!(answer.is_err() || answer.unwrap().status() == StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn a_callback_answered_5xx_is_retried() {
    let sink = Sink::start().await;
    sink.fail_first.store(2, Ordering::SeqCst);
    let pg = Pg::start(config()).await;
    let accepted = pg.pay(&payment("9001", &sink), None).await;
    let received = sink.wait_for_callbacks(1).await;
    assert_eq!(received.len(), 1);
    assert!(received[0].is_signed_with(SECRET));
    assert_eq!(received[0].json().transaction_key, accepted.transaction_key);
    assert_eq!(sink.attempts.load(Ordering::SeqCst), 3);
    let view = pg
        .wait_view(&accepted.transaction_key, "the delivery", |view| {
            view.callbacks_delivered == 1
        })
        .await;
    assert_eq!(view.callbacks_sent, 1, "retries are one callback");
    pg.stop().await;
}

#[tokio::test]
async fn status_queries_wait_the_query_latency() {
    let sink = Sink::start().await;
    let pg = Pg::start(PgSimConfig {
        query_latency_ms: 200,
        ..config()
    })
    .await;
    let accepted = pg.pay(&payment("9101", &sink), None).await;
    let started = Instant::now();
    pg.status(&accepted.transaction_key).await;
    assert!(started.elapsed() >= Duration::from_millis(200));
    pg.stop().await;
}

#[tokio::test]
async fn a_seed_makes_runs_reproducible() {
    let sink = Sink::start().await;
    let mut runs = Vec::new();
    for _ in 0..2 {
        let pg = Pg::start(PgSimConfig {
            seed: Some(42),
            failure_rate: 0.5,
            ..config()
        })
        .await;
        let mut run = Vec::new();
        for n in 0..6 {
            let accepted = pg.pay(&payment(&format!("95{n:02}"), &sink), None).await;
            let view = pg.wait_decided(&accepted.transaction_key).await;
            run.push((accepted.transaction_key, view.status, view.reason));
        }
        pg.stop().await;
        runs.push(run);
    }
    assert_eq!(runs[0], runs[1]);
}
