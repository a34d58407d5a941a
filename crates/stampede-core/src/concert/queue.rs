//! The waiting queue in front of the box office.
//!
//! A buyer takes a token and waits in arrival order (a token taken before
//! the opening waits in the pre-queue until the draw, see
//! [`super::fair_opening`]); a scheduler admits tokens by the concert's
//! [`super::AdmissionRules`], which become ACTIVE for a while.
//! Seat listing, reservation and payment need an ACTIVE token.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What a token says about its holder right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "status", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum QueueTokenStatus {
    /// Taken before the opening: its place is drawn at `opens_at`.
    PreQueued { opens_at: DateTime<Utc> },
    /// In line: `position` 1 is next.
    Waiting { position: u64 },
    /// Admitted until `expires_at`.
    Active { expires_at: DateTime<Utc> },
    /// Unknown, expired, or used up by a payment.
    Expired,
}

impl QueueTokenStatus {
    pub fn is_active(self) -> bool {
        matches!(self, Self::Active { .. })
    }
}
