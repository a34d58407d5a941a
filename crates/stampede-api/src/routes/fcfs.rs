//! What coupon and campaign endpoints share: the window clients send, the
//! gate flow and its answers, and the pool counters view.

use crate::error::{ApiError, ErrorCode};
use crate::AppState;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use metrics::Counter;
use serde::{Deserialize, Serialize};
use stampede_core::events::DomainEvent;
use stampede_core::fcfs::{
    record_or_revoke, Gate, GateOutcome, IssueWindow, PoolKind, PoolStatus, Take, TakeError, Taken,
};
use stampede_infra::kafka::PublishError;
use std::sync::OnceLock;
use utoipa::ToSchema;

/// A window as clients send it.
#[derive(Debug, Deserialize, ToSchema)]
pub struct WindowBody {
    pub opens_at: DateTime<Utc>,
    pub closes_at: DateTime<Utc>,
}

impl WindowBody {
    pub fn parse(&self) -> Result<IssueWindow, ApiError> {
        Ok(IssueWindow::new(self.opens_at, self.closes_at)?)
    }
}

/// The gate flow (take, then publish or revoke): the take inline, and a
/// win's publish and its revocation on a task of their own, so a client
/// that hangs up (which cancels its handler) cannot cut the flow between the
/// take and the publish's outcome. Only a hang-up during the take's own
/// Redis round trip can leave a claim open; the healer gives that back.
/// (Spawning only the 1,000 wins, not the 100,000 refusals, keeps the
/// refusal path as cheap as the bare script.)
pub async fn take_then_publish_detached<W>(
    state: &AppState,
    take: Take,
    make_win: impl FnOnce(u32) -> W,
) -> Result<Taken<W>, TakeError<redis::RedisError, PublishError>>
where
    W: DomainEvent + Send + Sync + 'static,
{
    let gate = &state.infra.gate;
    let outcome = gate.try_take(&take).await.map_err(TakeError::Gate)?;
    let GateOutcome::Won { ordinal, .. } = outcome else {
        return Ok(Taken::Refused(outcome));
    };
    let win = make_win(ordinal);
    let (gate, events) = (gate.clone(), state.infra.events.clone());
    tokio::spawn(async move { record_or_revoke(&gate, &events, &take, win).await })
        .await
        .expect("the gate flow does not panic")
}

/// Maps the gate flow's result to the winner or the error, counting
/// outcomes in `counted`; `status` is the pool's status in the database.
pub fn answer<W, G: std::error::Error, S: std::error::Error>(
    result: Result<Taken<W>, TakeError<G, S>>,
    kind: PoolKind,
    status: PoolStatus,
    counted: &GateOutcomes,
) -> Result<W, ApiError> {
    let (outcome, answer) = match result {
        Ok(Taken::Won(win)) => (Outcome::Won, Ok(win)),
        Ok(Taken::Refused(refused)) => {
            let refused = refused.given(status);
            (
                Outcome::Refused(refused),
                Err(ApiError::refused_by_gate(refused, kind)),
            )
        }
        Err(TakeError::Gate(error)) => (
            Outcome::GateUnavailable,
            Err(unavailable(ErrorCode::RedisUnavailable, &error)),
        ),
        Err(error) => (
            Outcome::NotRecorded,
            Err(unavailable(ErrorCode::IssueUnavailable, &error)),
        ),
    };
    counted.count(kind, outcome);
    answer
}

fn unavailable(code: ErrorCode, error: &dyn std::error::Error) -> ApiError {
    tracing::error!(%error, "an FCFS request could not be decided; nothing was issued");
    ApiError::unavailable(code, "nothing was issued; please retry")
}

/// How a gate request ended: the `outcome` label of
/// `stampede_fcfs_outcomes_total{mode="gate"}`.
#[derive(Debug, Clone, Copy)]
enum Outcome {
    Won,
    Refused(GateOutcome),
    GateUnavailable,
    NotRecorded,
}

/// How many outcomes there are (the slots of [`GateOutcomes`]).
const OUTCOMES: usize = 9;

impl Outcome {
    /// The label and the counter slot.
    fn label_and_slot(self) -> (&'static str, usize) {
        match self {
            Self::Won | Self::Refused(GateOutcome::Won { .. }) => ("won", 0),
            Self::Refused(GateOutcome::SoldOut) => ("sold_out", 1),
            Self::Refused(GateOutcome::AlreadyIssued) => ("already_issued", 2),
            Self::Refused(GateOutcome::NotOpen) => ("not_open", 3),
            Self::Refused(GateOutcome::Closed) => ("closed", 4),
            Self::Refused(GateOutcome::Uninitialised) => ("uninitialised", 5),
            Self::Refused(GateOutcome::Rebuilding) => ("rebuilding", 6),
            Self::GateUnavailable => ("gate_unavailable", 7),
            Self::NotRecorded => ("not_recorded", 8),
        }
    }
}

/// The gate's outcome counters, each registered on its first use and kept:
/// `counter!` with labels builds and looks up its key on every call, which
/// cost a refusal (the common answer of a flash sale) as much as building
/// its JSON body.
#[derive(Debug, Default)]
pub struct GateOutcomes {
    coupon: [OnceLock<Counter>; OUTCOMES],
    campaign: [OnceLock<Counter>; OUTCOMES],
}

impl GateOutcomes {
    fn count(&self, kind: PoolKind, outcome: Outcome) {
        let (label, slot) = outcome.label_and_slot();
        let slots = match kind {
            PoolKind::Coupon => &self.coupon,
            PoolKind::Campaign => &self.campaign,
        };
        slots[slot]
            .get_or_init(|| {
                metrics::counter!("stampede_fcfs_outcomes_total", "pool" => kind.as_str(), "mode" => "gate", "outcome" => label)
            })
            .increment(1);
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
