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

/// The HS256 secret committed in `config/default.toml`: anybody can sign
/// tokens with it, so `serve` refuses it unless the profile is `local`.
pub const DEVELOPMENT_JWT_SECRET: &str = "stampede-local-development-secret-change-me";

#[derive(Debug, Clone, Deserialize)]
pub struct AuthSettings {
    /// HS256 signing secret; never printed. Empty turns HS256 off (only
    /// allowed when an identity provider's key is configured).
    pub jwt_secret: SecretString,
    /// Lifetime of tokens minted by `stampede token`.
    pub token_ttl_secs: u64,
    /// An identity provider's JWKS document (RS256/ES256 keys by `kid`);
    /// empty: none.
    pub jwks_url: String,
    /// One RS256 or ES256 public key in PEM, for tokens without a `kid` (or
    /// when there is no JWKS); empty: none.
    pub public_key_pem: String,
    /// The `iss` every RS256/ES256 token must carry.
    pub issuer: String,
    /// The `aud` every RS256/ES256 token must carry.
    pub audience: String,
    /// How long JWKS keys are trusted before they are fetched again.
    pub jwks_cache_secs: u64,
    /// A token with an unknown `kid` refetches the JWKS at most this often,
    /// so a stream of forged `kid`s cannot hammer the identity provider.
    pub jwks_min_refetch_secs: u64,
}

impl AuthSettings {
    pub fn validate(&self) -> Result<(), String> {
        let secret = self.jwt_secret.expose_secret();
        if !secret.is_empty() && secret.len() < 32 {
            return Err("auth.jwt_secret must be at least 32 characters".into());
        }
        if self.token_ttl_secs == 0 {
            return Err("auth.token_ttl_secs must be positive".into());
        }
        if self.has_identity_provider() {
            if self.issuer.is_empty() {
                return Err(
                    "auth.issuer must be set with auth.jwks_url or auth.public_key_pem".into(),
                );
            }
            if self.audience.is_empty() {
                return Err(
                    "auth.audience must be set with auth.jwks_url or auth.public_key_pem".into(),
                );
            }
        } else if secret.is_empty() {
            return Err(
                "auth.jwt_secret may be empty only with auth.jwks_url or auth.public_key_pem"
                    .into(),
            );
        }
        let is_http = ["http://", "https://"]
            .iter()
            .any(|scheme| self.jwks_url.starts_with(scheme));
        if !self.jwks_url.is_empty() && !is_http {
            return Err(format!(
                "auth.jwks_url `{}` is not an http(s) URL",
                self.jwks_url
            ));
        }
        if self.jwks_cache_secs == 0 {
            return Err("auth.jwks_cache_secs must be positive".into());
        }
        Ok(())
    }

    /// Whether RS256/ES256 tokens from an identity provider are accepted.
    pub fn has_identity_provider(&self) -> bool {
        !self.jwks_url.is_empty() || !self.public_key_pem.is_empty()
    }

    /// Whether HS256 tokens are accepted (and `stampede token` can mint them).
    pub fn has_shared_secret(&self) -> bool {
        !self.jwt_secret.expose_secret().is_empty()
    }

    /// Whether the secret is the committed one anybody can read.
    pub fn uses_development_secret(&self) -> bool {
        self.jwt_secret.expose_secret() == DEVELOPMENT_JWT_SECRET
    }
}
