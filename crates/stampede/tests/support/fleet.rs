//! Several `stampede serve` processes sharing one database, Redis and Kafka,
//! and the load balancer in front of them: a TCP round robin that passes
//! over an instance that does not take the connection (stopped, restarting).

use super::serve::ServeProcess;
use super::settings::Overrides;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

pub struct Fleet {
    pub instances: Vec<ServeProcess>,
}

impl Fleet {
    /// Starts `count` instances with `overrides`, each on a port the
    /// system gives it (a port picked beforehand could be taken by another
    /// socket before the instance binds it), kept across restarts (where the
    /// balancer looks for it). The first starts alone, as an operator's
    /// first would: it creates the database, migrates and creates the topics
    /// the others then find.
    pub async fn start(count: usize, overrides: &Overrides) -> Self {
        let mut own = overrides.clone();
        own.set("http.port", 0);
        let mut instances = vec![ServeProcess::start("serve-1", &own).await];
        let names: Vec<String> = (2..=count).map(|n| format!("serve-{n}")).collect();
        let others =
            futures::future::join_all(names.iter().map(|name| ServeProcess::start(name, &own)))
                .await;
        instances.extend(others);
        for instance in &mut instances {
            instance.keep_port();
        }
        Self { instances }
    }

    pub fn ports(&self) -> Vec<u16> {
        self.instances.iter().map(|i| i.port).collect()
    }

    /// `path` on instance `n` (0-based).
    pub fn url(&self, n: usize, path: &str) -> String {
        self.instances[n % self.instances.len()].url(path)
    }
}

/// A round-robin TCP balancer on a port of its own, stopped when dropped.
/// Bound first, so the instances can be told its address (the PG's
/// callback URL), and then pointed at them.
pub struct Balancer {
    pub port: u16,
    listener: Option<tokio::net::TcpListener>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Balancer {
    /// Listens now on a free port; forwards nothing until [`Balancer::serve`].
    pub async fn bind() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self {
            port: listener.local_addr().unwrap().port(),
            listener: Some(listener),
            task: None,
        }
    }

    /// Forwards each connection to the next of `backends` that accepts it.
    pub fn serve(&mut self, backends: Vec<u16>) {
        let listener = self.listener.take().expect("served once");
        let next = Arc::new(AtomicUsize::new(0));
        let backends = Arc::new(backends);
        self.task = Some(tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let (backends, next) = (backends.clone(), next.clone());
                tokio::spawn(async move {
                    let first = next.fetch_add(1, Ordering::Relaxed);
                    for k in 0..backends.len() {
                        let port = backends[(first + k) % backends.len()];
                        if let Ok(mut outbound) =
                            tokio::net::TcpStream::connect(("127.0.0.1", port)).await
                        {
                            let _ =
                                tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                            return;
                        }
                    }
                });
            }
        }));
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}
