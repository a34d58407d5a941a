//! Queue mode: decides `coupon.issue.requested` in arrival order.
//!
//! Per request: Redis reservation (idempotent per request id; −1 sold out,
//! −2 never opened) → MariaDB `remaining − 1 WHERE remaining > 0` and the
//! user coupon, in one transaction → status ISSUED. Any failure after the
//! reservation gives the unit back (+1). Every outcome is counted by reason
//! and readable at `GET /coupon-requests/{id}`.

use async_trait::async_trait;
use stampede_core::coupon::{CouponIssueRequested, RequestStatus};
use stampede_core::events::topics;
use stampede_core::fcfs::{PoolKind, PoolRef, RejectReason};
use stampede_infra::kafka::consumer::{ConsumedEvent, ConsumerSpec, EventHandler, HandlerError};
use stampede_infra::mysql::coupons::{self, DbIssue};
use stampede_infra::redis::{CouponRequests, FcfsGate, Reservation};
use stampede_infra::Infra;

pub const NAME: &str = "coupon-issue-queue";

pub fn spec(infra: &Infra) -> ConsumerSpec {
    let handler = CouponIssueQueue {
        pool: infra.pool.clone(),
        gate: infra.gate.clone(),
        requests: infra.coupon_requests.clone(),
    };
    ConsumerSpec::per_record(
        NAME,
        "coupon-issue-queue-group",
        &[topics::COUPON_ISSUE_REQUESTED],
        handler,
    )
}

struct CouponIssueQueue {
    pool: sqlx::MySqlPool,
    gate: FcfsGate,
    requests: CouponRequests,
}

impl CouponIssueQueue {
    async fn decide(&self, request: &CouponIssueRequested) -> Result<RequestStatus, HandlerError> {
        let reject = |reason| Ok(RequestStatus::Rejected { reason });
        let Some(policy) = coupons::find_policy(&self.pool, request.policy_id).await? else {
            return reject(RejectReason::NotOpen);
        };
        if policy.pool.admits(request.requested_at).is_err() {
            return reject(RejectReason::NotOpen);
        }
        // A redelivery of a request whose coupon was written before a crash:
        // the coupon carries the request's id.
        if coupons::find_user_coupon(&self.pool, request.request_id)
            .await?
            .is_some()
        {
            return Ok(RequestStatus::Issued {
                coupon_id: request.request_id,
            });
        }
        let mut conn = self.pool.acquire().await?;
        if coupons::held_by(&mut conn, policy.id, request.user_id).await? >= policy.per_user_limit {
            return reject(RejectReason::AlreadyIssued);
        }
        drop(conn);
        let pool_ref = PoolRef {
            kind: PoolKind::Coupon,
            id: policy.id,
        };
        let request_key = request.request_id.to_string();
        match self.gate.reserve(pool_ref, &request_key).await? {
            Reservation::SoldOut => return reject(RejectReason::SoldOut),
            // The policy is OPEN (checked above): its counter was lost with
            // Redis and is being rebuilt; wait for it rather than refuse.
            Reservation::Uninitialised => {
                return Err(HandlerError::unavailable(anyhow::anyhow!(
                    "the gate of open policy {} is being rebuilt",
                    policy.id
                )))
            }
            Reservation::Reserved | Reservation::AlreadyReserved => {}
        }
        let issued = coupons::issue_in_db(
            &self.pool,
            &policy,
            request.request_id,
            request.user_id,
            request.requested_at,
        )
        .await;
        let status = match issued {
            Ok(DbIssue::Issued) => {
                return Ok(RequestStatus::Issued {
                    coupon_id: request.request_id,
                })
            }
            Ok(DbIssue::SoldOut) => RequestStatus::Rejected {
                reason: RejectReason::SoldOut,
            },
            Ok(DbIssue::AlreadyIssued) => RequestStatus::Rejected {
                reason: RejectReason::AlreadyIssued,
            },
            Err(error) => {
                // Give the unit back so the retry (or another request) can take it.
                if let Err(release) = self.gate.release(pool_ref, &request_key).await {
                    tracing::error!(%release, request = %request.request_id, "compensation failed; audit will repair");
                }
                return Err(error.into());
            }
        };
        self.gate.release(pool_ref, &request_key).await?;
        Ok(status)
    }
}

#[async_trait]
impl EventHandler for CouponIssueQueue {
    async fn handle(&self, event: &ConsumedEvent) -> Result<(), HandlerError> {
        let request: CouponIssueRequested = event.payload()?;
        if self
            .requests
            .get(request.user_id, request.request_id)
            .await?
            .is_some_and(|s| s.is_final())
        {
            return Ok(()); // a redelivery of a decided request
        }
        let status = self.decide(&request).await?;
        let outcome = match &status {
            RequestStatus::Issued { .. } => "issued",
            RequestStatus::Rejected {
                reason: RejectReason::SoldOut,
            } => "sold_out",
            RequestStatus::Rejected {
                reason: RejectReason::AlreadyIssued,
            } => "already_issued",
            RequestStatus::Rejected {
                reason: RejectReason::NotOpen,
            }
            | RequestStatus::Pending => "not_open",
        };
        self.requests
            .set(request.user_id, request.request_id, &status)
            .await?;
        metrics::counter!("stampede_coupon_queue_outcomes_total", "outcome" => outcome)
            .increment(1);
        tracing::debug!(request = %request.request_id, user = request.user_id, outcome, "coupon request decided");
        Ok(())
    }
}
