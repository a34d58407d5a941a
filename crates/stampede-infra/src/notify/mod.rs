//! Outbound notifications: webhooks (data platform, Slack-style), e-mail,
//! and the send log that makes each of them happen once per event.
//!
//! Each is optional: an empty URL or SMTP host switches it off (e-mails are
//! then recorded in the `notifications` table instead of sent).

mod log;
mod mail;
mod webhook;

pub use log::{Notice, NotificationLog, NotifyError};
pub use mail::Mailer;
pub use webhook::{post_json, WebhookError};

use serde::Deserialize;

/// `[notify]` settings.
#[derive(Debug, Clone, Deserialize)]
pub struct NotifySettings {
    /// The external data platform's URL; empty: that consumer does not run.
    pub data_platform_url: String,
    /// A Slack-style incoming webhook; empty: no chat messages.
    pub slack_webhook_url: String,
    /// SMTP relay host; empty: confirmations are recorded, not sent.
    pub smtp_host: String,
    pub smtp_port: u16,
    /// Use STARTTLS with the relay.
    pub smtp_starttls: bool,
    pub smtp_from: String,
    /// Where order confirmations go: `user-{id}@<this domain>` (users have no e-mail here yet).
    pub recipient_domain: String,
    /// An option whose stock drops below this after a payment raises a low-stock alert.
    pub low_stock_threshold: u64,
    pub http_timeout_ms: u64,
}

impl NotifySettings {
    /// Where a user's e-mail goes (users have no address of their own here yet).
    pub fn recipient_of(&self, user_id: u64) -> String {
        format!("user-{user_id}@{}", self.recipient_domain)
    }
}
