//! E-mail through an SMTP relay (lettre).

use super::NotifySettings;
use lettre::message::Mailbox;
use lettre::transport::smtp::AsyncSmtpTransport;
use lettre::{AsyncTransport, Message, Tokio1Executor};

#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Mailer {
    /// `None` when no SMTP host is configured.
    pub fn from_settings(settings: &NotifySettings) -> anyhow::Result<Option<Self>> {
        if settings.smtp_host.is_empty() {
            return Ok(None);
        }
        let builder = if settings.smtp_starttls {
            AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&settings.smtp_host)?
        } else {
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&settings.smtp_host)
        };
        Ok(Some(Self {
            transport: builder.port(settings.smtp_port).build(),
            from: settings.smtp_from.parse()?,
        }))
    }

    /// The configured mailer, or `None` (logged) when there is no SMTP host
    /// or its settings are unusable: e-mails are then only recorded.
    pub fn configured(settings: &NotifySettings) -> Option<Self> {
        Self::from_settings(settings).unwrap_or_else(|error| {
            tracing::error!(%error, "SMTP settings are unusable; e-mails will be recorded only");
            None
        })
    }

    pub async fn send(&self, to: &str, subject: &str, body: String) -> anyhow::Result<()> {
        let message = Message::builder()
            .from(self.from.clone())
            .to(to.parse()?)
            .subject(subject)
            .body(body)?;
        self.transport.send(message).await?;
        Ok(())
    }
}
