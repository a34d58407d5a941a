//! `stampede serve`: HTTP API, outbox relay and consumers until SIGINT/SIGTERM.

use crate::configuration::Settings;
use crate::startup::{shutdown_signal, Application};

pub async fn run(settings: Settings) -> anyhow::Result<()> {
    let app = Application::build(settings.clone()).await?;
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
