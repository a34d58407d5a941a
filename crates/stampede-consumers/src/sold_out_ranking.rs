//! The sold-out ranking: when a payment sells the last
//! seat of a schedule, record how fast it sold out — once in MariaDB
//! (`sold_out_rankings`, the truth) and in Redis (the ranking readers are
//! served from, `GET /concerts/rankings/sold-out`).
//!
//! It asks the database whether the schedule is sold out instead of
//! counting events, so redeliveries and events arriving out of order (they
//! are keyed per reservation, on different partitions) change nothing.
//!
//! A full refund of a seat (`payment.refunded`) puts it on sale again: a
//! schedule that is no longer sold out leaves the ranking (it enters again,
//! with its new time, if it sells out again).

use async_trait::async_trait;
use stampede_core::concert::ranking::sell_out_ms;
use stampede_core::events::topics;
use stampede_core::payment::{PaymentRefunded, PaymentSucceeded, Purchase};
use stampede_infra::kafka::consumer::{ConsumedEvent, ConsumerSpec, EventHandler, HandlerError};
use stampede_infra::mysql::concerts;
use stampede_infra::redis::SoldOutRanking;
use stampede_infra::Infra;

pub const NAME: &str = "sold-out-ranking";

pub fn spec(infra: &Infra) -> ConsumerSpec {
    let handler = RankSoldOut {
        pool: infra.pool.clone(),
        ranking: infra.ranking.clone(),
    };
    ConsumerSpec::per_record(
        NAME,
        "ranking-update-group",
        &[topics::PAYMENT_SUCCESS, topics::PAYMENT_REFUNDED],
        handler,
    )
}

struct RankSoldOut {
    pool: sqlx::MySqlPool,
    ranking: SoldOutRanking,
}

impl RankSoldOut {
    /// A refunded seat is on sale again: a schedule no longer sold out is
    /// un-ranked, in MariaDB and in Redis (both idempotent deletes).
    async fn unrank_if_on_sale(&self, refunded: PaymentRefunded) -> Result<(), HandlerError> {
        let Purchase::Reservation { schedule_id, .. } = refunded.purchase else {
            return Ok(());
        };
        if !refunded.full {
            return Ok(());
        }
        let mut conn = self.pool.acquire().await?;
        if concerts::sold_out(&mut conn, schedule_id).await?.is_some() {
            return Ok(());
        }
        if concerts::unrecord_sold_out(&mut conn, schedule_id).await? {
            tracing::info!(schedule_id, "a refunded seat un-sold a schedule");
        }
        self.ranking.remove(schedule_id).await?;
        Ok(())
    }
}

#[async_trait]
impl EventHandler for RankSoldOut {
    async fn handle(&self, event: &ConsumedEvent) -> Result<(), HandlerError> {
        if event.envelope.event_type == topics::PAYMENT_REFUNDED {
            return self.unrank_if_on_sale(event.payload()?).await;
        }
        let paid: PaymentSucceeded = event.payload()?;
        let Purchase::Reservation { schedule_id, .. } = paid.purchase else {
            return Ok(());
        };
        let mut conn = self.pool.acquire().await?;
        let Some(sold_out) = concerts::sold_out(&mut conn, schedule_id).await? else {
            return Ok(());
        };
        let ms = sell_out_ms(sold_out.booking_opens_at, sold_out.sold_out_at);
        let first = concerts::record_sold_out(&mut conn, &sold_out, ms).await?;
        self.ranking.record(schedule_id, ms).await?;
        if first {
            metrics::counter!("stampede_concert_sold_out_total").increment(1);
            tracing::info!(schedule_id, sell_out_ms = ms, "schedule sold out");
        }
        Ok(())
    }
}
