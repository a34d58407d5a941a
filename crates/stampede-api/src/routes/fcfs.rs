//! What coupon and campaign endpoints share: the request types of the
//! admin lifecycle, the gate flow's answers, and the pool status view.

use crate::error::ApiError;
use crate::AppState;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use stampede_core::events::DomainEvent;
use stampede_core::fcfs::{
    record_or_revoke, Gate, GateOutcome, IssueWindow, PoolError, PoolRef, PoolStatus, TakeError,
    Taken,
};
use stampede_infra::kafka::PublishError;
use stampede_infra::mysql::pools::{self, PoolTable};
use utoipa::ToSchema;

/// A window as clients send it.
#[derive(Debug, Deserialize, ToSchema)]
pub struct WindowBody {
    pub opens_at: DateTime<Utc>,
    pub closes_at: DateTime<Utc>,
}

impl WindowBody {
    pub fn parse(&self) -> Result<IssueWindow, ApiError> {
        IssueWindow::new(self.opens_at, self.closes_at).map_err(invalid)
    }
}

pub fn invalid(error: PoolError) -> ApiError {
    match error {
        PoolError::Invalid(message) => ApiError::unprocessable("INVALID_BODY", message),
        transition @ PoolError::Transition { .. } => {
            ApiError::conflict("INVALID_TRANSITION", transition.to_string())
        }
    }
}

/// The error for a refusal of the gate.
pub fn refusal(outcome: GateOutcome, what: &str) -> ApiError {
    match outcome {
        GateOutcome::SoldOut => ApiError::conflict("SOLD_OUT", format!("this {what} is sold out")),
        GateOutcome::AlreadyIssued => {
            ApiError::conflict("ALREADY_ISSUED", format!("you already hold this {what}"))
        }
        GateOutcome::NotOpen => {
            ApiError::unprocessable("NOT_OPEN", format!("this {what} is outside its window"))
        }
        GateOutcome::Closed => ApiError::unprocessable("CLOSED", format!("this {what} is closed")),
        GateOutcome::Uninitialised | GateOutcome::Won { .. } => {
            ApiError::unprocessable("NOT_OPEN", format!("this {what} has not been opened"))
        }
        GateOutcome::Rebuilding => ApiError::unavailable(
            "GATE_REBUILDING",
            format!("this {what}'s gate is being rebuilt from the database; nothing was taken, retry in a few seconds"),
        ),
    }
}

/// The gate flow (take, then publish or revoke): the take inline, and a
/// win's publish and its revocation on a task of their own, so a client
/// that hangs up (which cancels its handler) cannot cut the flow between the
/// take and the publish's outcome. Only a hang-up during the take's own
/// Redis round trip can leave a claim open; the healer gives that back.
/// (Spawning only the 1,000 wins, not the 100,000 refusals, keeps the
/// refusal path as cheap as the bare script.)
#[allow(clippy::too_many_arguments)]
pub async fn take_then_publish_detached<W>(
    state: &AppState,
    pool: PoolRef,
    claim: uuid::Uuid,
    user_id: u64,
    now_ms: i64,
    per_user_limit: u32,
    make_win: impl FnOnce(u32) -> W,
) -> Result<Taken<W>, TakeError<redis::RedisError, PublishError>>
where
    W: DomainEvent + Send + Sync + 'static,
{
    let gate = &state.infra.gate;
    let outcome = gate
        .try_take(pool, claim, user_id, now_ms, per_user_limit)
        .await
        .map_err(TakeError::Gate)?;
    let GateOutcome::Won { ordinal, .. } = outcome else {
        return Ok(Taken::Refused(outcome));
    };
    let win = make_win(ordinal);
    let (gate, events) = (gate.clone(), state.infra.events.clone());
    tokio::spawn(async move { record_or_revoke(&gate, &events, pool, claim, user_id, win).await })
        .await
        .expect("the gate flow does not panic")
}

/// Maps the gate flow's result to the winner or the error, counting
/// outcomes; `status` is the pool's status in the database.
pub fn answer<W, G: std::error::Error, S: std::error::Error>(
    result: Result<Taken<W>, TakeError<G, S>>,
    what: &'static str,
    status: PoolStatus,
) -> Result<W, ApiError> {
    let (outcome, answer) = match result {
        Ok(Taken::Won(win)) => ("won", Ok(win)),
        Ok(Taken::Refused(refused)) => {
            let refused = refused.given(status);
            (refusal_label(refused), Err(refusal(refused, what)))
        }
        Err(TakeError::Gate(error)) => (
            "gate_unavailable",
            Err(unavailable("REDIS_UNAVAILABLE", &error)),
        ),
        Err(error) => (
            "not_recorded",
            Err(unavailable("ISSUE_UNAVAILABLE", &error)),
        ),
    };
    metrics::counter!("stampede_fcfs_outcomes_total", "pool" => what, "mode" => "gate", "outcome" => outcome)
        .increment(1);
    answer
}

fn unavailable(code: &'static str, error: &dyn std::error::Error) -> ApiError {
    tracing::error!(%error, "an FCFS request could not be decided; nothing was issued");
    ApiError::unavailable(code, "nothing was issued; please retry")
}

fn refusal_label(outcome: GateOutcome) -> &'static str {
    match outcome {
        GateOutcome::Won { .. } => "won",
        GateOutcome::SoldOut => "sold_out",
        GateOutcome::AlreadyIssued => "already_issued",
        GateOutcome::NotOpen => "not_open",
        GateOutcome::Closed => "closed",
        GateOutcome::Uninitialised => "uninitialised",
        GateOutcome::Rebuilding => "rebuilding",
    }
}

/// A pool's counters as clients see them.
#[derive(Debug, Serialize, ToSchema)]
pub struct PoolCounters {
    pub total: u64,
    /// Units left right now (the gate's counter once open, else the database's).
    pub stock_left: u64,
    /// Units handed out so far (`total − stock_left`).
    pub issued: u64,
    /// Units whose winners are already rows in the database.
    pub persisted: u64,
}

impl PoolCounters {
    pub fn new(total: u64, db_remaining: u64, gate_stock: Option<i64>, status: PoolStatus) -> Self {
        let stock_left = match (status, gate_stock) {
            (PoolStatus::Draft, _) | (_, None) => db_remaining,
            (_, Some(stock)) => stock.max(0) as u64,
        };
        Self {
            total,
            stock_left,
            issued: total - stock_left.min(total),
            persisted: total - db_remaining.min(total),
        }
    }
}

pub fn created<T: Serialize>(body: T) -> (StatusCode, axum::Json<T>) {
    (StatusCode::CREATED, axum::Json(body))
}

/// Opens a DRAFT pool: status DRAFT → OPEN (conditional), then the gate's
/// counter is set to the pool's remaining stock. If the gate cannot be set,
/// the status goes back so opening can be retried.
pub async fn open_pool<T: PoolTable>(
    state: &AppState,
    id: u64,
    missing: ApiError,
) -> Result<(), ApiError> {
    let current = pools::pool_state::<T>(&state.infra.pool, id)
        .await?
        .ok_or(missing)?;
    let opened = current.status.open().map_err(invalid)?;
    if !pools::set_status::<T>(&state.infra.pool, id, current.status, opened).await? {
        return Err(ApiError::conflict(
            "INVALID_TRANSITION",
            "it changed meanwhile; reload it",
        ));
    }
    let pool = PoolRef { kind: T::KIND, id };
    if let Err(error) = state
        .infra
        .gate
        .open(pool, current.remaining, current.window)
        .await
    {
        pools::set_status::<T>(&state.infra.pool, id, opened, current.status).await?;
        return Err(error.into());
    }
    Ok(())
}

/// Closes a pool for good; closing twice is harmless (the gate is told again).
pub async fn close_pool<T: PoolTable>(
    state: &AppState,
    id: u64,
    missing: ApiError,
) -> Result<(), ApiError> {
    let current = pools::pool_state::<T>(&state.infra.pool, id)
        .await?
        .ok_or(missing)?;
    if let Ok(closed) = current.status.close() {
        pools::set_status::<T>(&state.infra.pool, id, current.status, closed).await?;
    }
    state
        .infra
        .gate
        .close(PoolRef { kind: T::KIND, id })
        .await?;
    Ok(())
}
