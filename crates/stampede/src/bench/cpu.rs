//! Where a run's CPU went, per request: this process (the benchmark's
//! client and the server it measures, together), Redis, and the rest of
//! the box (MariaDB, the brokers, anything else running).
//!
//! On a box the client, the server and the databases share, a ratio to a
//! ceiling is in the end a ratio of CPU per request; these figures say
//! whose CPU the difference is. Linux only: `/proc` counts in USER_HZ
//! ticks, which Linux always reports as 100 a second to user space.

use super::redis_info;
use super::report::median;
use stampede_infra::redis::RedisConnection;

const TICKS_PER_SEC: f64 = 100.0;

/// The counters at one moment.
pub struct CpuMark {
    process_secs: Option<f64>,
    busy_secs: Option<f64>,
    redis_secs: Option<f64>,
}

/// CPU per request between two marks, in microseconds.
#[derive(Debug, Clone, Copy)]
pub struct CpuPerRequest {
    pub process_us: f64,
    pub redis_us: f64,
    pub rest_us: f64,
}

impl CpuMark {
    pub async fn now(redis: &RedisConnection) -> Self {
        Self {
            process_secs: process_secs(),
            busy_secs: box_busy_secs(),
            redis_secs: redis_info::cpu_secs(redis).await,
        }
    }

    /// What `requests` requests cost from this mark to `later`; `None`
    /// where a counter could not be read.
    pub fn per_request(&self, later: &CpuMark, requests: usize) -> Option<CpuPerRequest> {
        let spent = |a: Option<f64>, b: Option<f64>| Some((b? - a?).max(0.0));
        let process = spent(self.process_secs, later.process_secs)?;
        let redis = spent(self.redis_secs, later.redis_secs)?;
        let busy = spent(self.busy_secs, later.busy_secs)?;
        let per = |secs: f64| secs * 1e6 / requests.max(1) as f64;
        Some(CpuPerRequest {
            process_us: per(process),
            redis_us: per(redis),
            rest_us: per((busy - process - redis).max(0.0)),
        })
    }
}

impl CpuPerRequest {
    /// Each share's median over `runs`; `None` for none.
    pub fn median(runs: &[CpuPerRequest]) -> Option<CpuPerRequest> {
        let of = |share: fn(&CpuPerRequest) -> f64| median(runs.iter().map(share));
        (!runs.is_empty()).then(|| CpuPerRequest {
            process_us: of(|c| c.process_us),
            redis_us: of(|c| c.redis_us),
            rest_us: of(|c| c.rest_us),
        })
    }

    /// The three shares under their report names (`{bench}_{name}`).
    pub fn figures(&self) -> [(&'static str, f64); 3] {
        [
            ("cpu_us_per_request", self.process_us),
            ("redis_cpu_us_per_request", self.redis_us),
            ("rest_of_box_cpu_us_per_request", self.rest_us),
        ]
    }

    /// One line of a report: `label: process …, Redis …, rest of box … µs`.
    pub fn line(&self, label: &str) -> String {
        format!(
            "  {label:<14} CPU per request: {:.1} µs here (client and server), {:.1} µs Redis, {:.1} µs the rest of the box",
            self.process_us, self.redis_us, self.rest_us
        )
    }
}

/// User and system time of this process so far (`/proc/self/stat`).
fn process_secs() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name may hold spaces; the fields after it do not.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i)?.parse::<f64>().ok();
    // utime and stime are the stat file's 14th and 15th fields.
    Some((ticks(11)? + ticks(12)?) / TICKS_PER_SEC)
}

/// Time every core spent busy so far (`/proc/stat`): all but idle and
/// waiting for I/O.
fn box_busy_secs() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let ticks: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|n| n.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest is inside user).
    let busy: f64 = ticks.iter().take(8).sum::<f64>() - ticks.get(3)? - ticks.get(4)?;
    Some(busy / TICKS_PER_SEC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_counters_of_this_process_and_box_are_read_and_grow() {
        let (process, busy) = (process_secs().unwrap(), box_busy_secs().unwrap());
        let mut x = 0u64;
        for i in 0..30_000_000u64 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
        }
        std::hint::black_box(x);
        assert!(process_secs().unwrap() > process);
        assert!(box_busy_secs().unwrap() > busy);
    }

    #[test]
    fn the_median_of_runs_is_taken_share_by_share() {
        let run = |process_us, redis_us, rest_us| CpuPerRequest {
            process_us,
            redis_us,
            rest_us,
        };
        let middle = CpuPerRequest::median(&[
            run(50.0, 4.0, 1.0),
            run(30.0, 6.0, 3.0),
            run(40.0, 5.0, 9.0),
        ])
        .unwrap();
        assert_eq!(middle.figures().map(|(_, value)| value), [40.0, 5.0, 3.0]);
        assert!(CpuPerRequest::median(&[]).is_none());
    }

    #[test]
    fn per_request_splits_the_box_into_process_redis_and_the_rest() {
        let mark = |process, busy, redis| CpuMark {
            process_secs: Some(process),
            busy_secs: Some(busy),
            redis_secs: Some(redis),
        };
        let spent = mark(1.0, 10.0, 5.0)
            .per_request(&mark(1.5, 11.0, 5.25), 1000)
            .unwrap();
        assert_eq!(spent.process_us, 500.0);
        assert_eq!(spent.redis_us, 250.0);
        assert_eq!(spent.rest_us, 250.0);
        let unread = CpuMark {
            redis_secs: None,
            ..mark(1.0, 10.0, 5.0)
        };
        assert!(unread.per_request(&mark(2.0, 12.0, 6.0), 10).is_none());
    }
}
