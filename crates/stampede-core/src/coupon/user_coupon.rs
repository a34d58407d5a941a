//! The state of an issued coupon.

use crate::status::transition;
use serde::{Deserialize, Serialize};

crate::status_enum! {
    /// ISSUED → USED (a payment spent it) or EXPIRED; USED → ISSUED when the
    /// payment that spent it is refunded in full before the coupon expires.
    /// EXPIRED is terminal.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
    pub enum UserCouponStatus {
        Issued = "ISSUED",
        Used = "USED",
        Expired = "EXPIRED",
    }
}

pub type InvalidTransition = crate::status::InvalidTransition<UserCouponStatus>;

impl UserCouponStatus {
    pub fn use_it(self) -> Result<Self, InvalidTransition> {
        self.to(Self::Used)
    }

    pub fn expire(self) -> Result<Self, InvalidTransition> {
        self.to(Self::Expired)
    }

    /// Given back by a full refund of the payment that used it.
    pub fn restore(self) -> Result<Self, InvalidTransition> {
        transition(self, &[Self::Used], Self::Issued)
    }

    fn to(self, to: Self) -> Result<Self, InvalidTransition> {
        transition(self, &[Self::Issued], to)
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
