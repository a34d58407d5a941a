//! The estimated wait of a waiting token, from the measured admission
//! outflow (not the configured rate: a cap, a pause or no-shows make the
//! real outflow differ from it), and how soon to poll again.
//!
//! The outflow is kept as the admission steps of a sliding window, each
//! `(at_ms, admitted)`. The rate is what was admitted after the oldest step
//! divided by the time since it: counting the oldest step itself would
//! credit its whole batch to an instant and overstate the rate.

use std::time::Duration;

/// One admission step of the window: when, and how many it admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdmissionStep {
    pub at_ms: i64,
    pub admitted: u64,
}

/// The measured outflow, in tokens per second, over `steps` (any order);
/// `None` until two steps tell a rate (or when nothing left the queue).
pub fn measured_rate(steps: &[AdmissionStep], now_ms: i64) -> Option<f64> {
    let oldest = steps.iter().min_by_key(|step| step.at_ms)?;
    let after_oldest: u64 = steps
        .iter()
        .filter(|step| step.at_ms > oldest.at_ms)
        .map(|step| step.admitted)
        .sum();
    let span_ms = now_ms - oldest.at_ms;
    (after_oldest > 0 && span_ms > 0).then(|| after_oldest as f64 * 1000.0 / span_ms as f64)
}

/// How long the token at `position` (1 is next) should still wait at
/// `rate` tokens per second; `None` when no rate is known.
pub fn estimated_wait(position: u64, rate: Option<f64>) -> Option<Duration> {
    let rate = rate?;
    Some(Duration::from_secs_f64(position as f64 / rate))
}

/// When a waiting fan should ask again: a quarter of the estimated wait,
/// between one second and `longest` (which must stay under the keepalive,
/// or a fan who follows the advice would lose their place).
pub fn poll_after(eta: Option<Duration>, longest: Duration) -> Duration {
    let longest = longest.max(Duration::from_secs(1));
    eta.map_or(longest, |eta| eta / 4)
        .clamp(Duration::from_secs(1), longest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steady(count: i64, every_ms: i64, admitted: u64) -> Vec<AdmissionStep> {
        (0..count)
            .map(|i| AdmissionStep {
                at_ms: i * every_ms,
                admitted,
            })
            .collect()
    }

    #[test]
    fn a_steady_outflow_gives_its_rate() {
        // 5 admitted every 500 ms: 10 per second.
        let steps = steady(10, 500, 5);
        let rate = measured_rate(&steps, 9 * 500 + 100).unwrap();
        assert!((rate - 10.0).abs() < 0.5, "{rate}");
        let eta = estimated_wait(30, Some(rate)).unwrap();
        assert!((eta.as_secs_f64() - 3.0).abs() < 0.2, "{eta:?}");
    }

    #[test]
    fn one_step_or_none_tells_no_rate() {
        assert_eq!(measured_rate(&[], 1000), None);
        assert_eq!(measured_rate(&steady(1, 500, 5), 1000), None);
        assert_eq!(estimated_wait(3, None), None);
    }

    #[test]
    fn polling_advice_stays_between_a_second_and_the_longest() {
        let longest = Duration::from_secs(20);
        assert_eq!(poll_after(None, longest), longest);
        assert_eq!(
            poll_after(Some(Duration::from_secs(2)), longest),
            Duration::from_secs(1)
        );
        assert_eq!(
            poll_after(Some(Duration::from_secs(40)), longest),
            Duration::from_secs(10)
        );
        assert_eq!(
            poll_after(Some(Duration::from_secs(4000)), longest),
            longest
        );
    }
}
