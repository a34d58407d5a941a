//! `stampede bench payments`: points payments per second on hot options.
//!
//! 1,000 users (default) with points, 10 hot options with limited stock,
//! several orders per user; then every order is paid with points over HTTP
//! at the given concurrency. At the end money and stock are checked:
//! Σ balances + Σ successful payments equals the points charged, and
//! stock left + units sold equals the initial stock.

use super::harness;
use super::progress;
use crate::configuration::Settings;
use futures::StreamExt;
use hdrhistogram::Histogram;
use stampede_api::auth::{JwtKeys, Role};
use stampede_core::order::{price, OrderLine};
use stampede_infra::mysql::{catalog, orders};
use std::time::{Duration, Instant};

#[derive(Debug, clap::Args)]
pub struct PaymentsBenchArgs {
    #[arg(long, default_value_t = 1000)]
    users: u64,
    /// Orders per user.
    #[arg(long, default_value_t = 5)]
    orders_per_user: u64,
    #[arg(long, default_value_t = 10)]
    options: usize,
    /// Initial stock of each option (low, so some payments run out).
    #[arg(long, default_value_t = 400)]
    stock: u64,
    #[arg(long, default_value_t = 100)]
    concurrency: usize,
    /// Run the API without the after-payment consumers (as a deployment
    /// that runs consumers on other machines would).
    #[arg(long)]
    api_only: bool,
}

const PRICE: u64 = 1000;
const POINTS: u64 = 4000;

pub async fn run(settings: Settings, args: PaymentsBenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.users > 0 && args.orders_per_user > 0 && args.options > 0 && args.concurrency > 0,
        "counts must be positive"
    );
    let app = harness::start_running(settings, "payments", |_| {}, !args.api_only).await?;
    let pool = &app.infra.pool;
    let options: Vec<(String, u64, u64)> = (0..args.options)
        .map(|n| (format!("hot {n}"), PRICE, args.stock))
        .collect();
    let (_, option_ids) = catalog::create_product(pool, "hot sneaker", None, &options).await?;
    let setup = progress(args.users, "users and orders");
    let mut work = Vec::new();
    for user in 1..=args.users {
        catalog::charge_points(pool, user, POINTS).await?;
        for k in 0..args.orders_per_user {
            let option = option_ids[((user + k) % args.options as u64) as usize];
            let lines = [OrderLine {
                option_id: option,
                quantity: 1,
                unit_price: PRICE,
            }];
            let id = orders::create_order(
                pool,
                &app.infra.outbox,
                user,
                &lines,
                price(&lines, &[]),
                &[],
                None,
            )
            .await?;
            work.push((user, id));
        }
        setup.inc(1);
    }
    setup.finish_and_clear();

    let keys = JwtKeys::new(&app.settings.auth);
    let tokens: Vec<String> = (0..=args.users)
        .map(|u| keys.issue(u.max(1), Role::User))
        .collect();
    let http = harness::client(args.concurrency);
    let bar = progress(work.len() as u64, "points payments");
    let started = Instant::now();
    let answers: Vec<(u16, Duration)> = futures::stream::iter(work.iter().map(|&(user, order)| {
        let (http, bar) = (http.clone(), bar.clone());
        let url = app.url(&format!("/orders/{order}/payments"));
        let token = tokens[user as usize].clone();
        async move {
            let sent = Instant::now();
            let status = match http
                .post(url)
                .bearer_auth(token)
                .json(&serde_json::json!({"method": "POINTS"}))
                .send()
                .await
            {
                Ok(response) => response.status().as_u16(),
                Err(_) => 0,
            };
            bar.inc(1);
            (status, sent.elapsed())
        }
    }))
    .buffer_unordered(args.concurrency)
    .collect()
    .await;
    let elapsed = started.elapsed();
    bar.finish_and_clear();

    let mut latency = Histogram::<u64>::new(3)?;
    for (_, took) in &answers {
        latency.record(took.as_micros() as u64)?;
    }
    let paid = answers.iter().filter(|(s, _)| *s == 201).count();
    let refused = answers.iter().filter(|(s, _)| *s == 409).count();
    let other = answers.len() - paid - refused;
    let balances: i64 =
        sqlx::query_scalar("SELECT CAST(COALESCE(SUM(balance), 0) AS SIGNED) FROM user_points")
            .fetch_one(pool)
            .await?;
    let spent: i64 = sqlx::query_scalar(
        "SELECT CAST(COALESCE(SUM(amount), 0) AS SIGNED) FROM payments WHERE status = 'SUCCESS'",
    )
    .fetch_one(pool)
    .await?;
    let stock_left: i64 =
        sqlx::query_scalar("SELECT CAST(SUM(stock) AS SIGNED) FROM product_options")
            .fetch_one(pool)
            .await?;
    let charged = (args.users * POINTS) as i64;
    let initial_stock = (args.stock * args.options as u64) as i64;
    let money_ok = balances + spent == charged;
    let stock_ok = stock_left + paid as i64 == initial_stock;
    let rate = answers.len() as f64 / elapsed.as_secs_f64();
    let consumers = if args.api_only {
        "API only"
    } else {
        "with the after-payment consumers on this machine"
    };
    println!("\nPoints payments benchmark ({} users, {} orders, {} hot options × {} stock, concurrency {}, {consumers})", args.users, work.len(), args.options, args.stock, args.concurrency);
    println!(
        "  payments answered        {} in {elapsed:.2?}: {rate:.0} payments/s",
        answers.len()
    );
    println!("  201 paid / 409 refused   {paid} / {refused} (other: {other})");
    println!(
        "  latency                  p50 {:.1} ms  p99 {:.1} ms",
        latency.value_at_quantile(0.5) as f64 / 1000.0,
        latency.value_at_quantile(0.99) as f64 / 1000.0
    );
    println!("  money conserved          {} (Σ balances {balances} + Σ payments {spent} = charged {charged})", ok(money_ok));
    println!(
        "  stock conserved          {} (left {stock_left} + sold {paid} = {initial_stock})",
        ok(stock_ok)
    );
    println!(
        "  goal ≥ 1000 payments/s:  {}",
        if rate >= 1000.0 { "met" } else { "NOT met" }
    );
    app.stop().await?;
    anyhow::ensure!(
        money_ok && stock_ok && other == 0,
        "conservation or answers check failed"
    );
    Ok(())
}

fn ok(value: bool) -> &'static str {
    if value {
        "yes"
    } else {
        "NO"
    }
}
