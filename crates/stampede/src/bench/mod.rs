//! `stampede bench …`: benchmarks that measure Stampede and its ceiling side
//! by side in one run and report ratios (never timed tests); see
//! [`report`] for the shape every benchmark reports in.

mod all;
mod closed_model;
mod cpu;
mod fcfs;
mod fleet;
mod harness;
mod network_hop;
mod open_model;
mod outbox;
mod payments;
mod queue;
mod reconcile;
mod redis_info;
mod refunds;
mod report;

use crate::configuration::Settings;

#[derive(Debug, clap::Subcommand)]
pub enum BenchCommand {
    /// Outbox → Kafka → consumer throughput beside the raw producer and the
    /// bare claim loop, and commit→handle latency at a fixed rate.
    Outbox(outbox::OutboxBenchArgs),
    /// A 100k-request FCFS burst per issue mode, beside the DB-lock baseline
    /// and a bare EVALSHA ceiling; optionally an open-model run.
    Fcfs(fcfs::FcfsBenchArgs),
    /// Points payments per second on hot options beside the bare
    /// transaction, with conservation checked.
    Payments(payments::PaymentsBenchArgs),
    /// The waiting room under an open-model crowd: join and poll p99 beside
    /// a bare Redis call, Redis commands per poll, admission accuracy.
    Queue(queue::QueueBenchArgs),
    /// One reconciliation round over many stale orders with a slow PG,
    /// beside its floor.
    Reconcile(reconcile::ReconcileBenchArgs),
    /// The whole set at sizes that take a few minutes, one report each.
    All(all::AllBenchArgs),
}

impl BenchCommand {
    fn json(&self) -> bool {
        match self {
            BenchCommand::Outbox(args) => args.json,
            BenchCommand::Fcfs(args) => args.json,
            BenchCommand::Payments(args) => args.json,
            BenchCommand::Queue(args) => args.json,
            BenchCommand::Reconcile(args) => args.json,
            BenchCommand::All(args) => args.json,
        }
    }
}

pub async fn run(settings: Settings, command: BenchCommand) -> anyhow::Result<()> {
    let json = command.json();
    let reports = match command {
        BenchCommand::Outbox(args) => vec![outbox::run(settings, args).await?],
        BenchCommand::Fcfs(args) => vec![fcfs::run(settings, args).await?],
        BenchCommand::Payments(args) => vec![payments::run(settings, args).await?],
        BenchCommand::Queue(args) => vec![queue::run(settings, args).await?],
        BenchCommand::Reconcile(args) => vec![reconcile::run(settings, args).await?],
        BenchCommand::All(args) => all::run(settings, args).await?,
    };
    report::print(&reports, json)
}

/// A progress bar with Stampede's style.
pub(crate) fn progress(total: u64, label: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg:>24} [{bar:40}] {pos}/{len} ({per_sec}, eta {eta})",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_message(label.to_owned());
    bar
}
