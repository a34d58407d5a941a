//! `stampede reconcile --once`: one reconciliation round, with a progress bar.

use crate::configuration::Settings;
use crate::reconcile::Reconciler;
use stampede_infra::pg::PgClient;
use stampede_infra::Infra;

#[derive(Debug, clap::Args)]
pub struct ReconcileArgs {
    /// Run one round and exit (the scheduler inside `serve` runs them periodically).
    #[arg(long)]
    once: bool,
}

pub async fn run(settings: Settings, args: ReconcileArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.once,
        "only --once is supported here; `stampede serve` runs the scheduler"
    );
    let infra = Infra::connect(settings.infra()).await?;
    let reconciler = Reconciler::new(
        infra.pool.clone(),
        infra.outbox.clone(),
        PgClient::new(settings.pg.clone()),
        settings.reconcile.clone(),
    );
    let bar = crate::bench::progress(0, "reconciling");
    let outcomes = reconciler
        .run_once(|claimed| bar.set_length(claimed as u64), || bar.inc(1))
        .await?;
    bar.finish_and_clear();
    // The relay of a running server publishes the events; give ours a moment too.
    let relay = infra.relay();
    while relay
        .try_step()
        .await
        .is_ok_and(|step| step != stampede_infra::outbox::RelayStep::Empty)
    {}
    if outcomes.is_empty() {
        println!("no stale PENDING orders");
    }
    for (outcome, count) in outcomes {
        println!("{:<28} {count}", outcome.label());
    }
    Ok(())
}
