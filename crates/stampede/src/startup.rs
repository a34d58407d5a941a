//! Building and running the service: the same code for `serve` and tests.

use crate::configuration::Settings;
use anyhow::Context;
use stampede_api::limits::IssueLimits;
use stampede_api::token_verifier::TokenVerifier;
use stampede_api::{AppState, StateParts};
use stampede_infra::kafka::consumer::{run_consumer, ConsumerSpec};
use stampede_infra::kafka::{ensure_topics, ensure_topics_until_done, TopicsError};
use stampede_infra::pg::PgClient;
use stampede_infra::Infra;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How often a service that started without its broker tries to create its topics.
const TOPIC_RETRY_INTERVAL: std::time::Duration = std::time::Duration::from_secs(2);

/// A built, not yet running, Stampede: connected, migrated, topics created,
/// listener bound, background workers started.
pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    infra: Infra,
    stop_http: CancellationToken,
    stop_workers: CancellationToken,
    workers: Vec<JoinHandle<()>>,
}

impl Application {
    /// Builds the service with the consumers of the registry.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        Self::build_with(settings, Vec::new()).await
    }

    /// Builds the service with the registry's consumers plus `extra` (tests
    /// register their own probes this way, exactly as the registry does).
    pub async fn build_with(settings: Settings, extra: Vec<ConsumerSpec>) -> anyhow::Result<Self> {
        Self::build_running(settings, |infra| {
            let mut consumers = stampede_consumers::all(infra);
            consumers.extend(extra);
            consumers
        })
        .await
    }

    /// Builds the service running exactly the consumers `choose` returns
    /// (e.g. none, for an API-only instance).
    pub async fn build_running(
        settings: Settings,
        choose: impl FnOnce(&Infra) -> Vec<ConsumerSpec>,
    ) -> anyhow::Result<Self> {
        let infra = Infra::connect(settings.infra()).await?;
        stampede_infra::mysql::migrate(&infra.pool)
            .await
            .context("running migrations")?;

        let consumers = choose(&infra);
        let consumer_topics: Vec<String> =
            consumers.iter().flat_map(|c| c.topics.clone()).collect();
        let stop_workers = CancellationToken::new();
        let mut workers = Vec::new();
        match ensure_topics(infra.kafka(), &consumer_topics).await {
            Ok(()) => {}
            // The service starts without its broker: /ready names Kafka, what
            // needs it answers 503, and the topics are created once it answers.
            Err(error @ TopicsError::Unreachable { .. }) => {
                tracing::warn!(%error, "starting without Kafka; topics will be created when it answers");
                workers.push(tokio::spawn(ensure_topics_until_done(
                    infra.kafka().clone(),
                    consumer_topics,
                    TOPIC_RETRY_INTERVAL,
                    stop_workers.clone(),
                )));
            }
            Err(error) => return Err(error.into()),
        }

        workers.push(tokio::spawn(infra.relay().run(stop_workers.clone())));
        for spec in consumers {
            let kafka = infra.kafka().clone();
            let producer = infra.producer.clone();
            let stop = stop_workers.clone();
            workers.push(tokio::spawn(async move {
                let name = spec.name.clone();
                if let Err(error) = run_consumer(spec, kafka, producer, stop).await {
                    tracing::error!(consumer = %name, error = format!("{error:#}"), "consumer failed");
                }
            }));
        }

        let admission =
            crate::admission::QueueAdmission::new(infra.queue.clone(), settings.concert.clone());
        workers.push(tokio::spawn(admission.run(stop_workers.clone())));
        if settings.healer.enabled {
            let healer = crate::healer::Healer::new(infra.clone(), settings.healer.clone());
            workers.push(tokio::spawn(healer.run(stop_workers.clone())));
        }
        let pruner = crate::idempotency_pruner::IdempotencyPruner::new(
            infra.pool.clone(),
            settings.idempotency.clone(),
        );
        workers.push(tokio::spawn(pruner.run(stop_workers.clone())));
        let pg = PgClient::new(settings.pg.clone());
        if settings.reconcile.enabled {
            let reconciler = crate::reconcile::Reconciler::new(
                infra.pool.clone(),
                infra.outbox.clone(),
                pg.clone(),
                settings.reconcile.clone(),
            );
            workers.push(tokio::spawn(reconciler.run(stop_workers.clone())));
        }
        let state = AppState::new(StateParts {
            infra: infra.clone(),
            tokens: TokenVerifier::new(&settings.auth).map_err(anyhow::Error::msg)?,
            metrics: stampede_api::telemetry::prometheus(),
            http: settings.http.clone(),
            limits: IssueLimits::new(
                &settings.rate_limit,
                infra.redis.clone(),
                &settings.redis.key_prefix,
            ),
            payments: settings.payments.clone(),
            pg,
        });
        let reader = state.queue_watch.clone().run(
            infra.queue.clone(),
            settings.queue.events_tick(),
            stop_workers.clone().cancelled_owned(),
        );
        workers.push(tokio::spawn(reader));
        let address = (settings.http.host.as_str(), settings.http.port);
        let listener = TcpListener::bind(address)
            .await
            .with_context(|| format!("binding {}:{}", address.0, address.1))?;
        Ok(Self {
            listener,
            router: stampede_api::router(state),
            infra,
            stop_http: CancellationToken::new(),
            stop_workers,
            workers,
        })
    }

    pub fn port(&self) -> u16 {
        self.listener
            .local_addr()
            .map(|a| a.port())
            .unwrap_or_default()
    }

    pub fn infra(&self) -> &Infra {
        &self.infra
    }

    /// Cancelling this token shuts the service down gracefully.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.stop_http.clone()
    }

    /// Serves until the shutdown token is cancelled; then lets in-flight
    /// requests finish, stops the relay (after a last drain) and the
    /// consumers (after their batch in hand and a final commit).
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let stop_http = self.stop_http.clone();
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(async move { stop_http.cancelled().await })
            .await?;
        self.stop_workers.cancel();
        for worker in self.workers {
            let _ = worker.await;
        }
        Ok(())
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .expect("installing the SIGTERM handler");
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}
