//! `stampede bench all`: every benchmark once, at sizes that take a few
//! minutes together, each with its ceiling; one report each (`--json`: an
//! array), and a non-zero exit when any correctness check failed.
//!
//! The FCFS burst runs twice: over loopback (the gate against the bare
//! EVALSHA, then an open-model run at twice the gate's closed rate) and
//! with MariaDB and Redis one hop away, where the DB-lock baseline shows
//! what its round trips cost.

use super::report::Report;
use super::{fcfs, outbox, payments, reconcile};
use crate::configuration::Settings;
use clap::Parser;

#[derive(Debug, clap::Args)]
pub struct AllBenchArgs {
    /// The hop of the second FCFS run, in milliseconds per round trip.
    #[arg(long, default_value_t = 0.5)]
    network_delay_ms: f64,
    /// Print the reports as one JSON array instead of tables.
    #[arg(long)]
    pub json: bool,
}

/// One benchmark's flags, parsed as its own command line would be.
#[derive(Debug, clap::Parser)]
struct Flags<T: clap::Args> {
    #[command(flatten)]
    args: T,
}

fn flags<T: clap::Args>(line: &[&str], json: bool) -> anyhow::Result<T> {
    let json = json.then_some("--json");
    let words = std::iter::once("bench")
        .chain(line.iter().copied())
        .chain(json);
    Ok(Flags::<T>::try_parse_from(words)?.args)
}

pub async fn run(settings: Settings, args: AllBenchArgs) -> anyhow::Result<Vec<Report>> {
    let json = args.json;
    let hop = args.network_delay_ms.to_string();
    let open = [
        "--requests",
        "20000",
        "--users",
        "20000",
        "--arrival-rate",
        "2x",
        "--arrival-seconds",
        "5",
    ];
    let one_hop = [
        "--requests",
        "10000",
        "--users",
        "10000",
        "--mode",
        "gate,db-lock",
        "--network-delay-ms",
        &hop,
    ];
    let mut reports = vec![fcfs::run(settings.clone(), flags(&open, json)?).await?];
    reports.push(fcfs::run(settings.clone(), flags(&one_hop, json)?).await?);
    reports.push(
        payments::run(
            settings.clone(),
            flags(&["--users", "500", "--orders-per-user", "3"], json)?,
        )
        .await?,
    );
    reports.push(
        outbox::run(
            settings.clone(),
            flags(
                &["--events", "20000", "--rate", "500", "--rate-seconds", "5"],
                json,
            )?,
        )
        .await?,
    );
    reports.push(
        reconcile::run(
            settings,
            // A floor of 5 s: a round's fixed cost (the claim, the last
            // wave's settlements) is then a small part of it, as in a real
            // round of hundreds of orders behind a slow PG.
            flags(&["--orders", "500", "--pg-latency-ms", "500"], json)?,
        )
        .await?,
    );
    Ok(reports)
}
