//! Reservations: hold a seat (Redis `SET NX`, then a PENDING reservation in
//! MariaDB with `reservation.created`), read it, and pay for it with points.

use crate::auth::AuthUser;
use crate::error::{ApiError, ApiJson, ApiPath, ErrorBody, ErrorCode, JsonBody};
use crate::idempotency::{once, parse_json, IdempotencyKeyHeader};
use crate::queue_token::{require_active, PresentedToken};
use crate::responses::{self, Authed, Idempotent, PathIds, Unavailable};
use crate::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use stampede_core::concert::ReservationStatus;
use stampede_infra::mysql::concerts;
use stampede_infra::mysql::reservations::{self, HoldRequest, Reservation};
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Deserialize, ToSchema)]
pub struct HoldBody {
    schedule_id: u64,
    seat_id: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReservationView {
    id: u64,
    concert_id: u64,
    schedule_id: u64,
    seat_id: u64,
    price: u64,
    /// PENDING (held), CONFIRMED (paid), CANCELLED or EXPIRED.
    status: ReservationStatus,
    hold_expires_at: DateTime<Utc>,
    created_at: DateTime<Utc>,
    confirmed_at: Option<DateTime<Utc>>,
}

impl From<Reservation> for ReservationView {
    fn from(r: Reservation) -> Self {
        Self {
            status: r.status_now(),
            id: r.id,
            concert_id: r.concert_id,
            schedule_id: r.schedule_id,
            seat_id: r.seat_id,
            price: r.price,
            hold_expires_at: r.hold_expires_at,
            created_at: r.created_at,
            confirmed_at: r.confirmed_at,
        }
    }
}

/// Holds a seat for the caller for `concert.hold_ttl_secs` (needs an ACTIVE
/// `X-Queue-Token`). A seat already held or sold answers 409 `SEAT_TAKEN`.
#[utoipa::path(post, path = "/reservations", tag = "concerts", security(("bearer" = [])),
    params(("X-Queue-Token" = Uuid, Header)),
    request_body = HoldBody,
    responses((status = 201, body = ReservationView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), responses::JsonBody, Authed, Unavailable))]
pub async fn hold(
    user: AuthUser,
    State(state): State<AppState>,
    queue_token: PresentedToken,
    ApiJson(body): ApiJson<HoldBody>,
) -> Result<(StatusCode, Json<ReservationView>), ApiError> {
    let schedule = concerts::find_schedule(&state.infra.pool, body.schedule_id)
        .await?
        .ok_or_else(|| super::concerts::schedule_not_found(body.schedule_id))?;
    let ticket = require_active(&state, user.user_id, queue_token, schedule.concert_id).await?;
    let ttl = state.infra.settings.concert.hold_ttl();
    let request = HoldRequest {
        user_id: user.user_id,
        schedule_id: body.schedule_id,
        seat_id: body.seat_id,
        hold_id: Uuid::new_v4(),
        hold_expires_at: Utc::now() + ttl,
    };
    let holds = &state.infra.seat_holds;
    // Redis first: the second buyer of a seat loses here, without MariaDB.
    if !holds
        .hold(body.schedule_id, body.seat_id, request.hold_id, ttl)
        .await?
    {
        metrics::counter!("stampede_seat_holds_total", "outcome" => "taken_in_redis").increment(1);
        return Err(ApiError::seat_taken(body.seat_id));
    }
    match reservations::hold_seat(&state.infra.pool, &state.infra.outbox, &request).await {
        Ok(reservation) => {
            // No longer pending: the healer would otherwise look it up in a few seconds.
            if let Err(error) = holds
                .written(body.schedule_id, body.seat_id, request.hold_id)
                .await
            {
                tracing::warn!(%error, "a written hold stays listed as pending; the healer clears it");
            }
            metrics::counter!("stampede_seat_holds_total", "outcome" => "held").increment(1);
            // A fan holding a seat is no no-show: their active slot stays theirs.
            if let Err(error) = state
                .infra
                .queue
                .took_seat(schedule.concert_id, ticket.token)
                .await
            {
                tracing::warn!(%error, "a seated fan stays listed as a possible no-show");
            }
            Ok((StatusCode::CREATED, Json(reservation.into())))
        }
        Err(error) => {
            // The database said no: give the Redis hold back.
            if let Err(release) = holds
                .release(body.schedule_id, body.seat_id, request.hold_id)
                .await
            {
                tracing::warn!(%release, "releasing a refused hold failed; it expires by itself");
            }
            metrics::counter!("stampede_seat_holds_total", "outcome" => "refused_by_db")
                .increment(1);
            Err(error.into())
        }
    }
}

async fn own_reservation(state: &AppState, user_id: u64, id: u64) -> Result<Reservation, ApiError> {
    reservations::find_reservation(&state.infra.pool, id)
        .await?
        .filter(|r| r.user_id == user_id)
        .ok_or_else(|| {
            ApiError::not_found(
                ErrorCode::ReservationNotFound,
                format!("no reservation {id}"),
            )
        })
}

/// The caller's reservation.
#[utoipa::path(get, path = "/reservations/{id}", tag = "concerts", security(("bearer" = [])),
    params(("id" = u64, Path)),
    responses((status = 200, body = ReservationView), (status = 404, body = ErrorBody), PathIds, Authed, Unavailable))]
pub async fn get_reservation(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<u64>,
) -> Result<Json<ReservationView>, ApiError> {
    Ok(Json(
        own_reservation(&state, user.user_id, id).await?.into(),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(tag = "method", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReservationPayBody {
    Points,
}

/// Pays a held seat with points, in one transaction (seat SOLD, reservation
/// CONFIRMED, payment row, `payment.success`); a refusal answers 409 with
/// `HOLD_EXPIRED`, `INSUFFICIENT_POINTS` or `SEAT_TAKEN` and emits
/// `payment.failed`. Needs an ACTIVE `X-Queue-Token`; honours `Idempotency-Key`.
#[utoipa::path(post, path = "/reservations/{id}/payments", tag = "concerts", security(("bearer" = [])),
    params(("id" = u64, Path), ("X-Queue-Token" = Uuid, Header), IdempotencyKeyHeader),
    request_body = ReservationPayBody,
    responses((status = 201, body = SeatPaid), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), responses::JsonBody, Idempotent, PathIds,
        Authed, Unavailable))]
pub async fn pay(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<u64>,
    queue_token: PresentedToken,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Response {
    let path = format!("POST /reservations/{id}/payments");
    once(&state, user.user_id, &headers, &[path.as_bytes(), &body], || async {
        let ReservationPayBody::Points = parse_json(&body)?;
        let reservation = own_reservation(&state, user.user_id, id).await?;
        require_active(&state, user.user_id, queue_token, reservation.concert_id).await?;
        let paid = reservations::pay_reservation(&state.infra.pool, &state.infra.outbox, &reservation).await;
        let outcome = match &paid {
            Ok(_) => "success".to_owned(),
            Err(error) => error.code().to_ascii_lowercase(),
        };
        metrics::counter!("stampede_payments_total", "method" => "points", "outcome" => outcome).increment(1);
        let paid = paid?;
        let body = SeatPaid { payment_id: paid.payment_id, reservation_id: paid.reservation_id, amount: paid.amount, status: "SUCCESS" };
        Ok((StatusCode::CREATED, serde_json::json!(body)))
    })
    .await
}

/// A seat paid with points.
#[derive(Debug, Serialize, ToSchema)]
pub struct SeatPaid {
    payment_id: u64,
    reservation_id: u64,
    amount: u64,
    /// Always `SUCCESS`: a refusal is an error answer.
    status: &'static str,
}
