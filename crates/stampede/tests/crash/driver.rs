//! Clients of one pool that keep asking while the server dies and returns:
//! one request per user, every answer recorded (or that none came).

use crate::support::client::Client;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Where the server listens now.
#[derive(Clone)]
pub struct Target(pub Arc<AtomicU16>);

impl Target {
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.0.load(Ordering::SeqCst))
    }
}

/// What one request got.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// The HTTP status and the body's `code` (or the request id of a 202).
    Got(u16, String),
    /// No answer: the connection failed or was cut (the server died).
    Nothing,
}

impl Answer {
    /// An answer that says for sure whether the user won.
    pub fn definitive(&self) -> bool {
        matches!(self, Answer::Got(status, _) if *status != 503)
    }
}

/// Users of one pool and their answers, in order.
pub struct PoolDriver {
    pub path: String,
    pub answers: Mutex<BTreeMap<u64, Vec<Answer>>>,
}

impl PoolDriver {
    pub fn new(path: String) -> Arc<Self> {
        Arc::new(Self {
            path,
            answers: Mutex::default(),
        })
    }

    async fn ask(&self, client: &Client, target: &Target, user: u64) -> Answer {
        let answer = match client.post(&target.url(&self.path), user, None).await {
            Ok((status, body)) => {
                let detail = body["code"]
                    .as_str()
                    .or(body["request_id"].as_str())
                    .unwrap_or_default()
                    .to_owned();
                Answer::Got(status, detail)
            }
            Err(_) => Answer::Nothing,
        };
        self.answers
            .lock()
            .unwrap()
            .entry(user)
            .or_default()
            .push(answer.clone());
        answer
    }

    /// Users `first..` ask, `concurrency` at a time, until `stop`.
    pub async fn drive(
        self: Arc<Self>,
        client: Client,
        target: Target,
        first: u64,
        concurrency: usize,
        stop: Arc<AtomicBool>,
    ) {
        let next = Arc::new(std::sync::atomic::AtomicU64::new(first));
        let workers = (0..concurrency).map(|_| {
            let (me, client, target, next, stop) = (
                self.clone(),
                client.clone(),
                target.clone(),
                next.clone(),
                stop.clone(),
            );
            tokio::spawn(async move {
                while !stop.load(Ordering::SeqCst) {
                    let user = next.fetch_add(1, Ordering::SeqCst);
                    if me.ask(&client, &target, user).await == Answer::Nothing {
                        // The server is down; do not spin through users meanwhile.
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            })
        });
        futures::future::join_all(workers).await;
    }

    /// Asks again, until it says for sure, every user whose last request got
    /// no answer (a client retrying after a timeout).
    pub async fn retry_unanswered(&self, client: &Client, target: &Target) {
        let users: Vec<u64> = self
            .answers
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, answers)| answers.last() == Some(&Answer::Nothing))
            .map(|(user, _)| *user)
            .collect();
        for user in users {
            for _ in 0..100 {
                if self.ask(client, target, user).await.definitive() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }

    /// Each user's last answer.
    pub fn last_answers(&self) -> BTreeMap<u64, Answer> {
        self.answers
            .lock()
            .unwrap()
            .iter()
            .filter_map(|(user, answers)| Some((*user, answers.last()?.clone())))
            .collect()
    }
}
