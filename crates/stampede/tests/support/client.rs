//! A test's HTTP client for Stampede processes: tokens, and the few setups
//! every end-to-end test needs (a coupon policy, a product, points, an order).

use stampede::configuration::Settings;
use stampede_api::auth::{JwtKeys, Role};
use std::time::Duration;

/// A coupon policy of `stock` in `mode` (`GATE`, `QUEUE`, `DB_LOCK`) whose
/// issue window is on, as `POST /admin/coupon-policies` takes it.
pub fn policy_body(stock: u64, mode: &str) -> serde_json::Value {
    let now = chrono::Utc::now();
    serde_json::json!({
        "name": "flash",
        "discount": {"kind": "FIXED", "amount": 1000},
        "total_stock": stock,
        "issue_window": {"opens_at": now - chrono::Duration::minutes(1), "closes_at": now + chrono::Duration::hours(1)},
        "valid_days": 30,
        "issue_mode": mode,
    })
}

#[derive(Clone)]
pub struct Client {
    pub http: reqwest::Client,
    keys: std::sync::Arc<JwtKeys>,
}

impl Client {
    pub fn new(settings: &Settings) -> Self {
        Self {
            // No request may hang a test; a process killed mid-request is an error.
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("a reqwest client builds"),
            keys: std::sync::Arc::new(JwtKeys::new(&settings.auth)),
        }
    }

    pub fn token(&self, user: u64, role: Role) -> String {
        self.keys.issue(user, role)
    }

    /// POST as `user` (an admin when `user` is 1); the status and the JSON body.
    pub async fn post(
        &self,
        url: &str,
        user: u64,
        body: Option<serde_json::Value>,
    ) -> reqwest::Result<(u16, serde_json::Value)> {
        let role = if user == 1 { Role::Admin } else { Role::User };
        let mut request = self.http.post(url).bearer_auth(self.token(user, role));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        Ok((status, response.json().await.unwrap_or_default()))
    }

    /// GET `url`, as `user` when given; the JSON body.
    pub async fn get_json(&self, url: &str, user: Option<u64>) -> serde_json::Value {
        let mut request = self.http.get(url);
        if let Some(user) = user {
            request = request.bearer_auth(self.token(user, Role::User));
        }
        let response = request.send().await.expect("request sent");
        response.json().await.expect("a JSON body")
    }

    async fn created(&self, url: String, body: serde_json::Value) -> serde_json::Value {
        let (status, created) = self.post(&url, 1, Some(body)).await.expect("request sent");
        assert!(status == 200 || status == 201, "{url}: {status} {created}");
        created
    }

    /// Creates and opens a gate-mode coupon policy with `stock` units; its id.
    pub async fn open_policy(&self, base: &str, stock: u64) -> u64 {
        self.open_policy_in(base, stock, "GATE").await
    }

    /// The same in `mode` (`GATE`, `QUEUE`, `DB_LOCK`).
    pub async fn open_policy_in(&self, base: &str, stock: u64, mode: &str) -> u64 {
        let body = policy_body(stock, mode);
        let created = self
            .created(format!("{base}/admin/coupon-policies"), body)
            .await;
        let id = created["id"].as_u64().unwrap();
        self.created(
            format!("{base}/admin/coupon-policies/{id}/open"),
            serde_json::json!({}),
        )
        .await;
        id
    }

    /// Creates and opens a campaign with `slots` winning entries; its id.
    pub async fn open_campaign(&self, base: &str, slots: u64) -> u64 {
        let now = chrono::Utc::now();
        let body = serde_json::json!({
            "name": "raffle",
            "total_slots": slots,
            "window": {"opens_at": now - chrono::Duration::minutes(1), "closes_at": now + chrono::Duration::hours(1)},
        });
        let created = self.created(format!("{base}/admin/campaigns"), body).await;
        let id = created["id"].as_u64().unwrap();
        self.created(
            format!("{base}/admin/campaigns/{id}/open"),
            serde_json::json!({}),
        )
        .await;
        id
    }

    /// A concert on sale with one schedule of `seats` seats at `price`:
    /// (concert id, schedule id).
    pub async fn concert(&self, base: &str, seats: u32, price: u64) -> (u64, u64) {
        let now = chrono::Utc::now();
        let body = serde_json::json!({"title": "Stampede Live", "schedules": [{
            "starts_at": now + chrono::Duration::days(30),
            "venue": "Hall",
            "booking_opens_at": now - chrono::Duration::seconds(1),
            "seats": [{"grade": "R", "price": price, "count": seats}],
        }]});
        let created = self.created(format!("{base}/admin/concerts"), body).await;
        (
            created["id"].as_u64().unwrap(),
            created["schedules"][0]["id"].as_u64().unwrap(),
        )
    }

    /// A product with `options` options priced 1000 and `stock` each; the option ids.
    pub async fn product(&self, base: &str, options: usize, stock: u64) -> Vec<u64> {
        let options: Vec<serde_json::Value> = (0..options)
            .map(
                |n| serde_json::json!({"name": format!("size {n}"), "price": 1000, "stock": stock}),
            )
            .collect();
        let body = serde_json::json!({"name": "sneaker", "options": options});
        let created = self.created(format!("{base}/admin/products"), body).await;
        created["option_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect()
    }

    /// Gives `user` `amount` points through the admin grant (user 1 is the admin).
    pub async fn grant_points(&self, base: &str, user: u64, amount: u64) {
        let url = format!("{base}/admin/users/{user}/points/grants");
        let body = serde_json::json!({"amount": amount, "reason": "test setup"});
        let (status, body) = self.post(&url, 1, Some(body)).await.expect("request sent");
        assert_eq!(status, 201, "{body}");
    }

    /// A PENDING order of one unit of `option` by `user`; its id.
    pub async fn order(&self, base: &str, user: u64, option: u64) -> u64 {
        let body =
            serde_json::json!({"items": [{"option_id": option, "quantity": 1}], "coupon_ids": []});
        let (status, created) = self
            .post(&format!("{base}/orders"), user, Some(body))
            .await
            .expect("request sent");
        assert_eq!(status, 201, "{created}");
        created["id"].as_u64().unwrap()
    }
}
