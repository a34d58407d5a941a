//! The sold-out ranking: schedules ranked by how fast they sold out.

use chrono::{DateTime, Utc};

/// How long a schedule took to sell out, in milliseconds since booking
/// opened (0 when the last seat went before the announced opening).
pub fn sell_out_ms(booking_opens_at: DateTime<Utc>, sold_out_at: DateTime<Utc>) -> u64 {
    (sold_out_at - booking_opens_at)
        .num_milliseconds()
        .try_into()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn sell_out_time_is_measured_from_the_opening() {
        let opens = Utc::now();
        assert_eq!(
            sell_out_ms(opens, opens + Duration::milliseconds(1500)),
            1500
        );
        assert_eq!(sell_out_ms(opens, opens - Duration::seconds(1)), 0);
    }
}
