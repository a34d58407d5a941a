//! `stampede bench reconcile`: how long one reconciliation round takes for
//! many stale orders when every PG status query is slow.
//!
//! A PG simulator answers status queries after `--pg-latency-ms`; every
//! order has a card payment whose callback was lost. The round runs with
//! `--concurrency`; beside it a sample of orders runs one at a time, so the
//! sequential cost is measured in the same run. The floor is
//! orders × latency ÷ concurrency.

use super::harness;
use super::progress;
use super::report::{Goal, Report};
use crate::commands::pg_sim::{self, PgSimConfig};
use crate::configuration::Settings;
use crate::reconcile::{Outcome, Reconciler};
use stampede_core::order::{price, OrderLine};
use stampede_infra::mysql::{catalog, orders, payments};
use stampede_infra::pg::{PgClient, PgStatus};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

#[derive(Debug, clap::Args)]
pub struct ReconcileBenchArgs {
    #[arg(long, default_value_t = 1000)]
    orders: usize,
    #[arg(long, default_value_t = 500)]
    pg_latency_ms: u64,
    #[arg(long, default_value_t = 50)]
    concurrency: usize,
    /// Orders reconciled one at a time for the side-by-side sequential figure.
    #[arg(long, default_value_t = 10)]
    sequential_sample: usize,
    /// Print the report as JSON instead of the table.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(settings: Settings, args: ReconcileBenchArgs) -> anyhow::Result<Report> {
    anyhow::ensure!(
        args.orders > 0 && args.concurrency > 0 && args.sequential_sample > 0,
        "counts must be positive"
    );
    let pg_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let pg_port = pg_listener.local_addr()?.port();
    let secret = settings.pg.callback_secret.clone();
    let sim = CancellationToken::new();
    let config = PgSimConfig {
        secret,
        latency_min_ms: 1,
        latency_max_ms: 5,
        failure_rate: 0.0,
        lost_callback_rate: 1.0,
        query_latency_ms: args.pg_latency_ms,
        ..PgSimConfig::default()
    };
    tokio::spawn(pg_sim::serve(config, pg_listener, sim.clone()));
    let app = harness::start(settings, "reconcile", |s| {
        s.pg.base_url = format!("http://127.0.0.1:{pg_port}");
        s.pg.request_timeout_ms = args.pg_latency_ms * 4 + 1000;
        s.pg.breaker_threshold = u32::MAX;
        s.reconcile.stale_after_secs = 0;
        s.reconcile.batch_size = (args.orders + args.sequential_sample) as u32;
    })
    .await?;
    let pool = &app.infra.pool;
    let total = args.orders + args.sequential_sample;
    let (_, options) = catalog::create_product(
        pool,
        "reconciled",
        None,
        &[("one".into(), 1000, total as u64)],
    )
    .await?;
    // Requests are fast; only status queries are slow.
    let fast = PgClient::new(app.settings.pg.clone());
    let setup = progress(total as u64, "card payments");
    if args.json {
        setup.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let mut keys = Vec::new();
    let mut ids = Vec::new();
    for user in 1..=total as u64 {
        let lines = [OrderLine {
            option_id: options[0],
            quantity: 1,
            unit_price: 1000,
        }];
        let order = orders::create_order(
            pool,
            &app.infra.outbox,
            user,
            &lines,
            price(&lines, &[]),
            &[],
            None,
        )
        .await?;
        let (payment, _) = payments::begin_card_payment(pool, order, user).await?;
        let key = fast
            .request_payment(
                order,
                1000,
                "VISA",
                "4111111111111111",
                &format!("bench-{payment}"),
            )
            .await?;
        payments::attach_transaction_key(pool, payment, &key).await?;
        keys.push(key);
        ids.push(order);
        setup.inc(1);
    }
    setup.finish_and_clear();
    // Every transaction is decided after at most 5 ms; check the last one.
    while fast
        .payment_status(keys.last().expect("at least one"))
        .await?
        == PgStatus::Pending
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let reconciler = |concurrency, batch: usize| {
        let mut settings = app.settings.reconcile.clone();
        settings.concurrency = concurrency;
        settings.batch_size = batch as u32;
        Reconciler::new(
            pool.clone(),
            app.infra.outbox.clone(),
            PgClient::new(app.settings.pg.clone()),
            settings,
        )
    };
    // The sequential sample: the oldest orders, one at a time.
    let started = Instant::now();
    let sample = reconciler(1, args.sequential_sample)
        .run_once(|_| {}, || {})
        .await?;
    let sequential_per_order = started.elapsed() / args.sequential_sample as u32;

    let bar = progress(args.orders as u64, "reconciling");
    if args.json {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let started = Instant::now();
    let outcomes = reconciler(args.concurrency, args.orders)
        .run_once(|claimed| bar.set_length(claimed as u64), || bar.inc(1))
        .await?;
    let elapsed = started.elapsed();
    bar.finish_and_clear();
    let completed = outcomes.get(&Outcome::Completed).copied().unwrap_or(0);
    let floor =
        Duration::from_millis(args.pg_latency_ms * args.orders as u64 / args.concurrency as u64);
    let sequential = sequential_per_order * args.orders as u32;
    sim.cancel();
    app.stop().await?;
    let mut report = Report::new("reconcile");
    report
        .setup("orders", args.orders)
        .setup("pg_latency_ms", args.pg_latency_ms)
        .setup("concurrency", args.concurrency)
        .figure("round_secs", elapsed.as_secs_f64())
        .figure(
            "sequential_secs_per_order",
            sequential_per_order.as_secs_f64(),
        )
        .ceiling("floor_secs", floor.as_secs_f64());
    report.ratio("round_vs_floor", elapsed.as_secs_f64(), floor.as_secs_f64());
    report.ratio(
        "sequential_vs_round",
        sequential.as_secs_f64(),
        elapsed.as_secs_f64(),
    );
    report
        .goal("round_vs_floor", Goal::AtMost(1.1))
        .check("every_order_completed", completed == args.orders);
    report
        .line(format!(
            "Reconciliation benchmark ({} stale orders, PG status latency {} ms)",
            args.orders, args.pg_latency_ms
        ))
        .line(format!(
            "  concurrency {:<4}          {elapsed:.2?} ({completed} completed; floor orders ÷ concurrency × latency = {floor:.2?})",
            args.concurrency
        ))
        .line(format!("  one at a time (measured)  {sequential_per_order:.2?} per order → {sequential:.1?} for all"))
        .line(format!("  outcomes                  {outcomes:?} (sequential sample: {sample:?})"));
    Ok(report)
}
