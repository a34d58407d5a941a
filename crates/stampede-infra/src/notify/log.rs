//! "Send once per event": the `notifications` table as a send log.
//!
//! At-least-once delivery means a consumer sees some events twice; a
//! customer must not get two e-mails for one payment. Each notification is
//! recorded under the unique key (event, kind, recipient) *before* it is
//! sent: a redelivery finds the record and sends nothing. If sending fails,
//! the record is removed again so the runtime's retry sends it.
//!
//! Without SMTP (or a webhook), the record itself is the delivery: the
//! message waits in `notifications` for whoever reads it.

use super::Mailer;
use sqlx::MySqlPool;
use std::future::Future;
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error("sending the {kind} notification failed: {cause:#}")]
    Send { kind: String, cause: anyhow::Error },
}

/// One notification: what, to whom, for which event.
#[derive(Debug, Clone, Copy)]
pub struct Notice<'a> {
    pub event_id: Uuid,
    /// `ORDER_CONFIRMATION`, `SLACK`, `LOW_STOCK`, `TICKET`, …
    pub kind: &'a str,
    pub recipient: &'a str,
    pub body: &'a str,
}

#[derive(Clone)]
pub struct NotificationLog {
    pool: MySqlPool,
}

impl NotificationLog {
    pub fn new(pool: MySqlPool) -> Self {
        Self { pool }
    }

    /// Sends `notice` through `send` unless it was sent before; true when it
    /// was sent now.
    pub async fn once<F, Fut>(&self, notice: Notice<'_>, send: F) -> Result<bool, NotifyError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = anyhow::Result<()>>,
    {
        let recorded = sqlx::query(
            "INSERT IGNORE INTO notifications (event_id, kind, recipient, body, created_at) \
             VALUES (?, ?, ?, ?, UTC_TIMESTAMP(3))",
        )
        .bind(notice.event_id.to_string())
        .bind(notice.kind)
        .bind(notice.recipient)
        .bind(notice.body)
        .execute(&self.pool)
        .await?
        .rows_affected()
            == 1;
        if !recorded {
            return Ok(false);
        }
        if let Err(cause) = send().await {
            sqlx::query(
                "DELETE FROM notifications WHERE event_id = ? AND kind = ? AND recipient = ?",
            )
            .bind(notice.event_id.to_string())
            .bind(notice.kind)
            .bind(notice.recipient)
            .execute(&self.pool)
            .await?;
            return Err(NotifyError::Send {
                kind: notice.kind.to_owned(),
                cause,
            });
        }
        metrics::counter!("stampede_notifications_total", "kind" => notice.kind.to_owned())
            .increment(1);
        Ok(true)
    }

    /// An e-mail once per event: sent through `mailer` when SMTP is
    /// configured, else the record in `notifications` is the delivery.
    pub async fn mail_once(
        &self,
        notice: Notice<'_>,
        mailer: Option<&Mailer>,
        subject: &str,
    ) -> Result<bool, NotifyError> {
        self.once(notice, || async move {
            match mailer {
                Some(mailer) => {
                    mailer
                        .send(notice.recipient, subject, notice.body.to_owned())
                        .await
                }
                None => Ok(()),
            }
        })
        .await
    }
}
