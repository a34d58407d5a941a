//! `stampede serve`: HTTP API, outbox relay and consumers until SIGINT/SIGTERM.

use crate::configuration::Settings;
use crate::startup::{shutdown_signal, Application};

#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServeArgs {
    /// Serve the API and relay the outbox, but run no consumer (they run in
    /// other processes: API-only and worker instances scale apart).
    #[arg(long)]
    pub no_consumers: bool,
}

pub async fn run(settings: Settings, args: ServeArgs) -> anyhow::Result<()> {
    settings.check_servable()?;
    let app = if args.no_consumers {
        Application::build_running(settings.clone(), |_| Vec::new()).await?
    } else {
        Application::build(settings.clone()).await?
    };
    tracing::info!(host = %settings.http.host, port = app.port(), "stampede is serving");
    let stop = app.shutdown_token();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutdown requested; finishing in-flight work");
        stop.cancel();
    });
    app.run_until_stopped().await?;
    tracing::info!("stopped");
    Ok(())
}
