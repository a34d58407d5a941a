// A burst allocates and frees small buffers on every request; with glibc's
// allocator that was a fifth of the CPU, and mimalloc took the gate from
// 17,400–19,500 to 25,600–26,200 requests/s (`stampede bench fcfs`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand};
use stampede::configuration::Settings;
use std::path::PathBuf;

/// Stampede: a flash-sale backend (FCFS issuance, orders, payments, ticketing).
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// Extra configuration file layered over the defaults (env still wins).
    #[arg(long, global = true, env = "STAMPEDE_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP API, the outbox relay and the consumers.
    Serve(stampede::commands::serve::ServeArgs),
    /// Create the database if missing and apply the migrations.
    Migrate,
    /// Exercise a running server end to end and print what happened.
    Demo(stampede::commands::demo::DemoArgs),
    /// Print a bearer token for local use.
    Token {
        #[arg(long)]
        user: u64,
        #[arg(long)]
        admin: bool,
    },
    /// Compare Redis, MariaDB and the event pipeline; repair Redis from the database.
    #[command(subcommand)]
    Audit(stampede::commands::audit::AuditCommand),
    /// Settle orders stuck PENDING against the payment gateway.
    Reconcile(stampede::commands::reconcile::ReconcileArgs),
    /// Run a payment-gateway simulator.
    PgSim(stampede::commands::pg_sim::PgSimConfig),
    /// Dead letters: list, show, replay.
    Dlt(stampede::commands::dlt::DltArgs),
    /// Reports streamed from the database.
    #[command(subcommand)]
    Report(stampede::commands::report::ReportCommand),
    /// Benchmarks that print side-by-side measurements.
    #[command(subcommand)]
    Bench(stampede::bench::BenchCommand),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let mut settings = match Settings::load(cli.config.as_deref()) {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("stampede: {error}");
            return std::process::ExitCode::from(2);
        }
    };
    // Commands that print a report keep the log to warnings, so it does not
    // interleave with what they print (STAMPEDE__LOG__LEVEL or RUST_LOG still win).
    let reports = matches!(
        cli.command,
        Command::Demo(_) | Command::Dlt(_) | Command::Audit(_) | Command::Report(_)
    );
    if reports && std::env::var_os("STAMPEDE__LOG__LEVEL").is_none() {
        settings.log.level = "warn,librdkafka=error".into();
    }
    stampede::tracing_setup::init(&settings.log);
    let runtime = tokio::runtime::Runtime::new().expect("starting the tokio runtime");
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => stampede::commands::serve::run(settings, args).await,
            Command::Migrate => stampede::commands::migrate::run(settings).await,
            Command::Demo(args) => stampede::commands::demo::run(settings, args).await,
            Command::Token { user, admin } => {
                stampede::commands::token::run(&settings, user, admin)
            }
            Command::Audit(audit) => stampede::commands::audit::run(settings, audit).await,
            Command::Reconcile(args) => stampede::commands::reconcile::run(settings, args).await,
            Command::Dlt(args) => stampede::commands::dlt::run(settings, args).await,
            Command::Report(report) => stampede::commands::report::run(settings, report).await,
            Command::Bench(bench) => stampede::bench::run(settings, bench).await,
            Command::PgSim(config) => stampede::commands::pg_sim::run(config).await,
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("stampede: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
