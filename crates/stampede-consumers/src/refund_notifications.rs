//! Tells the buyer their money came back (`payment.refunded`), and why: a
//! refund they or support asked for, or a late payment Stampede could not
//! fulfil (the order was no longer pending, the stock ran out) and
//! refunded by itself. E-mail through SMTP when configured, else recorded
//! in `notifications`; once per event (unique key), so a redelivery sends
//! nothing twice.

use async_trait::async_trait;
use stampede_core::events::topics;
use stampede_core::payment::{PaymentRefunded, Purchase};
use stampede_infra::kafka::consumer::{ConsumedEvent, ConsumerSpec, EventHandler, HandlerError};
use stampede_infra::notify::{Mailer, Notice, NotificationLog, NotifySettings};
use stampede_infra::Infra;

pub const NAME: &str = "refund-notifications";

pub fn spec(infra: &Infra) -> ConsumerSpec {
    let settings = infra.settings.notify.clone();
    let handler = RefundNotifications {
        log: NotificationLog::new(infra.pool.clone()),
        mailer: Mailer::configured(&settings),
        settings,
    };
    ConsumerSpec::per_record(
        NAME,
        "refund-notifications-group",
        &[topics::PAYMENT_REFUNDED],
        handler,
    )
}

struct RefundNotifications {
    log: NotificationLog,
    mailer: Option<Mailer>,
    settings: NotifySettings,
}

/// The message: what came back, for what, and why.
fn body_of(refunded: &PaymentRefunded) -> String {
    let what = match &refunded.purchase {
        Purchase::Order { order_id, .. } => format!("order {order_id}"),
        Purchase::Reservation { reservation_id, .. } => format!("reservation {reservation_id}"),
    };
    let how = if refunded.full { "in full" } else { "in part" };
    format!(
        "{} ({}) of your payment for {what} was refunded {how}. Why: {}",
        refunded.amount,
        refunded.method.as_str(),
        refunded.reason
    )
}

#[async_trait]
impl EventHandler for RefundNotifications {
    async fn handle(&self, event: &ConsumedEvent) -> Result<(), HandlerError> {
        let refunded: PaymentRefunded = event.payload()?;
        let recipient = self.settings.recipient_of(refunded.user_id);
        let body = body_of(&refunded);
        let notice = Notice {
            event_id: event.envelope.event_id,
            kind: "PAYMENT_REFUNDED",
            recipient: &recipient,
            body: &body,
        };
        self.log
            .mail_once(notice, self.mailer.as_ref(), "Your Stampede refund")
            .await?;
        Ok(())
    }
}
