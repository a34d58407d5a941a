//! The local Apache Kafka brokers a test stops and starts: the three-node
//! cluster of `scripts/cluster.sh` and private single brokers run by
//! `scripts/broker.sh`, each a real JVM process.

use std::path::PathBuf;

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the repository root exists")
}

/// Which broker provisioning started (`.stampede/broker`), if it said.
pub fn provisioned_broker() -> Option<String> {
    std::fs::read_to_string(repo_root().join(".stampede/broker"))
        .ok()
        .map(|s| s.trim().to_owned())
}

/// Why Apache Kafka brokers cannot be started here, or `None` when they can.
pub fn apache_kafka_unavailable() -> Option<String> {
    if let Some(broker) = provisioned_broker().filter(|b| b.starts_with("tansu")) {
        return Some(format!(
            "provisioning fell back to {broker} (no Java 17 or Maven Central)"
        ));
    }
    let java = std::process::Command::new("java").arg("-version").output();
    if !java.is_ok_and(|o| o.status.success()) {
        return Some("java is not installed".into());
    }
    None
}

/// Whether the dev broker counts offsets record by record, as Apache Kafka
/// does (tansu's memory engine counts its high watermark in batches).
pub fn dev_broker_has_exact_offsets() -> bool {
    !provisioned_broker().is_some_and(|b| b.starts_with("tansu"))
}

/// Returns from the calling test, saying why, when `$unavailable` is `Some`.
#[macro_export]
macro_rules! skip_if {
    ($unavailable:expr) => {
        if let Some(why) = $unavailable {
            eprintln!("skipped: {why}");
            return;
        }
    };
}

pub async fn script(name: &str, args: &[&str], env: &[(&str, String)]) {
    let mut command = tokio::process::Command::new("bash");
    command
        .arg(repo_root().join("scripts").join(name))
        .args(args);
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output().await.expect("bash runs");
    assert!(
        output.status.success(),
        "scripts/{name} {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The three-node cluster (replication 3, `min.insync.replicas` 2).
pub struct Cluster;

impl Cluster {
    pub const BOOTSTRAP: &'static str = "127.0.0.1:19092,127.0.0.1:29092,127.0.0.1:39092";

    /// Starts whichever nodes are not running and waits until all three serve.
    pub async fn up() -> Self {
        script("cluster.sh", &["up"], &[]).await;
        Self
    }

    /// `kill -9` of node `n` (1–3).
    pub async fn kill(&self, n: u8) {
        script("cluster.sh", &["kill", &n.to_string()], &[]).await;
    }

    /// Starts node `n` and waits until it serves.
    pub async fn start(&self, n: u8) {
        script("cluster.sh", &["start", &n.to_string()], &[]).await;
    }
}

/// A single-node broker of its own, configured as the dev broker, on `port`
/// (data kept under `.stampede/kafka/<name>` across runs).
pub struct PrivateBroker {
    port: u16,
    dir: PathBuf,
}

impl PrivateBroker {
    pub async fn start(name: &str, port: u16) -> Self {
        let broker = Self {
            port,
            dir: repo_root().join(".stampede/kafka").join(name),
        };
        broker.run("start").await;
        broker
    }

    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// What tells scripts/broker.sh which broker it runs.
    fn env(&self) -> [(&'static str, String); 2] {
        [
            ("STAMPEDE_KAFKA_PORT", self.port.to_string()),
            ("STAMPEDE_BROKER_DIR", self.dir.display().to_string()),
        ]
    }

    async fn run(&self, command: &str) {
        script("broker.sh", &[command], &self.env()).await;
    }

    /// Graceful stop (SIGTERM); its data stays.
    pub async fn stop(&self) {
        self.run("stop").await;
    }

    pub async fn restart(&self) {
        self.run("start").await;
    }
}

impl Drop for PrivateBroker {
    /// Stops the broker with its test (synchronously: a drop cannot await),
    /// so a JVM with a gigabyte of heap does not run beside the tests that
    /// come after it.
    fn drop(&mut self) {
        let _ = std::process::Command::new("bash")
            .arg(repo_root().join("scripts/broker.sh"))
            .arg("stop")
            .envs(self.env())
            .output();
    }
}
