//! `stampede bench payments`: points payments per second on hot options.
//!
//! 1,000 users (default) with points, 10 hot options with limited stock,
//! several orders per user; then every order is paid with points over HTTP
//! at the given concurrency. At the end money and stock are checked:
//! Σ balances + Σ successful payments equals the points charged, and
//! stock left + units sold equals the initial stock.
//!
//! The ceiling, measured first in the same run on a database of its own
//! seeded the same way: the bare points transaction (conditional stock,
//! balance and order updates, payment and outbox inserts on the same hot
//! options) behind a bare handler, with no authentication, idempotency or
//! domain checks around it.
//!
//! With `--refund-ratio`, that share of the successful payments is then
//! refunded through the refund route beside its own ceiling (`refunds.rs`),
//! and the checks count the refunds: Σ balances + Σ payments − Σ refunds
//! equals the points granted, stock left + units of PAID orders equals the
//! initial stock, no payment refunded beyond its capture.

use super::closed_model::{burst, burst_bare_handler, ms, Burst};
use super::harness;
use super::progress;
use super::refunds::{self, RefundRun};
use super::report::{Goal, Report};
use crate::configuration::Settings;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use sqlx::MySqlPool;
use stampede_api::auth::{JwtKeys, Role};
use stampede_core::events::EventEnvelope;
use stampede_core::order::{price, OrderLine};
use stampede_core::payment::{PaidLine, PaymentMethod, PaymentSucceeded, Purchase};
use stampede_core::points::grant::PointGrant;
use stampede_infra::mysql::{self, bench, catalog, orders};
use stampede_infra::outbox::OutboxWriter;
use std::collections::HashMap;
use std::sync::Arc;

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
    /// Share of the successful payments to refund afterwards (0 to 1):
    /// every other one in full, the rest by two racing partial refunds.
    #[arg(long, default_value_t = 0.0, value_parser = refunds::parse_ratio)]
    refund_ratio: f64,
    /// Run the API without the after-payment consumers (as a deployment
    /// that runs consumers on other machines would).
    #[arg(long)]
    api_only: bool,
    /// Put MariaDB and Redis this many milliseconds (per round trip) away.
    #[arg(long, default_value_t = 0.0)]
    network_delay_ms: f64,
    /// Print the report as JSON instead of the table.
    #[arg(long)]
    pub json: bool,
}

const PRICE: u64 = 1000;
const POINTS: u64 = 4000;

/// One order to pay: who, which, on which option.
#[derive(Debug, Clone, Copy)]
struct Work {
    user: u64,
    order: u64,
    option: u64,
}

/// Users with `POINTS` each and their PENDING one-line orders on the hot
/// options, the same for the bare transaction and for Stampede.
async fn seed(
    pool: &MySqlPool,
    outbox: &OutboxWriter,
    args: &PaymentsBenchArgs,
    label: &str,
) -> anyhow::Result<Vec<Work>> {
    let options: Vec<(String, u64, u64)> = (0..args.options)
        .map(|n| (format!("hot {n}"), PRICE, args.stock))
        .collect();
    let (_, option_ids) = catalog::create_product(pool, "hot sneaker", None, &options).await?;
    let setup = progress(args.users, label);
    if args.json {
        setup.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    // Recorded like support's grants, so the audit sees where the points came from.
    let seed_grant = PointGrant::parse(POINTS, POINTS, "payments bench seed")?;
    let mut work = Vec::new();
    for user in 1..=args.users {
        mysql::points::grant_points(pool, outbox, user, &seed_grant, "bench").await?;
        for k in 0..args.orders_per_user {
            let option = option_ids[((user + k) % args.options as u64) as usize];
            let lines = [OrderLine {
                option_id: option,
                quantity: 1,
                unit_price: PRICE,
            }];
            let order =
                orders::create_order(pool, outbox, user, &lines, price(&lines, &[]), &[], None)
                    .await?;
            work.push(Work {
                user,
                order,
                option,
            });
        }
        setup.inc(1);
    }
    setup.finish_and_clear();
    Ok(work)
}

/// The ceiling: the bare points transaction (`mysql::bench`) behind a bare
/// axum handler, on a database of its own seeded like Stampede's; then,
/// when refunding, the bare refunds of the same plan.
async fn bare_transaction(
    settings: &Settings,
    args: &PaymentsBenchArgs,
) -> anyhow::Result<(Burst, Option<(refunds::RefundPlan, Burst)>)> {
    let settings = harness::isolated(settings.clone(), "payments_ceiling");
    harness::drop_database(&settings).await?;
    // The ceiling needs only the database: no Redis, no broker.
    let pool = stampede_infra::mysql::connect(&settings.database).await?;
    stampede_infra::mysql::migrate(&pool).await?;
    let work = seed(
        &pool,
        &OutboxWriter::new(),
        args,
        "ceiling users and orders",
    )
    .await?;
    let server_pool = pool.clone();
    let handler = move |Path(n): Path<usize>, State(work): State<Arc<Vec<Work>>>| {
        let pool = server_pool.clone();
        async move {
            let Work {
                user,
                order,
                option,
            } = work[n];
            let event = EventEnvelope::wrap(&PaymentSucceeded {
                payment_id: order,
                user_id: user,
                amount: PRICE,
                method: PaymentMethod::Points,
                purchase: Purchase::Order {
                    order_id: order,
                    lines: vec![PaidLine {
                        option_id: option,
                        quantity: 1,
                    }],
                },
            });
            match bench::bare_points_payment(&pool, order, user, option, PRICE, &event).await {
                Ok(true) => StatusCode::CREATED,
                Ok(false) => StatusCode::CONFLICT,
                Err(_) => StatusCode::SERVICE_UNAVAILABLE,
            }
        }
    };
    let router = axum::Router::new()
        .route("/{n}", post(handler))
        .with_state(Arc::new(work.clone()));
    let paid = burst_bare_handler(
        router,
        work.len(),
        args.concurrency,
        "bare transaction",
        args.json,
    )
    .await?;
    let option_of: HashMap<u64, u64> = work.iter().map(|w| (w.order, w.option)).collect();
    let refunded = if args.refund_ratio > 0.0 {
        Some(
            refunds::bare(
                &pool,
                &option_of,
                args.refund_ratio,
                args.concurrency,
                args.json,
            )
            .await?,
        )
    } else {
        None
    };
    pool.close().await;
    harness::drop_database(&settings).await?;
    Ok((paid, refunded))
}

pub async fn run(mut settings: Settings, args: PaymentsBenchArgs) -> anyhow::Result<Report> {
    anyhow::ensure!(
        args.users > 0 && args.orders_per_user > 0 && args.options > 0 && args.concurrency > 0,
        "counts must be positive"
    );
    let _hop = harness::one_hop_away(&mut settings, args.network_delay_ms)?;
    let (bare, bare_refunds) = bare_transaction(&settings, &args).await?;
    let app = harness::start_running(settings, "payments", |_| {}, !args.api_only).await?;
    let work = seed(
        &app.infra.pool,
        &app.infra.outbox,
        &args,
        "users and orders",
    )
    .await?;
    let keys = JwtKeys::new(&app.settings.auth);
    let tokens: Vec<String> = (0..=args.users)
        .map(|u| keys.issue(u.max(1), Role::User))
        .collect();
    let http = harness::client(args.concurrency);
    let paid = burst(
        work.len(),
        args.concurrency,
        "points payments",
        args.json,
        |n| {
            let w = work[n];
            http.post(app.url(&format!("/orders/{}/payments", w.order)))
                .bearer_auth(&tokens[w.user as usize])
                .json(&serde_json::json!({"method": "POINTS"}))
        },
    )
    .await?;
    let refund_run = match bare_refunds {
        Some((bare_plan, bare)) => {
            let (plan, answered) = refunds::through_stampede(
                &app,
                &tokens,
                args.refund_ratio,
                args.concurrency,
                args.json,
            )
            .await?;
            Some(RefundRun {
                plan,
                answered,
                bare_plan,
                bare,
            })
        }
        None => None,
    };
    let ledger = bench::points_ledger(&app.infra.pool).await?;
    let refund_ledger = bench::refund_ledger(&app.infra.pool).await?;
    app.stop().await?;

    let (succeeded, refused) = (paid.count(201), paid.count(409));
    let other = paid.statuses.len() - succeeded - refused;
    let charged = refund_ledger.granted;
    let initial_stock = (args.stock * args.options as u64) as i64;
    let money_ok = ledger.balances + ledger.paid - refund_ledger.refunded == charged;
    let sold = refund_ledger.sold_by_paid_orders;
    let stock_ok = ledger.stock_left + sold == initial_stock;
    let consumers = if args.api_only {
        "API only"
    } else {
        "with the after-payment consumers on this machine"
    };
    let mut report = Report::new("payments");
    report
        .setup("users", args.users)
        .setup("orders", work.len())
        .setup("options", args.options)
        .setup("stock", args.stock)
        .setup("concurrency", args.concurrency)
        .setup("refund_ratio", args.refund_ratio)
        .setup("api_only", args.api_only)
        .setup("network_delay_ms", args.network_delay_ms)
        .figure("payments_per_sec", paid.rate)
        .figure("p50_ms", ms(&paid.latency, 0.5))
        .figure("p99_ms", ms(&paid.latency, 0.99))
        .ceiling("bare_transaction_per_sec", bare.rate)
        .ceiling("bare_transaction_p99_ms", ms(&bare.latency, 0.99));
    report.ratio("payments_vs_bare_transaction", paid.rate, bare.rate);
    report
        .goal("payments_vs_bare_transaction", Goal::AtLeast(0.6))
        .check("money_conserved", money_ok)
        .check("stock_conserved", stock_ok)
        .check("every_answer_201_or_409", other == 0)
        .check(
            "bare_answers_201_or_409",
            bare.count(201) + bare.count(409) == bare.statuses.len(),
        );
    report
        .line(format!("Points payments benchmark ({} users, {} orders, {} hot options × {} stock, concurrency {}, {consumers})", args.users, work.len(), args.options, args.stock, args.concurrency))
        .line(format!("  bare transaction         {} in {:.2?}: {:.0}/s, p99 {:.1} ms", bare.statuses.len(), bare.elapsed, bare.rate, ms(&bare.latency, 0.99)))
        .line(format!("  payments answered        {} in {:.2?}: {:.0} payments/s", paid.statuses.len(), paid.elapsed, paid.rate))
        .line(format!("  201 paid / 409 refused   {succeeded} / {refused} (other: {other})"))
        .line(format!("  latency                  p50 {:.1} ms  p99 {:.1} ms", ms(&paid.latency, 0.5), ms(&paid.latency, 0.99)));
    if let Some(run) = &refund_run {
        run.report(&mut report, &refund_ledger);
        report.line(format!("  money                    Σ balances {} + Σ payments {} − Σ refunds {} = granted {charged}?", ledger.balances, ledger.paid, refund_ledger.refunded));
    } else {
        report.line(format!(
            "  money                    Σ balances {} + Σ payments {} = charged {charged}?",
            ledger.balances, ledger.paid
        ));
    }
    report.line(format!(
        "  stock                    left {} + sold {sold} = {initial_stock}?",
        ledger.stock_left
    ));
    Ok(report)
}
