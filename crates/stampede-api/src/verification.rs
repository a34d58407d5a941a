//! The verification chain: may this user buy this campaign's product?
//!
//! 1. The entry token in Redis (written by the win, 30-minute TTL): fastest.
//! 2. On a miss, the persisted entry in MariaDB.
//! 3. Lazy TTL: an entry older than `payments.entry_max_age_secs` is refused.
//! 4. A user found nowhere is remembered for `payments.negative_cache_secs`
//!    in an in-process cache, so repeated bogus requests never reach MariaDB.
//!
//! `stampede_campaign_verification_total{step}` counts where each check ended.

use crate::error::{ApiError, ErrorCode};
use crate::AppState;
use chrono::Utc;
use stampede_infra::mysql::campaigns;

pub async fn verify_entry(
    state: &AppState,
    user_id: u64,
    campaign_id: u64,
) -> Result<(), ApiError> {
    let count = |step: &'static str| {
        metrics::counter!("stampede_campaign_verification_total", "step" => step).increment(1)
    };
    let refused = || {
        ApiError::forbidden_code(
            ErrorCode::CampaignEntryRequired,
            "buying this product requires a winning campaign entry",
        )
    };
    if state.unknown_entries.contains_key(&(user_id, campaign_id)) {
        count("negative_cache");
        return Err(refused());
    }
    if state
        .infra
        .gate
        .entry_token(campaign_id, user_id)
        .await?
        .is_some()
    {
        count("redis_token");
        return Ok(());
    }
    match campaigns::entry_created_at(&state.infra.pool, user_id, campaign_id).await? {
        Some(at) if (Utc::now() - at).num_seconds() <= state.payments.entry_max_age_secs => {
            count("database");
            Ok(())
        }
        Some(_) => {
            count("expired");
            Err(ApiError::forbidden_code(
                ErrorCode::CampaignEntryExpired,
                "the campaign entry is too old to buy with",
            ))
        }
        None => {
            count("not_found");
            state
                .unknown_entries
                .insert((user_id, campaign_id), ())
                .await;
            Err(refused())
        }
    }
}
