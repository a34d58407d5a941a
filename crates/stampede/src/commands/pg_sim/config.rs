//! The simulator's knobs, which are also the `stampede pg-sim` flags.

use super::DEFAULT_SECRET;

const DEFAULT_HOST: &str = "127.0.0.1";
const DEFAULT_PORT: u16 = 8090;
const DEFAULT_LATENCY_MIN_MS: u64 = 100;
const DEFAULT_LATENCY_MAX_MS: u64 = 500;
const DEFAULT_FAILURE_RATE: f64 = 0.2;

/// The simulator's knobs; they are also the `stampede pg-sim` flags.
/// [`Default`] gives the same values as the flags' defaults.
#[derive(Clone, PartialEq, clap::Args)]
pub struct PgSimConfig {
    /// Address to listen on.
    #[arg(long, default_value = DEFAULT_HOST)]
    pub host: String,
    /// Port to listen on (0 picks a free one).
    #[arg(long, default_value_t = DEFAULT_PORT)]
    pub port: u16,
    /// Shared HMAC-SHA256 secret that signs the callbacks (the shop's `pg.callback_secret`).
    #[arg(
        long,
        env = "STAMPEDE_PG_SIM_SECRET",
        hide_env_values = true,
        default_value = DEFAULT_SECRET
    )]
    pub secret: String,
    /// Shortest delay between a request and its decision.
    #[arg(long, default_value_t = DEFAULT_LATENCY_MIN_MS)]
    pub latency_min_ms: u64,
    /// Longest delay between a request and its decision (uniform in between).
    #[arg(long, default_value_t = DEFAULT_LATENCY_MAX_MS)]
    pub latency_max_ms: u64,
    /// Share of transactions decided FAILED.
    #[arg(long, default_value_t = DEFAULT_FAILURE_RATE)]
    pub failure_rate: f64,
    /// Share of payment requests never answered (the transaction is still created).
    #[arg(long, default_value_t = 0.0)]
    pub timeout_rate: f64,
    /// Share of payment requests answered 500 with nothing created.
    #[arg(long, default_value_t = 0.0)]
    pub error_rate: f64,
    /// Fixed delay before answering a status query.
    #[arg(long, default_value_t = 0)]
    pub query_latency_ms: u64,
    /// Share of decided transactions whose callback is never sent.
    #[arg(long, default_value_t = 0.0)]
    pub lost_callback_rate: f64,
    /// Share of decided transactions whose callback is sent twice.
    #[arg(long, default_value_t = 0.0)]
    pub duplicate_callback_rate: f64,
    /// Seed of the random draws, for reproducible runs.
    #[arg(long)]
    pub seed: Option<u64>,
}

impl Default for PgSimConfig {
    fn default() -> Self {
        Self {
            host: DEFAULT_HOST.to_owned(),
            port: DEFAULT_PORT,
            secret: DEFAULT_SECRET.to_owned(),
            latency_min_ms: DEFAULT_LATENCY_MIN_MS,
            latency_max_ms: DEFAULT_LATENCY_MAX_MS,
            failure_rate: DEFAULT_FAILURE_RATE,
            timeout_rate: 0.0,
            error_rate: 0.0,
            query_latency_ms: 0,
            lost_callback_rate: 0.0,
            duplicate_callback_rate: 0.0,
            seed: None,
        }
    }
}

impl std::fmt::Debug for PgSimConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgSimConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("secret", &"[redacted]")
            .field("latency_min_ms", &self.latency_min_ms)
            .field("latency_max_ms", &self.latency_max_ms)
            .field("failure_rate", &self.failure_rate)
            .field("timeout_rate", &self.timeout_rate)
            .field("error_rate", &self.error_rate)
            .field("query_latency_ms", &self.query_latency_ms)
            .field("lost_callback_rate", &self.lost_callback_rate)
            .field("duplicate_callback_rate", &self.duplicate_callback_rate)
            .field("seed", &self.seed)
            .finish()
    }
}

impl PgSimConfig {
    /// Rates within [0, 1], `latency_min_ms <= latency_max_ms`, a non-empty secret.
    pub fn validate(&self) -> anyhow::Result<()> {
        for (flag, rate) in [
            ("--failure-rate", self.failure_rate),
            ("--timeout-rate", self.timeout_rate),
            ("--error-rate", self.error_rate),
            ("--lost-callback-rate", self.lost_callback_rate),
            ("--duplicate-callback-rate", self.duplicate_callback_rate),
        ] {
            anyhow::ensure!(
                (0.0..=1.0).contains(&rate),
                "{flag} must be between 0 and 1, got {rate}"
            );
        }
        anyhow::ensure!(
            self.latency_min_ms <= self.latency_max_ms,
            "--latency-min-ms ({}) must not exceed --latency-max-ms ({})",
            self.latency_min_ms,
            self.latency_max_ms
        );
        anyhow::ensure!(!self.secret.is_empty(), "--secret must not be empty");
        Ok(())
    }
}
