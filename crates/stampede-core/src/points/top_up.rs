//! A paid top-up: points bought with a card through the PG.
//!
//! PENDING → SUCCEEDED (the points are credited in the same transaction) |
//! FAILED (nothing credited). Both are terminal: a duplicate or late PG
//! callback, or a reconciliation after the callback, changes nothing, so
//! the points arrive exactly once.

use crate::payment::PgVerdict;

crate::status_enum! {
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum TopUpStatus {
        Pending = "PENDING",
        Succeeded = "SUCCEEDED",
        Failed = "FAILED",
    }
}

/// What the PG's verdict does to a top-up in `status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopUpTransition {
    /// PENDING → SUCCEEDED, crediting the top-up's amount.
    Credit,
    /// PENDING → FAILED with the PG's reason; nothing is credited.
    Fail(String),
    /// Already terminal: nothing changes (reported as its status).
    AlreadySettled(TopUpStatus),
}

impl TopUpTransition {
    /// What callbacks answer (`result`) and metrics count (`outcome`).
    pub fn label(&self) -> &'static str {
        match self {
            Self::Credit => "top_up_credited",
            Self::Fail(_) => "top_up_failed",
            Self::AlreadySettled(_) => "already_settled",
        }
    }

    /// The status the top-up moves to, if it moves.
    pub fn target(&self) -> Option<TopUpStatus> {
        match self {
            Self::Credit => Some(TopUpStatus::Succeeded),
            Self::Fail(_) => Some(TopUpStatus::Failed),
            Self::AlreadySettled(_) => None,
        }
    }
}

pub fn settle(status: TopUpStatus, verdict: PgVerdict) -> TopUpTransition {
    match (status, verdict) {
        (TopUpStatus::Pending, PgVerdict::Success) => TopUpTransition::Credit,
        (TopUpStatus::Pending, PgVerdict::Failed(reason)) => TopUpTransition::Fail(reason),
        (terminal, _) => TopUpTransition::AlreadySettled(terminal),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_pending_top_up_moves() {
        assert_eq!(
            settle(TopUpStatus::Pending, PgVerdict::Success),
            TopUpTransition::Credit
        );
        assert_eq!(
            settle(TopUpStatus::Pending, PgVerdict::Failed("declined".into())),
            TopUpTransition::Fail("declined".into())
        );
        for terminal in [TopUpStatus::Succeeded, TopUpStatus::Failed] {
            assert_eq!(
                settle(terminal, PgVerdict::Success),
                TopUpTransition::AlreadySettled(terminal)
            );
            assert_eq!(settle(terminal, PgVerdict::Success).target(), None);
        }
    }

    #[test]
    fn statuses_round_trip_and_unknown_ones_are_refused() {
        for status in [
            TopUpStatus::Pending,
            TopUpStatus::Succeeded,
            TopUpStatus::Failed,
        ] {
            assert_eq!(TopUpStatus::parse(status.as_str()), Ok(status));
        }
        assert!(TopUpStatus::parse("SUCCESS").is_err());
    }
}
