//! The status of a queue-mode issue request, as `GET /coupon-requests/{id}` shows it.

use crate::fcfs::RejectReason;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// PENDING → ISSUED | REJECTED; the latter two are final.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "status", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RequestStatus {
    Pending,
    Issued { coupon_id: Uuid },
    Rejected { reason: RejectReason },
}

impl RequestStatus {
    pub fn is_final(&self) -> bool {
        !matches!(self, Self::Pending)
    }
}
