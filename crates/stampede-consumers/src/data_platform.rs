//! The data platform feed: POSTs every successful payment and refund to the
//! external data platform (`notify.data_platform_url`). A failing platform is
//! retried by the runtime and, after that, its events wait in
//! `payment.success.DLT` (replayable); it never touches the payment.

use async_trait::async_trait;
use stampede_core::events::topics;
use stampede_infra::kafka::consumer::{ConsumedEvent, ConsumerSpec, EventHandler, HandlerError};
use stampede_infra::notify::post_json;
use stampede_infra::Infra;
use std::time::Duration;

pub const NAME: &str = "data-platform";

/// `None` when no data platform is configured.
pub fn spec(infra: &Infra) -> Option<ConsumerSpec> {
    let settings = &infra.settings.notify;
    if settings.data_platform_url.is_empty() {
        return None;
    }
    let handler = DataPlatform {
        http: reqwest::Client::new(),
        url: settings.data_platform_url.clone(),
        timeout: Duration::from_millis(settings.http_timeout_ms),
    };
    Some(ConsumerSpec::per_record(
        NAME,
        "data-platform-group",
        &[topics::PAYMENT_SUCCESS, topics::PAYMENT_REFUNDED],
        handler,
    ))
}

struct DataPlatform {
    http: reqwest::Client,
    url: String,
    timeout: Duration,
}

#[async_trait]
impl EventHandler for DataPlatform {
    async fn handle(&self, event: &ConsumedEvent) -> Result<(), HandlerError> {
        let body = serde_json::to_value(&event.envelope).expect("envelopes serialise");
        // The event id lets the platform drop redeliveries.
        let headers = [("Idempotency-Key", event.envelope.event_id.to_string())];
        post_json(&self.http, &self.url, &body, &headers, self.timeout).await?;
        Ok(())
    }
}
