//! Points are money: they come only from a card payment the PG confirmed
//! (a [`top_up`]) or from an admin's recorded [`grant`], never for free.

pub mod credited;
pub mod grant;
pub mod top_up;

/// Why a top-up or a grant is refused before anything is stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PointsRefusal {
    #[error("amount must be between 1 and {max}")]
    AmountOutOfRange { max: u64 },
    #[error("a grant needs a reason (at most {max} characters)")]
    InvalidReason { max: usize },
}

/// A number of points between 1 and a configured maximum
/// (`payments.max_points_charge`): parse once, trust afterwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PointsAmount(u64);

impl PointsAmount {
    pub fn parse(amount: u64, max: u64) -> Result<Self, PointsRefusal> {
        if (1..=max).contains(&amount) {
            Ok(Self(amount))
        } else {
            Err(PointsRefusal::AmountOutOfRange { max })
        }
    }

    pub fn get(self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_amount_is_between_one_and_the_maximum() {
        assert_eq!(PointsAmount::parse(1, 10).unwrap().get(), 1);
        assert_eq!(PointsAmount::parse(10, 10).unwrap().get(), 10);
        for bad in [0, 11] {
            assert_eq!(
                PointsAmount::parse(bad, 10),
                Err(PointsRefusal::AmountOutOfRange { max: 10 })
            );
        }
    }
}
