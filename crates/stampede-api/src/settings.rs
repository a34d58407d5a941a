//! `[http]` and `[auth]` settings.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
pub struct HttpSettings {
    pub host: String,
    /// 0 picks a free port (tests).
    pub port: u16,
    /// Larger bodies get 413.
    pub body_limit_bytes: usize,
    /// Requests worked on at once; more are answered 503 `OVERLOADED` (see
    /// [`crate::overload`]). 0: no limit.
    pub max_in_flight: usize,
}

impl HttpSettings {
    pub fn validate(&self) -> Result<(), String> {
        self.host
            .parse::<std::net::IpAddr>()
            .map_err(|_| format!("http.host `{}` is not an IP address", self.host))?;
        if self.body_limit_bytes < 1024 {
            return Err("http.body_limit_bytes must be at least 1024".into());
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct AuthSettings {
    /// HS256 signing secret; never printed.
    pub jwt_secret: SecretString,
    /// Lifetime of tokens minted by `stampede token`.
    pub token_ttl_secs: u64,
}

impl AuthSettings {
    pub fn validate(&self) -> Result<(), String> {
        if self.jwt_secret.expose_secret().len() < 32 {
            return Err("auth.jwt_secret must be at least 32 characters".into());
        }
        if self.token_ttl_secs == 0 {
            return Err("auth.token_ttl_secs must be positive".into());
        }
        Ok(())
    }
}
