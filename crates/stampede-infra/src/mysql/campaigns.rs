//! Campaigns and their entries in MariaDB.

use super::coupons::utc;
use super::pools::stored_pool;
use super::winners::WinnerTable;
use chrono::{DateTime, NaiveDateTime, Utc};
use sqlx::MySqlPool;
use stampede_core::campaign::{Campaign, CampaignEntrySucceeded, NewCampaign};
use stampede_core::fcfs::{PoolKind, PoolStatus};

#[derive(sqlx::FromRow)]
struct CampaignRecord {
    id: u64,
    name: String,
    total_slots: u64,
    remaining: u64,
    opens_at: NaiveDateTime,
    closes_at: NaiveDateTime,
    status: String,
}

pub async fn insert_campaign(pool: &MySqlPool, campaign: &NewCampaign) -> Result<u64, sqlx::Error> {
    let new = campaign.pool();
    let result = sqlx::query(
        "INSERT INTO campaigns (name, total_slots, remaining, opens_at, closes_at, status) VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(new.name())
    .bind(new.stock())
    .bind(new.stock())
    .bind(new.window().opens_at().naive_utc())
    .bind(new.window().closes_at().naive_utc())
    .bind(PoolStatus::Draft.as_str())
    .execute(pool)
    .await?;
    Ok(result.last_insert_id())
}

pub async fn find_campaign(pool: &MySqlPool, id: u64) -> Result<Option<Campaign>, sqlx::Error> {
    let record: Option<CampaignRecord> = sqlx::query_as(
        "SELECT id, name, total_slots, remaining, opens_at, closes_at, status FROM campaigns WHERE id = ?",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?;
    record
        .map(|r| {
            Ok(Campaign {
                pool: stored_pool("campaigns", &r.status, r.remaining, r.opens_at, r.closes_at)?,
                id: r.id,
                name: r.name,
                total_slots: r.total_slots,
            })
        })
        .transpose()
}

/// When `user_id` won `campaign_id`, if it did.
pub async fn entry_created_at(
    pool: &MySqlPool,
    user_id: u64,
    campaign_id: u64,
) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    let at: Option<NaiveDateTime> = sqlx::query_scalar(
        "SELECT created_at FROM campaign_entries WHERE user_id = ? AND campaign_id = ?",
    )
    .bind(user_id)
    .bind(campaign_id)
    .fetch_optional(pool)
    .await?;
    Ok(at.map(utc))
}

/// `campaign_entries` as a [`WinnerTable`].
pub struct CampaignEntries;

impl WinnerTable for CampaignEntries {
    type Winner = CampaignEntrySucceeded;
    const INSERT_HEAD: &'static str =
        "INSERT IGNORE INTO campaign_entries (id, user_id, campaign_id, created_at) ";
    const KIND: PoolKind = PoolKind::Campaign;

    fn bind(
        row: &mut sqlx::query_builder::Separated<'_, '_, sqlx::MySql, &'static str>,
        w: &CampaignEntrySucceeded,
    ) {
        row.push_bind(w.entry_id.to_string())
            .push_bind(w.user_id)
            .push_bind(w.campaign_id)
            .push_bind(w.created_at.naive_utc());
    }
}
