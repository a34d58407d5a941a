//! What every handler can reach.

use crate::auth::JwtKeys;
use crate::HttpSettings;
use metrics_exporter_prometheus::PrometheusHandle;
use stampede_infra::Infra;
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState {
    pub infra: Infra,
    pub jwt: Arc<JwtKeys>,
    pub metrics: PrometheusHandle,
    pub http: Arc<HttpSettings>,
}
