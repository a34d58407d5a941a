//! What every handler can reach.

use crate::auth::JwtKeys;
use crate::error::ApiError;
use crate::limits::IssueLimits;
use crate::HttpSettings;
use metrics_exporter_prometheus::PrometheusHandle;
use stampede_infra::mysql::coupons::CouponPolicy;
use stampede_infra::Infra;
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState {
    pub infra: Infra,
    pub jwt: Arc<JwtKeys>,
    pub metrics: PrometheusHandle,
    pub http: Arc<HttpSettings>,
    pub limits: Arc<IssueLimits>,
    /// Coupon policies by id (None: no such policy), for a second: the issue
    /// endpoint must not read MariaDB on every request of a burst.
    pub policies: moka::future::Cache<u64, Option<Arc<CouponPolicy>>>,
}

impl AppState {
    pub fn new(
        infra: Infra,
        jwt: JwtKeys,
        metrics: PrometheusHandle,
        http: HttpSettings,
        limits: IssueLimits,
    ) -> Self {
        Self {
            infra,
            jwt: Arc::new(jwt),
            metrics,
            http: Arc::new(http),
            limits: Arc::new(limits),
            policies: moka::future::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(std::time::Duration::from_secs(1))
                .build(),
        }
    }

    /// The policy, from the one-second cache or MariaDB.
    pub async fn policy(&self, id: u64) -> Result<Option<Arc<CouponPolicy>>, ApiError> {
        let pool = self.infra.pool.clone();
        self.policies
            .try_get_with(id, async move {
                stampede_infra::mysql::coupons::find_policy(&pool, id)
                    .await
                    .map(|p| p.map(Arc::new))
            })
            .await
            .map_err(|e| ApiError::database(&e))
    }
}
