//! `stampede serve` as a real child process: started with a test's
//! overrides, found by the port it logs, killed with SIGKILL or stopped
//! with SIGTERM, restarted with the same settings.

use super::settings::Overrides;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};

/// How long a `serve` may take to build (connect, migrate, create topics).
const START_TIMEOUT: Duration = Duration::from_secs(120);

pub struct ServeProcess {
    pub name: String,
    pub port: u16,
    overrides: Overrides,
    args: Vec<String>,
    child: Child,
    log: PathBuf,
    starts: u32,
}

impl ServeProcess {
    /// Starts `stampede serve` named `name` and waits until it serves.
    pub async fn start(name: &str, overrides: &Overrides) -> Self {
        Self::start_with(name, overrides, &[]).await
    }

    /// The same with extra arguments (`--no-consumers`).
    pub async fn start_with(name: &str, overrides: &Overrides, args: &[&str]) -> Self {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let (child, log, port) = spawn(name, overrides, &args, 1).await;
        Self {
            name: name.to_owned(),
            port,
            overrides: overrides.clone(),
            args,
            child,
            log,
            starts: 1,
        }
    }

    /// Restarts come back on the port this run got (where a balancer
    /// looks for it), instead of a new one.
    pub fn keep_port(&mut self) {
        self.overrides.set("http.port", self.port);
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// `kill -9`: no shutdown code runs.
    pub async fn kill9(&mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }

    /// SIGTERM, then waits for the graceful stop (at most 60 s) and
    /// returns whether it exited 0.
    pub async fn terminate(&mut self) -> bool {
        if let Some(pid) = self.child.id() {
            let _ = Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .await;
        }
        match tokio::time::timeout(Duration::from_secs(60), self.child.wait()).await {
            Ok(Ok(status)) => status.success(),
            _ => {
                self.kill9().await;
                false
            }
        }
    }

    /// Starts it again with the same settings (after a kill or a stop);
    /// it may come back on another port.
    pub async fn restart(&mut self) {
        self.starts += 1;
        let (child, log, port) = spawn(&self.name, &self.overrides, &self.args, self.starts).await;
        (self.child, self.log, self.port) = (child, log, port);
    }

    /// The log of the current run (JSON lines).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Lines of a failed test's instance log that CI shows (CI keeps only the output).
const LOG_LINES_ON_FAILURE: usize = 30;

impl Drop for ServeProcess {
    /// Kills the process; when the test is failing, also prints the last
    /// warnings and errors of its log, so the output says what the instance saw.
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        if std::thread::panicking() {
            let log = self.log();
            let noted: Vec<&str> = log
                .lines()
                .filter(|line| {
                    line.contains(r#""level":"WARN""#) || line.contains(r#""level":"ERROR""#)
                })
                .collect();
            let last = &noted[noted.len().saturating_sub(LOG_LINES_ON_FAILURE)..];
            eprintln!(
                "--- {} ({}): {} warnings and errors, the last {}:",
                self.name,
                self.log.display(),
                noted.len(),
                last.len()
            );
            for line in last {
                eprintln!("{line}");
            }
        }
    }
}

fn log_path(name: &str, overrides: &Overrides, run: u32) -> PathBuf {
    let test = overrides
        .0
        .get("STAMPEDE__DATABASE__NAME")
        .cloned()
        .unwrap_or_default();
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(test);
    std::fs::create_dir_all(&dir).expect("the log folder can be made");
    dir.join(format!("{name}-{run}.log"))
}

async fn spawn(
    name: &str,
    overrides: &Overrides,
    args: &[String],
    run: u32,
) -> (Child, PathBuf, u16) {
    let log = log_path(name, overrides, run);
    let file = std::fs::File::create(&log).expect("the log file can be made");
    let mut command = Command::new(env!("CARGO_BIN_EXE_stampede"));
    command
        .arg("serve")
        .args(args)
        .envs(&overrides.0)
        .env("STAMPEDE__LOG__FORMAT", "json")
        .stdin(Stdio::null())
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .kill_on_drop(true);
    let mut child = command.spawn().expect("stampede serve starts");
    let deadline = tokio::time::Instant::now() + START_TIMEOUT;
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if let Some(port) = serving_port(&text) {
            return (child, log, port);
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "{name} exited ({status}) before serving; its log ({}):\n{text}",
                log.display()
            );
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name} did not serve within {START_TIMEOUT:?}; its log: {}",
            log.display()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The port of the "stampede is serving" line of a JSON log.
fn serving_port(log: &str) -> Option<u16> {
    log.lines()
        .filter(|line| line.contains("stampede is serving"))
        .find_map(|line| {
            let entry: serde_json::Value = serde_json::from_str(line).ok()?;
            entry["fields"]["port"].as_u64().map(|p| p as u16)
        })
}
