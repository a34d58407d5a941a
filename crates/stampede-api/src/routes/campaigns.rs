//! Campaigns: the admin lifecycle and entering, through the same
//! gate as coupons. A win also writes an entry token (Redis, 30 min) that
//! payments verify.

use super::fcfs::{answer, created, take_then_publish_detached, PoolCounters, WindowBody};
use crate::auth::{AdminUser, AuthUser};
use crate::error::{ApiError, ApiJson, ApiPath, ErrorBody};
use crate::responses::{Admin, Authed, JsonBody, PathIds, Unavailable};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use stampede_core::campaign::{Campaign, CampaignEntrySucceeded, NewCampaign, ENTRIES_PER_USER};
use stampede_core::fcfs::{GateOutcome, PoolKind, PoolRef, PoolStatus, Take, Taken};
use stampede_infra::fcfs_pools::FcfsPools;
use stampede_infra::mysql::campaigns;
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateCampaign {
    #[schema(min_length = 1, max_length = 200)]
    name: String,
    #[schema(minimum = 1, maximum = 100_000_000)]
    total_slots: u64,
    window: WindowBody,
}

fn campaign(id: u64) -> PoolRef {
    PoolRef {
        kind: PoolKind::Campaign,
        id,
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CampaignView {
    id: u64,
    name: String,
    opens_at: DateTime<Utc>,
    closes_at: DateTime<Utc>,
    status: PoolStatus,
    #[serde(flatten)]
    counters: PoolCounters,
}

impl AppState {
    async fn existing_campaign(&self, id: u64) -> Result<Campaign, ApiError> {
        campaigns::find_campaign(&self.infra.pool, id)
            .await?
            .ok_or_else(|| ApiError::pool_not_found(campaign(id)))
    }

    async fn campaign_view(&self, id: u64) -> Result<CampaignView, ApiError> {
        let c = self.existing_campaign(id).await?;
        let gate_stock = self.infra.gate.snapshot_stock(campaign(id)).await?;
        Ok(CampaignView {
            id: c.id,
            name: c.name,
            opens_at: c.pool.window.opens_at(),
            closes_at: c.pool.window.closes_at(),
            status: c.pool.status,
            counters: PoolCounters::new(c.total_slots, c.pool.remaining, gate_stock, c.pool.status),
        })
    }
}

/// Creates a campaign (DRAFT).
#[utoipa::path(post, path = "/admin/campaigns", tag = "campaigns", security(("bearer" = [])),
    request_body = CreateCampaign,
    responses((status = 201, body = CampaignView), (status = 422, body = ErrorBody), JsonBody, Admin, Unavailable))]
pub async fn create_campaign(
    _admin: AdminUser,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CreateCampaign>,
) -> Result<(StatusCode, Json<CampaignView>), ApiError> {
    let campaign = NewCampaign::parse(&body.name, body.total_slots, body.window.parse()?)?;
    let id = campaigns::insert_campaign(&state.infra.pool, &campaign).await?;
    Ok(created(state.campaign_view(id).await?))
}

/// Opens a DRAFT campaign.
#[utoipa::path(post, path = "/admin/campaigns/{id}/open", tag = "campaigns", security(("bearer" = [])),
    params(("id" = u64, Path)),
    responses((status = 200, body = CampaignView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        PathIds, Admin, Unavailable))]
pub async fn open_campaign(
    _admin: AdminUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<u64>,
) -> Result<Json<CampaignView>, ApiError> {
    FcfsPools::new(&state.infra).open(campaign(id)).await?;
    Ok(Json(state.campaign_view(id).await?))
}

/// Closes a campaign for good.
#[utoipa::path(post, path = "/admin/campaigns/{id}/close", tag = "campaigns", security(("bearer" = [])),
    params(("id" = u64, Path)),
    responses((status = 200, body = CampaignView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        PathIds, Admin, Unavailable))]
pub async fn close_campaign(
    _admin: AdminUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<u64>,
) -> Result<Json<CampaignView>, ApiError> {
    FcfsPools::new(&state.infra).close(campaign(id)).await?;
    Ok(Json(state.campaign_view(id).await?))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EntryAnswer {
    entry_id: Uuid,
    campaign_id: u64,
}

/// Enters a campaign: 201 won, 409 SOLD_OUT / ALREADY_ISSUED, 404, 422 NOT_OPEN / CLOSED, 429, 503.
#[utoipa::path(post, path = "/campaigns/{id}/entries", tag = "campaigns", security(("bearer" = [])),
    params(("id" = u64, Path)),
    responses((status = 201, body = EntryAnswer), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 429, body = ErrorBody), PathIds, Authed, Unavailable))]
pub async fn enter(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<u64>,
) -> Result<(StatusCode, Json<EntryAnswer>), ApiError> {
    state.limits.check(user.user_id).await?;
    let pool = campaign(id);
    let now = Utc::now();
    // The entry's id is the claim on its slot.
    let entry_id = Uuid::now_v7();
    let user_id = user.user_id;
    let take = Take {
        pool,
        claim: entry_id,
        user_id,
        now_ms: now.timestamp_millis(),
        per_user_limit: ENTRIES_PER_USER,
    };
    let result = take_then_publish_detached(&state, take, move |_| CampaignEntrySucceeded {
        entry_id,
        campaign_id: id,
        user_id,
        created_at: now,
    })
    .await;
    // A campaign the gate does not know is unknown, not opened yet, or lost
    // with Redis: only then is the database asked which (any other answer
    // comes from a gate that knows it, so the pool is open).
    let status = if matches!(result, Ok(Taken::Refused(GateOutcome::Uninitialised))) {
        state.existing_campaign(id).await?.pool.status
    } else {
        PoolStatus::Open
    };
    let won = answer(result, PoolKind::Campaign, status, &state.gate_outcomes)?;
    Ok(created(EntryAnswer {
        entry_id: won.entry_id,
        campaign_id: id,
    }))
}
