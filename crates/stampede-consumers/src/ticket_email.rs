//! An e-mail notice for every paid ticket, added as a consumer should be:
//! it touched no payment code, only this file and one line in `lib.rs`.
//! Sent through SMTP when `notify.smtp_host` is set, else recorded in
//! `notifications`; once per event either way.

use async_trait::async_trait;
use stampede_core::events::topics;
use stampede_core::payment::{PaymentSucceeded, Purchase};
use stampede_infra::kafka::consumer::{ConsumedEvent, ConsumerSpec, EventHandler, HandlerError};
use stampede_infra::notify::{Mailer, Notice, NotificationLog, NotifySettings};
use stampede_infra::Infra;

pub const NAME: &str = "ticket-email";

pub fn spec(infra: &Infra) -> ConsumerSpec {
    let settings = infra.settings.notify.clone();
    let handler = TicketEmail {
        log: NotificationLog::new(infra.pool.clone()),
        mailer: Mailer::configured(&settings),
        settings,
    };
    ConsumerSpec::per_record(
        NAME,
        "ticket-email-group",
        &[topics::PAYMENT_SUCCESS],
        handler,
    )
}

struct TicketEmail {
    log: NotificationLog,
    mailer: Option<Mailer>,
    settings: NotifySettings,
}

#[async_trait]
impl EventHandler for TicketEmail {
    async fn handle(&self, event: &ConsumedEvent) -> Result<(), HandlerError> {
        let paid: PaymentSucceeded = event.payload()?;
        let Purchase::Reservation {
            reservation_id,
            concert_id,
            schedule_id,
            seat_id,
        } = paid.purchase
        else {
            return Ok(());
        };
        let recipient = self.settings.recipient_of(paid.user_id);
        let body = format!(
            "Your ticket is confirmed: reservation {reservation_id}, concert {concert_id}, \
             schedule {schedule_id}, seat {seat_id}; paid {}.",
            paid.amount
        );
        let notice = Notice {
            event_id: event.envelope.event_id,
            kind: "TICKET",
            recipient: &recipient,
            body: &body,
        };
        self.log
            .mail_once(notice, self.mailer.as_ref(), "Your Stampede ticket")
            .await?;
        Ok(())
    }
}
