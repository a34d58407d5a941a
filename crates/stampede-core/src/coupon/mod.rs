//! Coupons: policies (what can be issued, how many, when), user coupons
//! (what was issued) and the queue mode's issue requests.

mod events;
mod policy;
mod request;
mod user_coupon;

pub use events::{CouponIssueRequested, CouponIssued};
pub use policy::{CouponPolicy, Discount, IssueMode, NewCouponPolicy};
pub use request::RequestStatus;
pub use user_coupon::{InvalidTransition, UserCouponStatus};
