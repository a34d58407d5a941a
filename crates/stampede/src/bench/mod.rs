//! `stampede bench …`: benchmarks that measure Stampede and its ceiling side
//! by side in one run and report ratios (never timed tests); see
//! [`report`] for the shape every benchmark reports in.

mod all;
mod fcfs;
mod fleet;
mod harness;
mod network_hop;
mod open_model;
mod outbox;
mod payments;
mod reconcile;
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
    /// One reconciliation round over many stale orders with a slow PG,
    /// beside its floor.
    Reconcile(reconcile::ReconcileBenchArgs),
    /// The whole set at sizes that take a few minutes, one report each.
    All(all::AllBenchArgs),
}

pub async fn run(settings: Settings, command: BenchCommand) -> anyhow::Result<()> {
    let (reports, json) = match command {
        BenchCommand::Outbox(args) => {
            let json = args.json;
            (vec![outbox::run(settings, args).await?], json)
        }
        BenchCommand::Fcfs(args) => {
            let json = args.json;
            (vec![fcfs::run(settings, args).await?], json)
        }
        BenchCommand::Payments(args) => {
            let json = args.json;
            (vec![payments::run(settings, args).await?], json)
        }
        BenchCommand::Reconcile(args) => {
            let json = args.json;
            (vec![reconcile::run(settings, args).await?], json)
        }
        BenchCommand::All(args) => {
            let json = args.json;
            (all::run(settings, args).await?, json)
        }
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
