//! Concerts: what an admin puts on sale, the seat map (behind the queue),
//! and the sold-out ranking.

use crate::auth::{AdminUser, AuthUser};
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ErrorBody, ErrorCode};
use crate::queue_token::{require_active, PresentedToken};
use crate::responses::{Admin, Authed, JsonBody, PathIds, Query, Unavailable};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use stampede_core::concert::NewConcert;
use stampede_infra::mysql::concerts::{self, RankedSchedule, Schedule, Seat};
use utoipa::{IntoParams, ToSchema};

pub(crate) fn concert_not_found(id: u64) -> ApiError {
    ApiError::not_found(ErrorCode::ConcertNotFound, format!("no concert {id}"))
}

pub(crate) fn schedule_not_found(id: u64) -> ApiError {
    ApiError::not_found(ErrorCode::ScheduleNotFound, format!("no schedule {id}"))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConcertView {
    id: u64,
    title: String,
    schedules: Vec<Schedule>,
}

async fn concert_view(state: &AppState, id: u64) -> Result<ConcertView, ApiError> {
    let schedules = concerts::schedules_of(&state.infra.pool, id).await?;
    let title = schedules
        .first()
        .map(|s| s.title.clone())
        .ok_or_else(|| concert_not_found(id))?;
    Ok(ConcertView {
        id,
        title,
        schedules,
    })
}

/// Creates a concert with its schedules and seats (admin). Body:
/// `{"title", "schedules": [{"starts_at", "venue", "booking_opens_at"?,
/// "seats": [{"grade": "VIP", "price": 150000, "count": 50}, …]}]}`.
#[utoipa::path(post, path = "/admin/concerts", tag = "concerts", security(("bearer" = [])),
    request_body = NewConcert,
    responses((status = 201, body = ConcertView), (status = 422, body = ErrorBody), JsonBody, Admin, Unavailable))]
pub async fn create_concert(
    _admin: AdminUser,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<NewConcert>,
) -> Result<(StatusCode, Json<ConcertView>), ApiError> {
    body.validate()
        .map_err(|message| ApiError::unprocessable(ErrorCode::InvalidBody, message))?;
    let created = concerts::create_concert(&state.infra.pool, &body).await?;
    Ok((
        StatusCode::CREATED,
        Json(concert_view(&state, created.id).await?),
    ))
}

/// A concert and its schedules.
#[utoipa::path(get, path = "/concerts/{id}", tag = "concerts",
    params(("id" = u64, Path)),
    responses((status = 200, body = ConcertView), (status = 404, body = ErrorBody), PathIds, Unavailable))]
pub async fn get_concert(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<u64>,
) -> Result<Json<ConcertView>, ApiError> {
    Ok(Json(concert_view(&state, id).await?))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SeatMap {
    schedule_id: u64,
    available: usize,
    seats: Vec<Seat>,
}

/// The seats of a schedule with their status now (needs an ACTIVE
/// `X-Queue-Token` for the concert).
#[utoipa::path(get, path = "/concerts/{id}/schedules/{schedule_id}/seats", tag = "concerts", security(("bearer" = [])),
    params(("id" = u64, Path), ("schedule_id" = u64, Path), ("X-Queue-Token" = Uuid, Header)),
    responses((status = 200, body = SeatMap), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), PathIds, Authed, Unavailable))]
pub async fn seats(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath((concert_id, schedule_id)): ApiPath<(u64, u64)>,
    queue_token: PresentedToken,
) -> Result<Json<SeatMap>, ApiError> {
    let schedule = concerts::find_schedule(&state.infra.pool, schedule_id)
        .await?
        .filter(|s| s.concert_id == concert_id)
        .ok_or_else(|| schedule_not_found(schedule_id))?;
    require_active(&state, user.user_id, queue_token, schedule.concert_id).await?;
    let seats = concerts::seats_of(&state.infra.pool, schedule_id).await?;
    let available = seats
        .iter()
        .filter(|s| s.status == stampede_core::concert::SeatStatus::Available)
        .count();
    Ok(Json(SeatMap {
        schedule_id,
        available,
        seats,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RankingQuery {
    /// 1–100, default 10.
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
}

/// Schedules ranked by how fast they sold out, fastest first.
#[utoipa::path(get, path = "/concerts/rankings/sold-out", tag = "concerts",
    params(RankingQuery),
    responses((status = 200, body = Vec<RankedSchedule>), (status = 422, body = ErrorBody), Query, Unavailable))]
pub async fn sold_out_ranking(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<RankingQuery>,
) -> Result<Json<Vec<RankedSchedule>>, ApiError> {
    let limit = query.limit.unwrap_or(10);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::unprocessable(
            ErrorCode::InvalidQuery,
            "limit must be between 1 and 100",
        ));
    }
    Ok(Json(ranking(&state, limit).await?))
}

/// Served from Redis; from MariaDB (the truth) when Redis is down or has
/// lost part of the ranking, which is then written back.
async fn ranking(state: &AppState, limit: u32) -> Result<Vec<RankedSchedule>, ApiError> {
    let pool = &state.infra.pool;
    let served = match state.infra.ranking.top(limit as usize).await {
        Ok(top) => top,
        Err(error) => {
            tracing::warn!(%error, "Redis unavailable; serving the sold-out ranking from MariaDB");
            return Ok(concerts::fastest_sell_outs(pool, limit).await?);
        }
    };
    if served.len() < limit as usize && concerts::sell_out_count(pool).await? > served.len() as u64
    {
        let truth = concerts::fastest_sell_outs(pool, limit).await?;
        for line in &truth {
            state
                .infra
                .ranking
                .record(line.schedule_id, line.sell_out_ms)
                .await?;
        }
        return Ok(truth);
    }
    let ids: Vec<u64> = served.iter().map(|(id, _)| *id).collect();
    let mut lines = concerts::ranked_schedules(pool, &ids).await?;
    lines.sort_by_key(|line| ids.iter().position(|id| *id == line.schedule_id));
    Ok(lines)
}
