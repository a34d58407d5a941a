//! The sold-out ranking: when a payment sells the last
//! seat of a schedule, record how fast it sold out — once in MariaDB
//! (`sold_out_rankings`, the truth) and in Redis (the ranking readers are
//! served from, `GET /concerts/rankings/sold-out`).
//!
//! It asks the database whether the schedule is sold out instead of
//! counting events, so redeliveries and events arriving out of order (they
//! are keyed per reservation, on different partitions) change nothing.

use async_trait::async_trait;
use stampede_core::concert::ranking::sell_out_ms;
use stampede_core::events::topics;
use stampede_core::payment::{PaymentSucceeded, Purchase};
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
        &[topics::PAYMENT_SUCCESS],
        handler,
    )
}

struct RankSoldOut {
    pool: sqlx::MySqlPool,
    ranking: SoldOutRanking,
}

#[async_trait]
impl EventHandler for RankSoldOut {
    async fn handle(&self, event: &ConsumedEvent) -> Result<(), HandlerError> {
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
