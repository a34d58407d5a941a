//! First-come-first-served issuance: what the atomic gate answers and the
//! flow around it ("win, then make it durable, else give it back").
//!
//! The gate is one Redis Lua script that checks the window, the caller's
//! mark and the stock, and on success decrements the stock, marks the caller
//! and opens a **claim** on the unit, atomically. A win is only reported to
//! the caller after the winner's event was acknowledged by the broker; if
//! publishing fails, the claim is revoked (unit and mark given back) and the
//! caller is told to retry. Nobody is ever told "won" without a durable
//! record on its way.
//!
//! # Every taken unit ends persisted or given back, exactly once
//!
//! A claim is opened by the take and ends in exactly one of two ways, each an
//! atomic step on the claim in Redis, so whichever comes first wins and the
//! other finds it gone:
//!
//! - **settled**: the persisting consumer received the winner's event and
//!   closes the claim *before* writing the row ([`WinnerLedger::settle`]). From
//!   then on nobody may give the unit back; a crash before the row is written
//!   redelivers the event, which is written then (the row's unique key
//!   absorbs a duplicate).
//! - **revoked**: the unit and the mark go back to the gate
//!   ([`Gate::revoke`]) and the claim stays as a tombstone, so a late copy of
//!   the winner's event is skipped instead of issuing the unit twice.
//!
//! Who revokes, and when it is safe:
//!
//! - the request itself, when the publish failed. The broker may still have
//!   written the event (an acknowledgement lost to a timeout); the tombstone
//!   makes the consumer skip it, so the 503 the caller gets stays true. If the
//!   consumer settled it first, revoking finds the claim settled and the
//!   caller is told "won" after all — the event is in the log and its row is
//!   being written.
//! - the healer, for claims whose request died with its process (`kill -9`
//!   between the take and the answer). It must not revoke a claim whose event
//!   the broker acknowledged — that caller may have heard "won". So it
//!   revokes only a claim that is old enough that no publish of it can still
//!   be under way, *and* once the persisting consumer has committed past what
//!   the topic held at that time: had the event been acknowledged, the
//!   consumer would have settled the claim, so a claim still open then had no
//!   event written, and giving it back takes nothing from anybody.
//!
//! So a unit is never lost (a dead request's claim is healed), never issued
//! twice (settle and revoke exclude each other), and no caller told "won"
//! goes without a row (an acknowledged event is settled before any healer
//! may revoke).

mod gate_state;
mod pool;

pub use gate_state::GateState;
pub use pool::{IssueWindow, NewPool, NotAdmitted, PoolError, PoolState, PoolStatus};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

/// What is being handed out first come, first served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PoolKind {
    Coupon,
    Campaign,
}

/// One FCFS pool: a coupon policy or a campaign.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PoolRef {
    pub kind: PoolKind,
    pub id: u64,
}

impl PoolKind {
    /// `coupon` or `campaign`: in gate keys and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Coupon => "coupon",
            Self::Campaign => "campaign",
        }
    }
}

impl fmt::Display for PoolRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind.as_str(), self.id)
    }
}

/// The gate's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GateOutcome {
    /// Stock taken and caller marked; `ordinal` is the caller's n-th win in this pool.
    Won {
        ordinal: u32,
        remaining: i64,
    },
    SoldOut,
    /// The caller already holds `per_user_limit` wins.
    AlreadyIssued,
    /// Outside the issue window.
    NotOpen,
    /// Closed by an admin.
    Closed,
    /// The counter does not exist: never opened (the script's −2), or lost
    /// with Redis (then the pool is OPEN in the database and being rebuilt).
    Uninitialised,
    /// Being rewritten from the database (after Redis lost it, or a repair):
    /// refuse for now, nothing was taken.
    Rebuilding,
}

impl GateOutcome {
    /// The gate's answer read with the pool's status in the database (the
    /// truth): a counter missing from an OPEN pool was lost with Redis, so
    /// the pool is being rebuilt, not "never opened".
    pub fn given(self, status: PoolStatus) -> Self {
        match (self, status) {
            (Self::Uninitialised, PoolStatus::Open) => Self::Rebuilding,
            (outcome, _) => outcome,
        }
    }
}

/// Why a request was refused, as clients see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RejectReason {
    SoldOut,
    AlreadyIssued,
    NotOpen,
}

impl RejectReason {
    pub fn code(self) -> &'static str {
        match self {
            Self::SoldOut => "SOLD_OUT",
            Self::AlreadyIssued => "ALREADY_ISSUED",
            Self::NotOpen => "NOT_OPEN",
        }
    }
}

/// What revoking a claim found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revocation {
    /// The claim was open: its unit and mark are back in the gate.
    GivenBack,
    /// The persisting consumer settled it first: the win stands.
    AlreadySettled,
    /// Revoked before (nothing changed).
    AlreadyRevoked,
    /// The ledger is gone (Redis lost it): nothing to give back; the rebuild
    /// from the database accounts for the unit.
    LedgerLost,
}

/// One request to the gate: a unit of `pool` for `user_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Take {
    pub pool: PoolRef,
    /// The claim opened on the unit; the winner's row carries it as its id.
    pub claim: Uuid,
    pub user_id: u64,
    pub now_ms: i64,
    /// How many wins of the pool one user may hold.
    pub per_user_limit: u32,
}

/// The atomic gate (implemented with a Redis Lua script).
#[async_trait]
pub trait Gate: Send + Sync {
    type Error: std::error::Error + Send + Sync + 'static;

    /// Takes a unit for `take.user_id`, opening the claim `take.claim` on it.
    async fn try_take(&self, take: &Take) -> Result<GateOutcome, Self::Error>;

    /// Gives back the unit of `claim` (taken by `user_id`) if it is still open.
    async fn revoke(
        &self,
        pool: PoolRef,
        claim: Uuid,
        user_id: u64,
    ) -> Result<Revocation, Self::Error>;
}

/// A winner's event, as its persisting consumer settles it.
pub trait Winner {
    /// The pool whose unit was won.
    fn pool(&self) -> PoolRef;
    /// The claim the gate opened on the unit (the winner row's id).
    fn claim(&self) -> Uuid;
}

/// The persisting consumer's side of the claims.
#[async_trait]
pub trait WinnerLedger: Send + Sync {
    type Error: std::error::Error + Send + Sync + 'static;

    /// Closes the open claims among `claims` of `pool`; answers, per claim,
    /// whether its winner must be written (false: it was revoked, its unit
    /// went back to the gate).
    async fn settle(&self, pool: PoolRef, claims: &[Uuid]) -> Result<Vec<bool>, Self::Error>;
}

/// Makes a win durable (publishes the winner's event and awaits the ack).
#[async_trait]
pub trait WinnerSink<W: Send + Sync>: Send + Sync {
    type Error: std::error::Error + Send + Sync + 'static;

    async fn record(&self, win: &W) -> Result<(), Self::Error>;
}

/// What the gate flow answered: the winner, or the gate's refusal.
#[derive(Debug)]
pub enum Taken<W> {
    Won(W),
    Refused(GateOutcome),
}

/// Why the gate flow could not answer.
#[derive(Debug, thiserror::Error)]
pub enum TakeError<G: std::error::Error + 'static, S: std::error::Error + 'static> {
    #[error("the gate is unavailable: {0}")]
    Gate(#[source] G),
    /// The win could not be recorded; the gate was compensated.
    #[error("the win could not be recorded (compensated): {0}")]
    NotRecorded(#[source] S),
    /// The win could not be recorded and the compensation failed too; the
    /// claim stays open and the healer gives it back.
    #[error("the win could not be recorded ({record}) and compensation failed ({compensation})")]
    CompensationFailed { record: S, compensation: G },
}

/// The gate flow once [`Gate::try_take`] said won: records `win` durably,
/// and revokes its claim if that fails (unless its consumer settled it
/// meanwhile: then the win stands).
pub async fn record_or_revoke<G, S, W>(
    gate: &G,
    sink: &S,
    take: &Take,
    win: W,
) -> Result<Taken<W>, TakeError<G::Error, S::Error>>
where
    G: Gate,
    S: WinnerSink<W>,
    W: Send + Sync,
{
    match sink.record(&win).await {
        Ok(()) => Ok(Taken::Won(win)),
        Err(record) => match gate.revoke(take.pool, take.claim, take.user_id).await {
            Ok(Revocation::AlreadySettled) => Ok(Taken::Won(win)),
            Ok(Revocation::GivenBack | Revocation::AlreadyRevoked | Revocation::LedgerLost) => {
                Err(TakeError::NotRecorded(record))
            }
            Err(compensation) => Err(TakeError::CompensationFailed {
                record,
                compensation,
            }),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_counter_of_an_open_pool_means_rebuilding() {
        let missing = GateOutcome::Uninitialised;
        assert_eq!(missing.given(PoolStatus::Open), GateOutcome::Rebuilding);
        assert_eq!(missing.given(PoolStatus::Draft), GateOutcome::Uninitialised);
        assert_eq!(
            GateOutcome::SoldOut.given(PoolStatus::Open),
            GateOutcome::SoldOut
        );
    }
}
