//! A consecutive-failures circuit breaker.
//!
//! CLOSED: calls go through; `threshold` failures in a row open it.
//! OPEN: calls are refused at once for `cool_down`. Then HALF-OPEN: one
//! trial call goes through; its success closes the breaker, its failure
//! opens it again. (The `failsafe` crate does the same with more knobs;
//! these thirty lines are all Stampede needs and are tested here.)

use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug)]
enum State {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { trial_running: bool },
}

#[derive(Debug)]
pub struct CircuitBreaker {
    state: Mutex<State>,
    threshold: u32,
    cool_down: Duration,
}

impl CircuitBreaker {
    pub fn new(threshold: u32, cool_down: Duration) -> Self {
        Self {
            state: Mutex::new(State::Closed { failures: 0 }),
            threshold: threshold.max(1),
            cool_down,
        }
    }

    /// Whether a call may go through now.
    pub fn allow(&self) -> bool {
        let mut state = self.state.lock().unwrap();
        match *state {
            State::Closed { .. } => true,
            State::Open { until } if Instant::now() < until => false,
            State::Open { .. } => {
                *state = State::HalfOpen {
                    trial_running: true,
                };
                true
            }
            State::HalfOpen {
                trial_running: true,
            } => false,
            State::HalfOpen {
                trial_running: false,
            } => {
                *state = State::HalfOpen {
                    trial_running: true,
                };
                true
            }
        }
    }

    pub fn record_success(&self) {
        *self.state.lock().unwrap() = State::Closed { failures: 0 };
    }

    pub fn record_failure(&self) {
        let mut state = self.state.lock().unwrap();
        *state = match *state {
            State::Closed { failures } if failures + 1 < self.threshold => State::Closed {
                failures: failures + 1,
            },
            _ => State::Open {
                until: Instant::now() + self.cool_down,
            },
        };
    }

    pub fn is_open(&self) -> bool {
        matches!(*self.state.lock().unwrap(), State::Open { until } if Instant::now() < until)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_consecutive_failures_then_lets_one_trial_through() {
        let breaker = CircuitBreaker::new(3, Duration::from_millis(50));
        breaker.record_failure();
        breaker.record_failure();
        assert!(breaker.allow(), "two failures keep it closed");
        breaker.record_failure();
        assert!(!breaker.allow(), "the third opens it");
        std::thread::sleep(Duration::from_millis(60));
        assert!(breaker.allow(), "one trial after the cool-down");
        assert!(!breaker.allow(), "only one");
        breaker.record_failure();
        assert!(!breaker.allow(), "a failed trial opens it again");
        std::thread::sleep(Duration::from_millis(60));
        assert!(breaker.allow());
        breaker.record_success();
        assert!(
            breaker.allow() && breaker.allow(),
            "a successful trial closes it"
        );
    }

    #[test]
    fn a_success_resets_the_count() {
        let breaker = CircuitBreaker::new(2, Duration::from_secs(60));
        breaker.record_failure();
        breaker.record_success();
        breaker.record_failure();
        assert!(breaker.allow());
    }
}
