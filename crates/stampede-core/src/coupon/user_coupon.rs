//! The state of an issued coupon.

use serde::{Deserialize, Serialize};

/// ISSUED → USED (a payment spent it) or EXPIRED; USED → ISSUED when the
/// payment that spent it is refunded in full before the coupon expires.
/// EXPIRED is terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum UserCouponStatus {
    Issued,
    Used,
    Expired,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a {from:?} coupon cannot become {to:?}")]
pub struct InvalidTransition {
    pub from: UserCouponStatus,
    pub to: UserCouponStatus,
}

impl UserCouponStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Issued => "ISSUED",
            Self::Used => "USED",
            Self::Expired => "EXPIRED",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "ISSUED" => Some(Self::Issued),
            "USED" => Some(Self::Used),
            "EXPIRED" => Some(Self::Expired),
            _ => None,
        }
    }

    pub fn use_it(self) -> Result<Self, InvalidTransition> {
        self.to(Self::Used)
    }

    pub fn expire(self) -> Result<Self, InvalidTransition> {
        self.to(Self::Expired)
    }

    /// Given back by a full refund of the payment that used it.
    pub fn restore(self) -> Result<Self, InvalidTransition> {
        match self {
            Self::Used => Ok(Self::Issued),
            from => Err(InvalidTransition {
                from,
                to: Self::Issued,
            }),
        }
    }

    fn to(self, to: Self) -> Result<Self, InvalidTransition> {
        match self {
            Self::Issued => Ok(to),
            from => Err(InvalidTransition { from, to }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::UserCouponStatus::*;

    #[test]
    fn only_issued_coupons_move() {
        assert_eq!(Issued.use_it(), Ok(Used));
        assert_eq!(Issued.expire(), Ok(Expired));
        assert!(Used.use_it().is_err());
        assert!(Used.expire().is_err());
        assert!(Expired.use_it().is_err());
    }

    #[test]
    fn only_a_used_coupon_is_restored() {
        assert_eq!(Used.restore(), Ok(Issued));
        assert!(Issued.restore().is_err());
        assert!(Expired.restore().is_err());
    }
}
