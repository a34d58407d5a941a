//! What every handler can reach.

use crate::error::ApiError;
use crate::limits::IssueLimits;
use crate::token_verifier::TokenVerifier;
use crate::{HttpSettings, PaymentSettings};
use chrono::{DateTime, Utc};
use metrics_exporter_prometheus::PrometheusHandle;
use stampede_core::coupon::CouponPolicy;
use stampede_infra::pg::PgClient;
use stampede_infra::refund_flow::RefundDesk;
use stampede_infra::Infra;
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

/// Cloned for every request (axum's `State`, and again by extractors that
/// need it), so it is one `Arc`: a clone is one atomic increment, however
/// many handles the state holds. Handlers read the fields through `Deref`.
#[derive(Clone)]
pub struct AppState(Arc<SharedState>);

/// The handles behind [`AppState`].
pub struct SharedState {
    pub infra: Infra,
    pub tokens: TokenVerifier,
    pub metrics: PrometheusHandle,
    pub http: HttpSettings,
    pub limits: IssueLimits,
    /// Coupon policies by id (None: no such policy), for a second: the issue
    /// endpoint must not read MariaDB on every request of a burst.
    pub policies: moka::future::Cache<u64, Option<Arc<CouponPolicy>>>,
    /// The last policy read of each id, served while MariaDB is away: the
    /// gate decides in Redis (window, closed, stock), so a sale keeps
    /// answering through a database restart.
    last_known_policies: moka::future::Cache<u64, Arc<CouponPolicy>>,
    pub payments: PaymentSettings,
    pub pg: PgClient,
    /// (user, campaign) pairs with no entry anywhere, for a few seconds.
    pub unknown_entries: moka::future::Cache<(u64, u64), ()>,
    /// The waiting queue's live-update hub (its reader is started by `serve`).
    pub queue_watch: crate::queue_watch::QueueWatch,
    /// How gate requests ended, counted.
    pub gate_outcomes: crate::routes::GateOutcomes,
    /// When each concert's queue opens (None: no such concert), for a
    /// second: a burst of fans joining must not read MariaDB per join.
    queue_openings: moka::future::Cache<u64, Option<DateTime<Utc>>>,
}

/// Everything [`AppState::new`] needs.
pub struct StateParts {
    pub infra: Infra,
    pub tokens: TokenVerifier,
    pub metrics: PrometheusHandle,
    pub http: HttpSettings,
    pub limits: IssueLimits,
    pub payments: PaymentSettings,
    pub pg: PgClient,
}

impl AppState {
    /// Refunds, and card settlements that may need one, run through here.
    pub fn refund_desk(&self) -> RefundDesk<'_> {
        RefundDesk {
            pool: &self.infra.pool,
            outbox: &self.infra.outbox,
            pg: &self.pg,
        }
    }

    pub fn new(parts: StateParts) -> Self {
        let negative_ttl = Duration::from_secs(parts.payments.negative_cache_secs);
        Self(Arc::new(SharedState {
            infra: parts.infra,
            tokens: parts.tokens,
            metrics: parts.metrics,
            http: parts.http,
            limits: parts.limits,
            policies: moka::future::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(Duration::from_secs(1))
                .build(),
            last_known_policies: moka::future::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(Duration::from_secs(3600))
                .build(),
            payments: parts.payments,
            pg: parts.pg,
            unknown_entries: moka::future::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(negative_ttl)
                .build(),
            queue_watch: Default::default(),
            gate_outcomes: Default::default(),
            queue_openings: moka::future::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(Duration::from_secs(1))
                .build(),
        }))
    }

    /// The policy, from the one-second cache or MariaDB, or, while MariaDB
    /// does not answer, as last read.
    pub async fn policy(&self, id: u64) -> Result<Option<Arc<CouponPolicy>>, ApiError> {
        let (pool, last_known) = (self.infra.pool.clone(), self.last_known_policies.clone());
        let read = self
            .policies
            .try_get_with(id, async move {
                let policy = stampede_infra::mysql::coupons::find_policy(&pool, id)
                    .await?
                    .map(Arc::new);
                if let Some(policy) = &policy {
                    last_known.insert(id, policy.clone()).await;
                }
                Ok::<_, sqlx::Error>(policy)
            })
            .await;
        match read {
            Ok(policy) => Ok(policy),
            Err(error) => match self.last_known_policies.get(&id).await {
                Some(policy) => Ok(Some(policy)),
                None => Err(ApiError::database(&error)),
            },
        }
    }

    /// When the concert's waiting queue opens, from the one-second cache or
    /// MariaDB; `None`: no such concert.
    pub async fn queue_opens_at(&self, concert_id: u64) -> Result<Option<DateTime<Utc>>, ApiError> {
        let pool = self.infra.pool.clone();
        self.queue_openings
            .try_get_with(concert_id, async move {
                stampede_infra::mysql::concerts::queue_opens_at(&pool, concert_id).await
            })
            .await
            .map_err(|error| ApiError::database(&error))
    }
}

impl Deref for AppState {
    type Target = SharedState;

    fn deref(&self) -> &SharedState {
        &self.0
    }
}
