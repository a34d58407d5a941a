//! `[payments]` settings.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
pub struct PaymentSettings {
    /// Upper bound of one points charge.
    pub max_points_charge: u64,
    /// How long an `Idempotency-Key` and its stored response are kept.
    pub idempotency_ttl_secs: u64,
    /// A campaign entry older than this no longer allows buying (30 minutes by default).
    pub entry_max_age_secs: i64,
    /// Users found with no entry at all are remembered this long, so repeated
    /// bogus requests never reach the database (a negative cache).
    pub negative_cache_secs: u64,
    /// Coupons one order may use.
    pub max_coupons_per_order: usize,
}

impl PaymentSettings {
    pub fn validate(&self) -> Result<(), String> {
        if self.max_points_charge == 0 {
            return Err("payments.max_points_charge must be positive".into());
        }
        if self.idempotency_ttl_secs == 0
            || self.entry_max_age_secs <= 0
            || self.negative_cache_secs == 0
        {
            return Err("payments.idempotency_ttl_secs, entry_max_age_secs and negative_cache_secs must be positive".into());
        }
        Ok(())
    }
}
