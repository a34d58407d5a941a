//! Part 2: a coupon flash sale. An admin opens a policy, thousands of
//! simulated users (one in five asking twice) hit "get coupon" at once, the
//! batch consumer persists the winners, and the audit compares Redis with
//! the database.

use super::client::Api;
use super::yes_no;
use anyhow::Context;
use futures::StreamExt;
use reqwest::Method;
use stampede_api::auth::Role;
use stampede_infra::Infra;
use std::time::{Duration, Instant};

/// What the sale handed out.
pub struct Sale {
    pub ok: bool,
    pub issued: u64,
    /// (user, coupon id) of every winner.
    pub winners: Vec<(u64, String)>,
}

pub async fn run(
    api: &Api,
    infra: &Infra,
    coupons: u64,
    users: u64,
    first_user: u64,
) -> anyhow::Result<Sale> {
    let admin = (1, Role::Admin);
    let now = chrono::Utc::now();
    let policy = serde_json::json!({
        "name": "Stampede demo flash sale",
        "discount": {"kind": "PERCENT", "percent": 30, "cap": 10000},
        "total_stock": coupons,
        "issue_window": {"opens_at": now - chrono::Duration::seconds(5), "closes_at": now + chrono::Duration::hours(1)},
        "valid_days": 7,
    });
    let created = api.post_ok("/admin/coupon-policies", admin, policy).await?;
    let id = created["id"]
        .as_u64()
        .context("the server returned no policy id")?;
    api.post_ok(
        &format!("/admin/coupon-policies/{id}/open"),
        admin,
        serde_json::json!({}),
    )
    .await?;

    let shoppers: Vec<u64> = (0..users)
        .map(|n| first_user + n)
        .chain((0..users / 5).map(|n| first_user + n * 5))
        .collect();
    println!(
        "\nStampede demo — 2. coupon flash sale: {coupons} coupons, {users} users, {} requests",
        shoppers.len()
    );
    let bar = crate::bench::progress(shoppers.len() as u64, "requests");
    let started = Instant::now();
    let issue = format!("/coupons/{id}/issue");
    let answers: Vec<(u64, u16, serde_json::Value)> =
        futures::stream::iter(shoppers.iter().map(|&user| {
            let (issue, bar) = (issue.clone(), bar.clone());
            async move {
                let (status, body) = api
                    .call(Method::POST, &issue, Some((user, Role::User)), None, &[])
                    .await
                    .unwrap_or((0, serde_json::Value::Null));
                bar.inc(1);
                (user, status, body)
            }
        }))
        .buffer_unordered(100)
        .collect()
        .await;
    let burst = started.elapsed();
    bar.finish_and_clear();
    let count = |status: u16, code: &str| {
        answers
            .iter()
            .filter(|(_, s, b)| *s == status && b["code"].as_str().unwrap_or("") == code)
            .count()
    };
    let winners: Vec<(u64, String)> = answers
        .iter()
        .filter(|(_, status, _)| *status == 201)
        .filter_map(|(user, _, body)| Some((*user, body["issue_id"].as_str()?.to_owned())))
        .collect();
    let won = winners.len();
    let others = answers.len()
        - won
        - count(409, "SOLD_OUT")
        - count(409, "ALREADY_ISSUED")
        - count(429, "RATE_LIMITED");

    let persisted_at = Instant::now();
    let mut persisted = false;
    while persisted_at.elapsed() < Duration::from_secs(30) {
        let (_, view) = api.get(&format!("/coupons/{id}"), None).await?;
        if view["persisted"].as_u64() == Some(won as u64) {
            persisted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let persist_time = persisted_at.elapsed();
    println!(
        "  requests answered                {} in {burst:.2?} ({:.0}/s)",
        answers.len(),
        answers.len() as f64 / burst.as_secs_f64()
    );
    println!("  201 won                          {won}");
    println!(
        "  409 SOLD_OUT                     {}",
        count(409, "SOLD_OUT")
    );
    println!(
        "  409 ALREADY_ISSUED               {}",
        count(409, "ALREADY_ISSUED")
    );
    println!(
        "  429 RATE_LIMITED                 {}",
        count(429, "RATE_LIMITED")
    );
    println!("  anything else                    {others}");
    println!(
        "  all winners in the database      {} ({persist_time:.2?} after the burst)",
        yes_no(persisted)
    );
    let report = crate::commands::audit::audit_coupons(infra, id).await?;
    println!("\n{report}");
    let ok = won as u64 == coupons && others == 0 && persisted && report.in_agreement();
    println!(
        "\n  verdict                          {}",
        if ok {
            "OK: exactly the stock issued, nobody twice, Redis and the database agree"
        } else {
            "FAILED"
        }
    );
    Ok(Sale {
        ok,
        issued: won as u64,
        winners,
    })
}
