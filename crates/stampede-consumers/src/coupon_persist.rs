//! Persists gate-mode coupon winners (`coupon.issued`) into `user_coupons`,
//! in batches: a batch is written in one statement, and when that fails
//! each winner is tried alone, so one bad record cannot hold up the rest.

use crate::persist_winners;
use stampede_infra::kafka::consumer::ConsumerSpec;
use stampede_infra::mysql::coupons::UserCoupons;
use stampede_infra::Infra;

pub const NAME: &str = "coupon-persist";
/// Its consumer group (the healer waits on how far it has read).
pub const GROUP: &str = "coupon-persist-group";

pub fn spec(infra: &Infra) -> ConsumerSpec {
    persist_winners::spec::<UserCoupons>(NAME, GROUP, infra)
}
