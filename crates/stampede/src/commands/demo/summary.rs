//! Part 5: once the consumers have caught up, one table of what happened.

use super::box_office::BoxOffice;
use super::client::{metric_sum, Api};
use super::flash_sale::Sale;
use super::shop::Shop;
use stampede_infra::mysql::{outbox_backlog, transaction_history};
use stampede_infra::Infra;
use std::time::{Duration, Instant};

/// Counters read before the demo, so the summary shows this run's share.
pub struct Baseline {
    dead_letters: f64,
}

impl Baseline {
    pub async fn take(api: &Api) -> anyhow::Result<Self> {
        Ok(Self {
            dead_letters: metric_sum(
                &api.metrics().await?,
                "stampede_consumer_dead_lettered_total",
            ),
        })
    }
}

pub async fn run(
    api: &Api,
    infra: &Infra,
    before: &Baseline,
    sale: &Sale,
    shop: &Shop,
    box_office: &BoxOffice,
) -> anyhow::Result<bool> {
    let paid: Vec<u64> = shop
        .paid_payments
        .iter()
        .chain(&box_office.paid_payments)
        .copied()
        .collect();
    // Wait until the transaction-history consumer recorded every payment,
    // the outbox is drained and the consumers report no lag.
    let deadline = Instant::now() + Duration::from_secs(60);
    let (mut recorded, mut pending, mut lag) = (0, 0, 0.0);
    while Instant::now() < deadline {
        recorded = transaction_history::recorded_count(&infra.pool, &paid).await?;
        pending = outbox_backlog::unpublished(&infra.pool).await?;
        lag = metric_sum(&api.metrics().await?, "stampede_consumer_lag");
        if recorded == paid.len() && pending == 0 && lag == 0.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let dead_letters = metric_sum(
        &api.metrics().await?,
        "stampede_consumer_dead_lettered_total",
    ) - before.dead_letters;
    let rows = [
        ("coupons issued (all persisted)", sale.issued.to_string()),
        ("orders paid with points", shop.points_paid.to_string()),
        (
            "orders paid by card (pg-sim)",
            shop.card_completed.to_string(),
        ),
        (
            "payments failed",
            format!(
                "{} (short of points {}, card declined {})",
                shop.points_refused + shop.card_failed + box_office.payments_failed,
                shop.points_refused + box_office.payments_failed,
                shop.card_failed
            ),
        ),
        (
            "seats sold",
            format!("{} / {}", box_office.sold, box_office.seats),
        ),
        (
            "payments in transaction history",
            format!("{recorded} / {}", paid.len()),
        ),
        ("dead letters (this run)", format!("{dead_letters}")),
        ("consumer lag (all groups)", format!("{lag}")),
        ("outbox rows unpublished", pending.to_string()),
    ];
    println!("\nStampede demo — summary");
    println!("  ┌{:─<36}┬{:─<44}┐", "", "");
    for (what, value) in rows {
        println!("  │ {what:<34} │ {value:<42} │");
    }
    println!("  └{:─<36}┴{:─<44}┘", "", "");
    let ok = recorded == paid.len() && pending == 0 && lag == 0.0 && dead_letters == 0.0;
    if lag > 0.0 {
        // Which consumer is behind, and whether it is retrying.
        let metrics = api.metrics().await?;
        for line in metrics.lines().filter(|line| {
            (line.starts_with("stampede_consumer_lag{") && !line.ends_with(" 0"))
                || line.starts_with("stampede_consumer_retries_total{")
                || line.starts_with("stampede_consumer_commit_failures_total{")
        }) {
            println!("  behind: {line}");
        }
    }
    println!(
        "  verdict                          {}",
        if ok {
            "OK: every payment recorded once, nothing dead-lettered, nothing left behind"
        } else {
            "FAILED"
        }
    );
    Ok(ok)
}
