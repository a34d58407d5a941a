//! An identity provider's signing keys, fetched from its JWKS document and
//! cached by `kid`.
//!
//! # Format
//!
//! `GET auth.jwks_url` answers `{"keys": [{"kty": "RSA", "kid": "k1", "n": "…",
//! "e": "AQAB"}, {"kty": "EC", "crv": "P-256", "kid": "k2", "x": "…", "y": "…"}]}`
//! (RFC 7517). A key the library cannot read is skipped with a warning, so
//! one exotic key does not lock everybody out.
//!
//! Keys live `auth.jwks_cache_secs`. A token whose `kid` is not cached
//! refetches the document (the provider rotated its keys), at most once per
//! `auth.jwks_min_refetch_secs`: forged `kid`s cost one fetch, not one each.

use crate::AuthSettings;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::DecodingKey;
use std::time::{Duration, Instant};

/// A JWKS fetch may take this long; a slow provider must not hold requests.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// Why no key could be found for a `kid`.
#[derive(Debug, thiserror::Error)]
pub enum KeyLookupError {
    #[error("no signing key has kid `{0}`")]
    UnknownKid(String),
    #[error("the identity provider's keys could not be fetched: {0}")]
    Unavailable(String),
}

pub struct JwksKeys {
    url: String,
    http: reqwest::Client,
    keys: moka::future::Cache<String, DecodingKey>,
    min_refetch: Duration,
    /// When the document was last asked for; the lock also makes
    /// concurrent misses wait for one fetch instead of each starting one.
    last_fetch: tokio::sync::Mutex<Option<Instant>>,
}

#[derive(serde::Deserialize)]
struct JwksDocument {
    keys: Vec<serde_json::Value>,
}

impl JwksKeys {
    pub fn new(settings: &AuthSettings) -> Self {
        Self {
            url: settings.jwks_url.clone(),
            http: reqwest::Client::builder()
                .timeout(FETCH_TIMEOUT)
                .build()
                .expect("a reqwest client builds"),
            keys: moka::future::Cache::builder()
                .max_capacity(1_000)
                .time_to_live(Duration::from_secs(settings.jwks_cache_secs))
                .build(),
            min_refetch: Duration::from_secs(settings.jwks_min_refetch_secs),
            last_fetch: tokio::sync::Mutex::new(None),
        }
    }

    /// The key named `kid`, fetching the document when it is not cached.
    pub async fn key(&self, kid: &str) -> Result<DecodingKey, KeyLookupError> {
        if let Some(key) = self.keys.get(kid).await {
            return Ok(key);
        }
        let mut last_fetch = self.last_fetch.lock().await;
        // Another request may have fetched while this one waited.
        if let Some(key) = self.keys.get(kid).await {
            return Ok(key);
        }
        let due = last_fetch.is_none_or(|at| at.elapsed() >= self.min_refetch);
        if !due {
            return Err(KeyLookupError::UnknownKid(kid.to_owned()));
        }
        *last_fetch = Some(Instant::now());
        self.fetch().await?;
        metrics::counter!("stampede_auth_jwks_fetches_total").increment(1);
        self.keys
            .get(kid)
            .await
            .ok_or_else(|| KeyLookupError::UnknownKid(kid.to_owned()))
    }

    /// Reads the document and caches every key that has a `kid`.
    async fn fetch(&self) -> Result<(), KeyLookupError> {
        let unavailable = |error: reqwest::Error| KeyLookupError::Unavailable(error.to_string());
        let document: JwksDocument = self
            .http
            .get(&self.url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(unavailable)?
            .json()
            .await
            .map_err(unavailable)?;
        for value in document.keys {
            let parsed = serde_json::from_value::<Jwk>(value)
                .map_err(|e| e.to_string())
                .and_then(|jwk| {
                    let key = DecodingKey::from_jwk(&jwk).map_err(|e| e.to_string())?;
                    Ok((jwk.common.key_id, key))
                });
            match parsed {
                Ok((Some(kid), key)) => self.keys.insert(kid, key).await,
                Ok((None, _)) => tracing::warn!(url = %self.url, "skipping a JWKS key without kid"),
                Err(error) => {
                    tracing::warn!(url = %self.url, %error, "skipping an unreadable JWKS key")
                }
            }
        }
        Ok(())
    }
}
