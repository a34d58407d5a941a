//! The demo's HTTP client: the running server, seen as a client sees it;
//! with several instances (a fleet), as a round-robin load balancer would
//! spread the requests.

use anyhow::Context;
use reqwest::Method;
use stampede_api::auth::{JwtKeys, Role};
use std::sync::atomic::{AtomicUsize, Ordering};

/// An answer: status and JSON body (`null` when there is none).
pub type Answer = (u16, serde_json::Value);

pub struct Api {
    http: reqwest::Client,
    /// One base URL per instance (at least one).
    urls: Vec<String>,
    next: AtomicUsize,
    keys: JwtKeys,
}

impl Api {
    pub fn new(urls: Vec<String>, keys: JwtKeys) -> Self {
        assert!(!urls.is_empty(), "the demo needs a server");
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .expect("a reqwest client builds");
        Self {
            http,
            urls,
            next: AtomicUsize::new(0),
            keys,
        }
    }

    /// The instances, for messages.
    pub fn urls(&self) -> &[String] {
        &self.urls
    }

    /// The instance the next request goes to.
    fn pick(&self) -> &str {
        &self.urls[self.next.fetch_add(1, Ordering::Relaxed) % self.urls.len()]
    }

    pub fn token(&self, user: u64, role: Role) -> String {
        self.keys.issue(user, role)
    }

    /// Sends `body` to `path` as `user` (with `role`), plus `headers`.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        user: Option<(u64, Role)>,
        body: Option<serde_json::Value>,
        headers: &[(&str, &str)],
    ) -> anyhow::Result<Answer> {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.pick()));
        if let Some((id, role)) = user {
            request = request.bearer_auth(self.token(id, role));
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("{method} {path}"))?;
        let status = response.status().as_u16();
        Ok((status, response.json().await.unwrap_or_default()))
    }

    /// POST as a user; `Ok` only for a 2xx answer.
    pub async fn post_ok(
        &self,
        path: &str,
        user: (u64, Role),
        body: serde_json::Value,
    ) -> anyhow::Result<serde_json::Value> {
        let (status, answer) = self
            .call(Method::POST, path, Some(user), Some(body), &[])
            .await?;
        anyhow::ensure!(
            (200..300).contains(&status),
            "POST {path} answered {status}: {answer}"
        );
        Ok(answer)
    }

    /// Gives `user` `amount` points as the admin (user 1) would for support.
    pub async fn grant_points(&self, user: u64, amount: u64, reason: &str) -> anyhow::Result<()> {
        let path = format!("/admin/users/{user}/points/grants");
        let body = serde_json::json!({"amount": amount, "reason": reason});
        self.post_ok(&path, (1, Role::Admin), body).await?;
        Ok(())
    }

    pub async fn get(&self, path: &str, user: Option<(u64, Role)>) -> anyhow::Result<Answer> {
        self.call(Method::GET, path, user, None, &[]).await
    }

    /// GET `path` from the instance at `url` (not spread).
    pub async fn get_from(&self, url: &str, path: &str) -> anyhow::Result<Answer> {
        let response = self.http.get(format!("{url}{path}")).send().await?;
        let status = response.status().as_u16();
        Ok((status, response.json().await.unwrap_or_default()))
    }

    /// Every instance's `/metrics` text, one after the other: a sum over
    /// it ([`metric_sum`]) is the fleet's.
    pub async fn metrics(&self) -> anyhow::Result<String> {
        let mut text = String::new();
        for url in &self.urls {
            let page = self.http.get(format!("{url}/metrics")).send().await?;
            text.push_str(&page.text().await?);
            text.push('\n');
        }
        Ok(text)
    }
}

/// Sum of every sample of `name` in Prometheus text.
pub fn metric_sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter(|line| line.split(['{', ' ']).next() == Some(name))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}
