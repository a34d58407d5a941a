//! Coupons: the admin lifecycle of policies, issuing (gate, queue or the
//! naive DB-lock baseline), and what a user holds.

use super::fcfs::{answer, created, take_then_publish_detached, PoolCounters, WindowBody};
use crate::auth::{AdminUser, AuthUser};
use crate::error::{ApiError, ApiJson, ApiPath, ErrorBody, ErrorCode};
use crate::responses::{Admin, Authed, JsonBody, PathIds, Unavailable};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use stampede_core::coupon::{
    CouponIssueRequested, CouponIssued, CouponPolicy, Discount, IssueMode, NewCouponPolicy,
    RequestStatus, UserCouponStatus,
};
use stampede_core::fcfs::{PoolKind, PoolRef, PoolStatus, Take};
use stampede_infra::fcfs_pools::{FcfsPools, PoolChangeError};
use stampede_infra::mysql::coupons::{self, DbIssue};
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreatePolicy {
    #[schema(min_length = 1, max_length = 200)]
    name: String,
    /// `{"kind":"FIXED","amount":1000}` or `{"kind":"PERCENT","percent":10,"cap":5000}`.
    discount: Discount,
    #[schema(minimum = 1, maximum = 100_000_000)]
    total_stock: u64,
    #[serde(default = "one")]
    #[schema(minimum = 1, maximum = 100)]
    per_user_limit: u32,
    issue_window: WindowBody,
    #[schema(minimum = 1, maximum = 3650)]
    valid_days: u32,
    /// `GATE` (default), `QUEUE` or `DB_LOCK`.
    #[serde(default = "gate")]
    issue_mode: IssueMode,
}

fn one() -> u32 {
    1
}

fn gate() -> IssueMode {
    IssueMode::Gate
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PolicyView {
    id: u64,
    name: String,
    discount: Discount,
    per_user_limit: u32,
    issue_opens_at: DateTime<Utc>,
    issue_closes_at: DateTime<Utc>,
    valid_days: u32,
    issue_mode: IssueMode,
    status: PoolStatus,
    #[serde(flatten)]
    counters: PoolCounters,
}

impl AppState {
    async fn policy_view(&self, policy: &CouponPolicy) -> Result<PolicyView, ApiError> {
        let gate_stock = self.infra.gate.snapshot_stock(coupon(policy.id)).await?;
        Ok(PolicyView {
            id: policy.id,
            name: policy.name.clone(),
            discount: policy.discount,
            per_user_limit: policy.per_user_limit,
            issue_opens_at: policy.pool.window.opens_at(),
            issue_closes_at: policy.pool.window.closes_at(),
            valid_days: policy.valid_days,
            issue_mode: policy.mode,
            status: policy.pool.status,
            counters: PoolCounters::new(
                policy.total_stock,
                policy.pool.remaining,
                gate_stock,
                policy.pool.status,
            ),
        })
    }

    async fn existing_policy(&self, id: u64) -> Result<CouponPolicy, ApiError> {
        coupons::find_policy(&self.infra.pool, id)
            .await?
            .ok_or_else(|| ApiError::pool_not_found(coupon(id)))
    }

    /// Opens or closes policy `id` (`change`), then answers its view: the
    /// policy cache forgets it, so issuing sees the change at once.
    async fn change_policy(
        &self,
        id: u64,
        change: impl std::future::Future<Output = Result<(), PoolChangeError>>,
    ) -> Result<Json<PolicyView>, ApiError> {
        change.await?;
        self.policies.invalidate(&id).await;
        Ok(Json(
            self.policy_view(&self.existing_policy(id).await?).await?,
        ))
    }
}

fn coupon(id: u64) -> PoolRef {
    PoolRef {
        kind: PoolKind::Coupon,
        id,
    }
}

/// Creates a coupon policy (DRAFT).
#[utoipa::path(post, path = "/admin/coupon-policies", tag = "coupons", security(("bearer" = [])),
    request_body = CreatePolicy,
    responses((status = 201, body = PolicyView), (status = 422, body = ErrorBody), JsonBody, Admin, Unavailable))]
pub async fn create_policy(
    _admin: AdminUser,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CreatePolicy>,
) -> Result<(StatusCode, Json<PolicyView>), ApiError> {
    let window = body.issue_window.parse()?;
    let policy = NewCouponPolicy::parse(
        &body.name,
        body.discount,
        body.total_stock,
        body.per_user_limit,
        window,
        body.valid_days,
        body.issue_mode,
    )?;
    let id = coupons::insert_policy(&state.infra.pool, &policy).await?;
    let stored = state.existing_policy(id).await?;
    Ok(created(state.policy_view(&stored).await?))
}

/// Opens a DRAFT policy: the gate's counter is set to its stock.
#[utoipa::path(post, path = "/admin/coupon-policies/{id}/open", tag = "coupons", security(("bearer" = [])),
    params(("id" = u64, Path)),
    responses((status = 200, body = PolicyView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        PathIds, Admin, Unavailable))]
pub async fn open_policy(
    _admin: AdminUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<u64>,
) -> Result<Json<PolicyView>, ApiError> {
    let pools = FcfsPools::new(&state.infra);
    state.change_policy(id, pools.open(coupon(id))).await
}

/// Closes a policy for good; later requests are refused with CLOSED.
#[utoipa::path(post, path = "/admin/coupon-policies/{id}/close", tag = "coupons", security(("bearer" = [])),
    params(("id" = u64, Path)),
    responses((status = 200, body = PolicyView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        PathIds, Admin, Unavailable))]
pub async fn close_policy(
    _admin: AdminUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<u64>,
) -> Result<Json<PolicyView>, ApiError> {
    let pools = FcfsPools::new(&state.infra);
    state.change_policy(id, pools.close(coupon(id))).await
}

/// A policy with its live counters.
#[utoipa::path(get, path = "/coupons/{id}", tag = "coupons",
    params(("id" = u64, Path)),
    responses((status = 200, body = PolicyView), (status = 404, body = ErrorBody), PathIds, Unavailable))]
pub async fn get_policy(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<u64>,
) -> Result<Json<PolicyView>, ApiError> {
    Ok(Json(
        state.policy_view(&state.existing_policy(id).await?).await?,
    ))
}

/// The answer to an issue request.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum IssueAnswer {
    /// 201: won (gate and DB-lock modes).
    Issued {
        issue_id: Uuid,
        policy_id: u64,
        ordinal: u32,
    },
    /// 202: queued (queue mode); poll `GET /coupon-requests/{request_id}`.
    Queued {
        request_id: Uuid,
        status: &'static str,
    },
}

/// Requests a coupon: 201 won, 202 queued, 409 SOLD_OUT / ALREADY_ISSUED,
/// 404 unknown policy, 422 NOT_OPEN / CLOSED, 429 RATE_LIMITED, 503 nothing issued (retry).
#[utoipa::path(post, path = "/coupons/{id}/issue", tag = "coupons", security(("bearer" = [])),
    params(("id" = u64, Path)),
    responses((status = 201, body = IssueAnswer), (status = 202, body = IssueAnswer),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 429, body = ErrorBody), PathIds, Authed, Unavailable))]
pub async fn issue(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<u64>,
) -> Result<(StatusCode, Json<IssueAnswer>), ApiError> {
    state.limits.check(user.user_id).await?;
    let policy = state
        .policy(id)
        .await?
        .ok_or_else(|| ApiError::pool_not_found(coupon(id)))?;
    let now = Utc::now();
    match policy.mode {
        IssueMode::Gate => {
            // The coupon's id is the claim on its unit.
            let issue_id = Uuid::now_v7();
            let (user_id, expires_at) = (user.user_id, policy.expiry_for(now));
            let take = Take {
                pool: coupon(id),
                claim: issue_id,
                user_id,
                now_ms: now.timestamp_millis(),
                per_user_limit: policy.per_user_limit,
            };
            let result = take_then_publish_detached(&state, take, move |ordinal| CouponIssued {
                issue_id,
                policy_id: id,
                user_id,
                ordinal,
                issued_at: now,
                expires_at,
            })
            .await;
            let won = answer(
                result,
                PoolKind::Coupon,
                policy.pool.status,
                &state.gate_outcomes,
            )?;
            let body = IssueAnswer::Issued {
                issue_id: won.issue_id,
                policy_id: id,
                ordinal: won.ordinal,
            };
            Ok((StatusCode::CREATED, Json(body)))
        }
        IssueMode::Queue => queue(&state, &policy, user.user_id, now).await,
        IssueMode::DbLock => {
            policy.pool.admits(now)?;
            let (outcome, issue_id) =
                coupons::issue_with_row_lock(&state.infra.pool, &policy, user.user_id, now).await?;
            let label = match outcome {
                DbIssue::Issued => "won",
                DbIssue::SoldOut => "sold_out",
                DbIssue::AlreadyIssued => "already_issued",
            };
            metrics::counter!("stampede_fcfs_outcomes_total", "pool" => "coupon", "mode" => "db_lock", "outcome" => label)
                .increment(1);
            match outcome {
                DbIssue::Issued => {
                    let body = IssueAnswer::Issued {
                        issue_id,
                        policy_id: id,
                        ordinal: 1,
                    };
                    Ok((StatusCode::CREATED, Json(body)))
                }
                DbIssue::SoldOut => Err(ApiError::conflict(
                    ErrorCode::SoldOut,
                    "this coupon is sold out",
                )),
                DbIssue::AlreadyIssued => Err(ApiError::conflict(
                    ErrorCode::AlreadyIssued,
                    "you already hold this coupon",
                )),
            }
        }
    }
}

/// Queue mode: record PENDING, publish the request (awaiting the ack), answer 202.
async fn queue(
    state: &AppState,
    policy: &CouponPolicy,
    user_id: u64,
    now: DateTime<Utc>,
) -> Result<(StatusCode, Json<IssueAnswer>), ApiError> {
    policy.queues(now)?;
    let request = CouponIssueRequested {
        request_id: Uuid::now_v7(),
        policy_id: policy.id,
        user_id,
        requested_at: now,
    };
    // Published first, then marked PENDING unless decided meanwhile: a
    // process dying in between leaves no PENDING status without a request.
    if let Err(error) = state.infra.events.publish(&request).await {
        tracing::error!(%error, "queueing a coupon request failed");
        return Err(ApiError::unavailable(
            ErrorCode::IssueUnavailable,
            "the request was not queued; please retry",
        ));
    }
    state
        .infra
        .coupon_requests
        .set_if_absent(user_id, request.request_id, &RequestStatus::Pending)
        .await?;
    metrics::counter!("stampede_fcfs_outcomes_total", "pool" => "coupon", "mode" => "queue", "outcome" => "queued")
        .increment(1);
    let body = IssueAnswer::Queued {
        request_id: request.request_id,
        status: "PENDING",
    };
    Ok((StatusCode::ACCEPTED, Json(body)))
}

/// The status of one of the caller's queue-mode requests.
#[utoipa::path(get, path = "/coupon-requests/{id}", tag = "coupons", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = RequestStatusView), (status = 404, body = ErrorBody), PathIds, Authed, Unavailable))]
pub async fn request_status(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<RequestStatusView>, ApiError> {
    let status = match state.infra.coupon_requests.get(user.user_id, id).await? {
        Some(status) => status,
        // Statuses live in Redis; one lost with it (or expired) is still
        // ISSUED when the request's coupon (it carries the request's id) is a row.
        None => match coupons::find_user_coupon(&state.infra.pool, id).await? {
            Some(coupon) if coupon.user_id == user.user_id => {
                RequestStatus::Issued { coupon_id: id }
            }
            _ => {
                return Err(ApiError::not_found(
                    ErrorCode::RequestNotFound,
                    format!("no coupon request {id}"),
                ))
            }
        },
    };
    let coupon = match status {
        RequestStatus::Issued { coupon_id } => {
            coupons::find_user_coupon(&state.infra.pool, coupon_id)
                .await?
                .map(UserCouponView::from)
        }
        RequestStatus::Pending | RequestStatus::Rejected { .. } => None,
    };
    Ok(Json(RequestStatusView {
        request_id: id,
        status,
        coupon,
    }))
}

/// A queue-mode request: PENDING, ISSUED (with the coupon once it is a
/// row) or REJECTED with its reason.
#[derive(Debug, Serialize, ToSchema)]
pub struct RequestStatusView {
    request_id: Uuid,
    #[serde(flatten)]
    status: RequestStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    coupon: Option<UserCouponView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserCouponView {
    id: String,
    policy_id: u64,
    policy_name: String,
    ordinal: u32,
    status: UserCouponStatus,
    issued_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

impl From<coupons::UserCouponRecord> for UserCouponView {
    fn from(r: coupons::UserCouponRecord) -> Self {
        Self {
            id: r.id,
            policy_id: r.policy_id,
            policy_name: r.policy_name,
            ordinal: r.ordinal,
            status: r.status,
            issued_at: r.issued_at.and_utc(),
            expires_at: r.expires_at.and_utc(),
        }
    }
}

/// The caller's coupons (persisted ones; a gate win appears within moments).
#[utoipa::path(get, path = "/users/me/coupons", tag = "coupons", security(("bearer" = [])),
    responses((status = 200, body = [UserCouponView]), Authed, Unavailable))]
pub async fn my_coupons(
    user: AuthUser,
    State(state): State<AppState>,
) -> Result<Json<Vec<UserCouponView>>, ApiError> {
    let coupons = coupons::coupons_of_user(&state.infra.pool, user.user_id).await?;
    Ok(Json(
        coupons.into_iter().map(UserCouponView::from).collect(),
    ))
}
