//! Notifications after a successful order payment, none of which can
//! fail the payment: an order confirmation (e-mail through SMTP when
//! configured, else recorded in `notifications`), a Slack-style message when
//! a webhook is configured, and a low-stock alert when a bought option drops
//! below `notify.low_stock_threshold`. Each notification is recorded once
//! per event (unique key), so a redelivery sends nothing twice.

use async_trait::async_trait;
use stampede_core::events::topics;
use stampede_core::payment::{PaymentSucceeded, Purchase};
use stampede_infra::mysql::stock_levels;
use stampede_infra::kafka::consumer::{ConsumedEvent, ConsumerSpec, EventHandler, HandlerError};
use stampede_infra::notify::{post_json, Mailer, Notice, NotificationLog, NotifySettings};
use stampede_infra::Infra;
use std::time::Duration;

pub const NAME: &str = "notifications";

pub fn spec(infra: &Infra) -> ConsumerSpec {
    let settings = infra.settings.notify.clone();
    let handler = Notifications {
        pool: infra.pool.clone(),
        log: NotificationLog::new(infra.pool.clone()),
        http: reqwest::Client::new(),
        mailer: Mailer::configured(&settings),
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
    log: NotificationLog,
    http: reqwest::Client,
    mailer: Option<Mailer>,
    settings: NotifySettings,
}

impl Notifications {
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
        let Purchase::Order { order_id, lines } = &paid.purchase else {
            return Ok(()); // tickets have their own e-mail (ticket_email.rs)
        };
        let event_id = event.envelope.event_id;
        let recipient = self.settings.recipient_of(paid.user_id);
        let confirmation = format!(
            "Your order {order_id} is paid: {} ({}).",
            paid.amount,
            paid.method.as_str()
        );
        let notice = Notice {
            event_id,
            kind: "ORDER_CONFIRMATION",
            recipient: &recipient,
            body: &confirmation,
        };
        self.log
            .mail_once(notice, self.mailer.as_ref(), "Your Stampede order")
            .await?;
        if !self.settings.slack_webhook_url.is_empty() {
            let text = format!(
                "Order {order_id} paid: {} by user {}",
                paid.amount, paid.user_id
            );
            let notice = Notice {
                event_id,
                kind: "SLACK",
                recipient: "slack",
                body: &text,
            };
            self.log.once(notice, || self.slack(&text)).await?;
        }
        for line in lines {
            let stock = stock_levels::option_stock(&self.pool, line.option_id).await?;
            let Some(stock) = stock.filter(|s| *s < self.settings.low_stock_threshold) else {
                continue;
            };
            let text = format!("Low stock: option {} has {stock} left", line.option_id);
            let recipient = format!("option-{}", line.option_id);
            let notice = Notice {
                event_id,
                kind: "LOW_STOCK",
                recipient: &recipient,
                body: &text,
            };
            self.log
                .once(notice, || async {
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
