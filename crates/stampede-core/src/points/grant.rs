//! An admin's grant of points (support: a goodwill gesture, a correction).
//! Unlike a top-up nobody paid for it, so it must say why; the store records
//! who granted it beside the reason.

use super::{PointsAmount, PointsRefusal};

/// The longest reason kept.
pub const MAX_REASON_CHARS: usize = 500;

/// A validated grant request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PointGrant {
    pub amount: PointsAmount,
    pub reason: String,
}

impl PointGrant {
    pub fn parse(amount: u64, max_amount: u64, reason: &str) -> Result<Self, PointsRefusal> {
        let amount = PointsAmount::parse(amount, max_amount)?;
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > MAX_REASON_CHARS {
            return Err(PointsRefusal::InvalidReason {
                max: MAX_REASON_CHARS,
            });
        }
        Ok(Self {
            amount,
            reason: reason.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grant_needs_a_reason_and_an_amount_in_range() {
        let grant = PointGrant::parse(500, 1000, "  refund of a broken ticket ").unwrap();
        assert_eq!(grant.amount.get(), 500);
        assert_eq!(grant.reason, "refund of a broken ticket");
        assert_eq!(
            PointGrant::parse(500, 1000, "   "),
            Err(PointsRefusal::InvalidReason {
                max: MAX_REASON_CHARS
            })
        );
        let long = "x".repeat(MAX_REASON_CHARS + 1);
        assert!(PointGrant::parse(500, 1000, &long).is_err());
        assert_eq!(
            PointGrant::parse(0, 1000, "why"),
            Err(PointsRefusal::AmountOutOfRange { max: 1000 })
        );
    }
}
