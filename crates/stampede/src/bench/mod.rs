//! `stampede bench …`: benchmarks that measure side by side in one run and
//! print ratios (never timed tests).

mod fcfs;
mod fleet;
mod harness;
mod outbox;
mod payments;
mod reconcile;

use crate::configuration::Settings;

#[derive(Debug, clap::Subcommand)]
pub enum BenchCommand {
    /// Outbox → Kafka → consumer throughput, the raw producer rate beside it,
    /// and commit→handle latency at a fixed rate.
    Outbox(outbox::OutboxBenchArgs),
    /// A 100k-request FCFS burst per issue mode, beside the DB-lock baseline and a bare EVALSHA ceiling.
    Fcfs(fcfs::FcfsBenchArgs),
    /// Points payments per second on hot options, with conservation checked.
    Payments(payments::PaymentsBenchArgs),
    /// One reconciliation round over many stale orders with a slow PG.
    Reconcile(reconcile::ReconcileBenchArgs),
}

pub async fn run(settings: Settings, command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::Outbox(args) => outbox::run(settings, args).await,
        BenchCommand::Fcfs(args) => fcfs::run(settings, args).await,
        BenchCommand::Payments(args) => payments::run(settings, args).await,
        BenchCommand::Reconcile(args) => reconcile::run(settings, args).await,
    }
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
