//! Refunds: their state machine, and the decision whether a refund may be
//! made on a payment as loaded (how much, by whom, and whether it is full).
//!
//! A payment may be refunded in many parts, never beyond what it captured:
//! the refundable amount is the captured amount less every refund that
//! SUCCEEDED or is still PENDING (a PENDING refund may yet succeed, so it
//! is reserved). A FAILED refund gives its amount back to the refundable
//! amount, so a refund the PG failed can simply be asked for again.

use super::{PaidLine, PaymentMethod, PaymentStatus, Purchase};
use crate::events::topics;
use crate::status::{InvalidTransition, SettlesOnce};
use serde::{Deserialize, Serialize};

crate::status_enum! {
    /// PENDING (written, the money not yet back) → SUCCEEDED | FAILED; both
    /// are terminal. A points refund is SUCCEEDED in the transaction that
    /// writes it; a card refund is PENDING until the PG answers.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
    pub enum RefundStatus {
        Pending = "PENDING",
        Succeeded = "SUCCEEDED",
        Failed = "FAILED",
    }
}

pub type InvalidRefundTransition = InvalidTransition<RefundStatus>;

impl SettlesOnce for RefundStatus {
    const PENDING: Self = Self::Pending;
    const SUCCEEDED: Self = Self::Succeeded;
    const FAILED: Self = Self::Failed;
}

/// Who asks for a refund.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refunder {
    /// A user: only their own payments.
    User(u64),
    /// An admin (support): any payment.
    Admin,
    /// Stampede itself, refunding a payment it could not fulfil.
    System,
}

impl Refunder {
    /// Whether this refunder may refund (or read the refunds of) a payment
    /// `payer_id` made: the payer, an admin, or Stampede itself.
    pub fn may_act_for(self, payer_id: u64) -> bool {
        match self {
            Self::User(user) => user == payer_id,
            Self::Admin | Self::System => true,
        }
    }

    /// How the refund row records who asked.
    pub fn kind(self) -> &'static str {
        match self {
            Self::User(_) => "USER",
            Self::Admin => "ADMIN",
            Self::System => "SYSTEM",
        }
    }
}

/// A payment as a refund decision needs it, loaded (and locked) by the adapter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundablePayment {
    pub payment_id: u64,
    pub payer_id: u64,
    pub method: PaymentMethod,
    pub status: PaymentStatus,
    /// Charged at the PG but never fulfilled (the payment is FAILED): the
    /// money is captured all the same and must go back.
    pub refund_required: bool,
    pub amount: u64,
    /// The sum of its refunds that are PENDING or SUCCEEDED.
    pub reserved_by_refunds: u64,
    /// The sum of its SUCCEEDED refunds (part of `reserved_by_refunds`).
    pub refunded: u64,
}

/// Why a refund is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefundRefusal {
    #[error("no payment {0}")]
    PaymentNotFound(u64),
    #[error("payment {0} is not yours")]
    NotYours(u64),
    #[error("payment {payment_id} is {status:?} and captured nothing; there is nothing to refund")]
    NothingCaptured {
        payment_id: u64,
        status: PaymentStatus,
    },
    #[error("a refund amount must be positive")]
    ZeroAmount,
    #[error("{requested} exceeds the {refundable} left to refund of payment {payment_id}")]
    ExceedsRefundable {
        payment_id: u64,
        requested: u64,
        refundable: u64,
    },
}

/// Why a refund is asked, as its request states it: 1–500 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundReason(String);

impl RefundReason {
    pub const MAX_CHARS: usize = 500;

    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.is_empty() || text.chars().count() > Self::MAX_CHARS {
            return Err(format!("reason must be 1-{} characters", Self::MAX_CHARS));
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A refund core allowed: write it for `amount`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefundDecision {
    pub amount: u64,
    /// What it is written as: a points refund is SUCCEEDED at once (the
    /// balance is credited in the same transaction); a card refund is
    /// PENDING until the PG answers.
    pub status: RefundStatus,
}

impl RefundablePayment {
    /// What the payment took from the buyer.
    pub fn captured(&self) -> u64 {
        match self.status {
            PaymentStatus::Success => self.amount,
            PaymentStatus::Failed if self.refund_required => self.amount,
            PaymentStatus::Pending | PaymentStatus::Failed => 0,
        }
    }

    /// What may still be refunded.
    pub fn refundable(&self) -> u64 {
        self.captured().saturating_sub(self.reserved_by_refunds)
    }

    /// Whether a refund of `amount` that succeeds now, on top of the ones
    /// that already did, refunds the payment entirely (what it bought then
    /// goes back). Asked on the locked payment, with that refund not yet
    /// counted in `refunded`.
    pub fn refunded_entirely_by(&self, amount: u64) -> bool {
        self.refunded + amount >= self.captured()
    }

    /// Decides a refund of `amount` (all that is left when `None`) asked by `by`.
    pub fn decide(
        &self,
        by: Refunder,
        amount: Option<u64>,
    ) -> Result<RefundDecision, RefundRefusal> {
        if !by.may_act_for(self.payer_id) {
            return Err(RefundRefusal::NotYours(self.payment_id));
        }
        if self.captured() == 0 {
            return Err(RefundRefusal::NothingCaptured {
                payment_id: self.payment_id,
                status: self.status,
            });
        }
        let refundable = self.refundable();
        let requested = amount.unwrap_or(refundable);
        if requested == 0 && amount.is_some() {
            return Err(RefundRefusal::ZeroAmount);
        }
        if requested == 0 || requested > refundable {
            return Err(RefundRefusal::ExceedsRefundable {
                payment_id: self.payment_id,
                requested,
                refundable,
            });
        }
        Ok(RefundDecision {
            amount: requested,
            status: match self.method {
                PaymentMethod::Points => RefundStatus::Succeeded,
                PaymentMethod::Card => RefundStatus::Pending,
            },
        })
    }

    /// Whether a refund that completes this payment gives back what it
    /// bought: only a fulfilled (SUCCESS) payment took stock, coupons or a
    /// seat; a `refund_required` one never did.
    pub fn restores_purchase(&self) -> bool {
        self.status == PaymentStatus::Success
    }
}

/// A user coupon an order used, as loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsedCoupon {
    pub id: String,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

/// What a full refund of a fulfilled payment gives back.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Restitution {
    /// Stock returned to each option.
    pub stock: Vec<PaidLine>,
    /// Coupons ISSUED again (the expired ones stay USED: they could not
    /// be used any more anyway).
    pub coupons: Vec<String>,
    /// The seat that becomes AVAILABLE again.
    pub seat_id: Option<u64>,
}

impl Restitution {
    /// What a full refund of `purchase` returns at `now`, given the coupons its order used.
    pub fn of(
        purchase: &Purchase,
        coupons: &[UsedCoupon],
        now: chrono::DateTime<chrono::Utc>,
    ) -> Self {
        match purchase {
            Purchase::Order { lines, .. } => Self {
                stock: lines.clone(),
                coupons: coupons
                    .iter()
                    .filter(|c| c.expires_at > now)
                    .map(|c| c.id.clone())
                    .collect(),
                seat_id: None,
            },
            Purchase::Reservation { seat_id, .. } => Self {
                seat_id: Some(*seat_id),
                ..Self::default()
            },
        }
    }
}

/// `payment.refunded`: money went back to the buyer (a SUCCEEDED refund).
/// `full` says the payment is now refunded entirely and what it bought
/// (stock, coupons, a seat) was given back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaymentRefunded {
    pub refund_id: u64,
    pub payment_id: u64,
    pub user_id: u64,
    pub amount: u64,
    pub method: PaymentMethod,
    pub reason: String,
    pub full: bool,
    pub purchase: Purchase,
}

super::keyed_by_purchase!(PaymentRefunded, topics::PAYMENT_REFUNDED);

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, Utc};

    fn paid(amount: u64, reserved: u64) -> RefundablePayment {
        RefundablePayment {
            payment_id: 1,
            payer_id: 7,
            method: PaymentMethod::Points,
            status: PaymentStatus::Success,
            refund_required: false,
            amount,
            reserved_by_refunds: reserved,
            refunded: reserved,
        }
    }

    #[test]
    fn a_refund_completes_the_payment_when_the_succeeded_ones_reach_the_capture() {
        assert!(!paid(10, 0).refunded_entirely_by(9));
        assert!(paid(10, 0).refunded_entirely_by(10));
        assert!(paid(10, 4).refunded_entirely_by(6));
        // A PENDING card refund reserves its amount but has not given it back.
        let pending_elsewhere = RefundablePayment {
            refunded: 0,
            ..paid(10, 4)
        };
        assert!(!pending_elsewhere.refunded_entirely_by(6));
        let unfulfilled = RefundablePayment {
            status: PaymentStatus::Failed,
            refund_required: true,
            ..paid(10, 0)
        };
        assert!(unfulfilled.refunded_entirely_by(10));
    }

    #[test]
    fn settled_refunds_never_move() {
        use RefundStatus::*;
        crate::status::tests::assert_settles_once::<RefundStatus>();
        for status in [Pending, Succeeded, Failed] {
            assert_eq!(RefundStatus::parse(status.as_str()), Ok(status));
        }
        assert!(RefundStatus::parse("DONE").is_err());
    }

    #[test]
    fn partial_refunds_add_up_to_the_captured_amount_and_the_last_completes() {
        let first = paid(1000, 0).decide(Refunder::User(7), Some(400)).unwrap();
        assert_eq!(
            first,
            RefundDecision {
                amount: 400,
                status: RefundStatus::Succeeded
            }
        );
        assert!(!paid(1000, 0).refunded_entirely_by(first.amount));
        let after_first = paid(1000, 400);
        let last = after_first.decide(Refunder::User(7), Some(600)).unwrap();
        assert!(after_first.refunded_entirely_by(last.amount));
    }

    #[test]
    fn no_amount_refunds_all_that_is_left() {
        let rest = paid(1000, 250).decide(Refunder::Admin, None).unwrap();
        assert_eq!(
            rest,
            RefundDecision {
                amount: 750,
                status: RefundStatus::Succeeded
            }
        );
        assert!(paid(1000, 250).refunded_entirely_by(rest.amount));
    }

    #[test]
    fn a_points_refund_is_written_settled_and_a_card_refund_waits_for_the_pg() {
        let by_card = RefundablePayment {
            method: PaymentMethod::Card,
            ..paid(1000, 0)
        };
        let decided = by_card.decide(Refunder::User(7), None).unwrap();
        assert_eq!(decided.status, RefundStatus::Pending);
        assert!(
            decided.status.succeed().is_ok(),
            "the PG's verdict can settle it"
        );
        let decided = paid(1000, 0).decide(Refunder::User(7), None).unwrap();
        assert_eq!(decided.status, RefundStatus::Succeeded);
    }

    #[test]
    fn more_than_is_left_is_refused_with_what_is_left() {
        assert_eq!(
            paid(1000, 700).decide(Refunder::User(7), Some(301)),
            Err(RefundRefusal::ExceedsRefundable {
                payment_id: 1,
                requested: 301,
                refundable: 300
            })
        );
        let refused = paid(1000, 1000)
            .decide(Refunder::User(7), None)
            .unwrap_err();
        assert!(matches!(refused, RefundRefusal::ExceedsRefundable { .. }));
        assert_eq!(
            paid(1000, 0).decide(Refunder::User(7), Some(0)),
            Err(RefundRefusal::ZeroAmount)
        );
    }

    #[test]
    fn only_the_payer_an_admin_or_stampede_may_refund() {
        assert_eq!(
            paid(10, 0).decide(Refunder::User(8), Some(5)),
            Err(RefundRefusal::NotYours(1))
        );
        assert!(paid(10, 0).decide(Refunder::Admin, Some(5)).is_ok());
        assert!(paid(10, 0).decide(Refunder::System, Some(5)).is_ok());
    }

    #[test]
    fn what_captured_nothing_cannot_be_refunded_but_a_refund_required_payment_can() {
        for status in [PaymentStatus::Pending, PaymentStatus::Failed] {
            let payment = RefundablePayment {
                status,
                ..paid(10, 0)
            };
            assert_eq!(payment.captured(), 0);
            assert!(matches!(
                payment.decide(Refunder::User(7), None),
                Err(RefundRefusal::NothingCaptured { .. })
            ));
        }
        let unfulfilled = RefundablePayment {
            status: PaymentStatus::Failed,
            refund_required: true,
            ..paid(10, 0)
        };
        assert_eq!(
            unfulfilled.decide(Refunder::System, None).unwrap().amount,
            10
        );
        assert!(!unfulfilled.restores_purchase());
        assert!(paid(10, 0).restores_purchase());
    }

    #[test]
    fn a_reason_is_required_and_bounded() {
        assert_eq!(
            RefundReason::parse("  broken  ").unwrap().as_str(),
            "broken"
        );
        assert!(RefundReason::parse(" ").is_err());
        assert!(RefundReason::parse(&"x".repeat(501)).is_err());
        assert!(RefundReason::parse(&"é".repeat(500)).is_ok());
    }

    #[test]
    fn a_full_refund_returns_stock_unexpired_coupons_and_the_seat() {
        let now = Utc::now();
        let order = Purchase::Order {
            order_id: 3,
            lines: vec![PaidLine {
                option_id: 4,
                quantity: 2,
            }],
        };
        let coupons = [
            UsedCoupon {
                id: "live".into(),
                expires_at: now + Duration::hours(1),
            },
            UsedCoupon {
                id: "gone".into(),
                expires_at: now - Duration::hours(1),
            },
        ];
        let back = Restitution::of(&order, &coupons, now);
        assert_eq!(
            back.stock,
            vec![PaidLine {
                option_id: 4,
                quantity: 2
            }]
        );
        assert_eq!(back.coupons, vec!["live".to_owned()]);
        assert_eq!(back.seat_id, None);

        let seat = Purchase::Reservation {
            reservation_id: 9,
            concert_id: 1,
            schedule_id: 2,
            seat_id: 40,
        };
        let back = Restitution::of(&seat, &[], now);
        assert_eq!(back.seat_id, Some(40));
        assert!(back.stock.is_empty() && back.coupons.is_empty());
    }
}
