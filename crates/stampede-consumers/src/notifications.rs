//! Seed 004's notifications after a successful payment, none of which can
//! fail the payment: an order confirmation (e-mail through SMTP when
//! configured, else recorded in `notifications`), a Slack-style message when
//! a webhook is configured, and a low-stock alert when a bought option drops
//! below `notify.low_stock_threshold`. Each notification is recorded once
//! per event (unique key), so a redelivery sends nothing twice.

use async_trait::async_trait;
use stampede_core::events::topics;
use stampede_core::payment::PaymentSucceeded;
use stampede_infra::kafka::consumer::{ConsumedEvent, ConsumerSpec, EventHandler, HandlerError};
use stampede_infra::notify::{post_json, Mailer, NotifySettings};
use stampede_infra::Infra;
use std::time::Duration;

pub const NAME: &str = "notifications";

pub fn spec(infra: &Infra) -> ConsumerSpec {
    let settings = infra.settings.notify.clone();
    let mailer = match Mailer::from_settings(&settings) {
        Ok(mailer) => mailer,
        Err(error) => {
            tracing::error!(%error, "SMTP settings are unusable; confirmations will be recorded only");
            None
        }
    };
    let handler = Notifications {
        pool: infra.pool.clone(),
        http: reqwest::Client::new(),
        mailer,
        settings,
    };
    ConsumerSpec::per_record(
        NAME,
        "notifications-group",
        &[topics::PAYMENT_SUCCESS],
        handler,
    )
}

struct Notifications {
    pool: sqlx::MySqlPool,
    http: reqwest::Client,
    mailer: Option<Mailer>,
    settings: NotifySettings,
}

impl Notifications {
    /// Records (event, kind, recipient) once; false when it was recorded before.
    async fn first_time(
        &self,
        event: &ConsumedEvent,
        kind: &str,
        recipient: &str,
        body: &str,
    ) -> Result<bool, sqlx::Error> {
        let inserted = sqlx::query(
            "INSERT IGNORE INTO notifications (event_id, kind, recipient, body, created_at) VALUES (?, ?, ?, ?, UTC_TIMESTAMP(3))",
        )
        .bind(event.envelope.event_id.to_string())
        .bind(kind)
        .bind(recipient)
        .bind(body)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(inserted == 1)
    }

    /// Sends through `send` once per (event, kind, recipient); a failed send
    /// forgets the record so the retry sends again.
    async fn once<F, Fut>(
        &self,
        event: &ConsumedEvent,
        kind: &str,
        recipient: &str,
        body: &str,
        send: F,
    ) -> Result<(), HandlerError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = anyhow::Result<()>>,
    {
        if !self.first_time(event, kind, recipient, body).await? {
            return Ok(());
        }
        if let Err(error) = send().await {
            sqlx::query(
                "DELETE FROM notifications WHERE event_id = ? AND kind = ? AND recipient = ?",
            )
            .bind(event.envelope.event_id.to_string())
            .bind(kind)
            .bind(recipient)
            .execute(&self.pool)
            .await?;
            return Err(HandlerError::retryable(error));
        }
        metrics::counter!("stampede_notifications_total", "kind" => kind.to_owned()).increment(1);
        Ok(())
    }

    async fn slack(&self, text: &str) -> anyhow::Result<()> {
        let timeout = Duration::from_millis(self.settings.http_timeout_ms);
        post_json(
            &self.http,
            &self.settings.slack_webhook_url,
            &serde_json::json!({ "text": text }),
            &[],
            timeout,
        )
        .await?;
        Ok(())
    }
}

#[async_trait]
impl EventHandler for Notifications {
    async fn handle(&self, event: &ConsumedEvent) -> Result<(), HandlerError> {
        let paid: PaymentSucceeded = event.payload()?;
        let recipient = format!("user-{}@{}", paid.user_id, self.settings.recipient_domain);
        let confirmation = format!(
            "Your order {} is paid: {} ({}).",
            paid.order_id,
            paid.amount,
            paid.method.as_str()
        );
        self.once(
            event,
            "ORDER_CONFIRMATION",
            &recipient,
            &confirmation,
            || async {
                match &self.mailer {
                    Some(mailer) => {
                        mailer
                            .send(&recipient, "Your Stampede order", confirmation.clone())
                            .await
                    }
                    None => Ok(()), // recorded in `notifications`: that is the delivery
                }
            },
        )
        .await?;
        if !self.settings.slack_webhook_url.is_empty() {
            let text = format!(
                "Order {} paid: {} by user {}",
                paid.order_id, paid.amount, paid.user_id
            );
            self.once(event, "SLACK", "slack", &text, || self.slack(&text))
                .await?;
        }
        for line in &paid.lines {
            let stock: Option<u64> =
                sqlx::query_scalar("SELECT stock FROM product_options WHERE id = ?")
                    .bind(line.option_id)
                    .fetch_optional(&self.pool)
                    .await?;
            let Some(stock) = stock.filter(|s| *s < self.settings.low_stock_threshold) else {
                continue;
            };
            let text = format!("Low stock: option {} has {stock} left", line.option_id);
            let recipient = format!("option-{}", line.option_id);
            self.once(event, "LOW_STOCK", &recipient, &text, || async {
                if self.settings.slack_webhook_url.is_empty() {
                    Ok(())
                } else {
                    self.slack(&text).await
                }
            })
            .await?;
        }
        Ok(())
    }
}
