//! `stampede pg-sim` as its own process, for the tests that pay by card.

use super::checks::eventually;
use stampede::commands::pg_sim::PgSimConfig;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

/// `stampede pg-sim` as a separate process, killed when dropped.
pub struct PgSimProcess(std::process::Child);

impl PgSimProcess {
    pub fn cancel(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for PgSimProcess {
    fn drop(&mut self) {
        self.cancel();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts the simulator binary with `config`'s knobs and waits until it listens.
pub async fn start_pg_sim(config: &PgSimConfig) -> (PgSimProcess, u16) {
    let port = free_port();
    let knobs = [
        ("--port", port.to_string()),
        ("--secret", config.secret.clone()),
        ("--latency-min-ms", config.latency_min_ms.to_string()),
        ("--latency-max-ms", config.latency_max_ms.to_string()),
        ("--failure-rate", config.failure_rate.to_string()),
        ("--timeout-rate", config.timeout_rate.to_string()),
        ("--error-rate", config.error_rate.to_string()),
        ("--query-latency-ms", config.query_latency_ms.to_string()),
        (
            "--lost-callback-rate",
            config.lost_callback_rate.to_string(),
        ),
        (
            "--duplicate-callback-rate",
            config.duplicate_callback_rate.to_string(),
        ),
    ];
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_stampede"));
    command
        .arg("pg-sim")
        .env("STAMPEDE__LOG__LEVEL", "warn")
        .stdout(std::process::Stdio::null());
    for (flag, value) in &knobs {
        command.args([flag, value.as_str()]);
    }
    let process = PgSimProcess(command.spawn().expect("pg-sim starts"));
    let listening = eventually(WAIT, || async move {
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
    })
    .await;
    assert!(listening, "pg-sim listens on {port}");
    (process, port)
}
