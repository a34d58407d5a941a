//! Bearer-token authentication: JWTs with `sub` = user id and `role`, HS256
//! for local use or RS256/ES256 from an identity provider
//! ([`crate::token_verifier`] picks the key).
//!
//! Handlers ask for [`AuthUser`] (any valid token) or [`AdminUser`] (role
//! `admin`). A missing or invalid token answers 401, a valid token with the
//! wrong role 403, both with the JSON error body.

use crate::error::{ApiError, ErrorCode};
use crate::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A token without `role` (an identity provider's usually has none) is a
/// plain user: privilege is never assumed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    #[default]
    User,
    Admin,
}

/// The token's claims.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The user id, as a decimal string (JWT `sub` is a string).
    pub sub: String,
    #[serde(default)]
    pub role: Role,
    #[serde(default)]
    pub iat: u64,
    pub exp: u64,
}

/// Signing and verification keys, built once from `auth.jwt_secret`.
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    /// Built once: `Validation::new` allocates its claim sets on every call.
    validation: Validation,
    ttl_secs: u64,
}

impl JwtKeys {
    pub fn new(settings: &crate::AuthSettings) -> Self {
        let secret = settings.jwt_secret.expose_secret().as_bytes();
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation: Validation::new(Algorithm::HS256),
            ttl_secs: settings.token_ttl_secs,
        }
    }

    /// Mints a token for `user_id` with `role`.
    pub fn issue(&self, user_id: u64, role: Role) -> String {
        let now = jsonwebtoken::get_current_timestamp();
        let claims = Claims {
            sub: user_id.to_string(),
            role,
            iat: now,
            exp: now + self.ttl_secs,
        };
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 encoding cannot fail")
    }

    pub fn verify(&self, token: &str) -> Result<Claims, jsonwebtoken::errors::Error> {
        decode::<Claims>(token, &self.decoding, &self.validation).map(|data| data.claims)
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, Copy)]
pub struct AuthUser {
    pub user_id: u64,
    pub role: Role,
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or_else(|| {
                ApiError::unauthorized(
                    ErrorCode::MissingToken,
                    "an Authorization: Bearer token is required",
                )
            })?;
        let token = header
            .to_str()
            .ok()
            .and_then(|value| value.strip_prefix("Bearer "))
            .ok_or_else(|| {
                ApiError::unauthorized(
                    ErrorCode::InvalidToken,
                    "the Authorization header must be `Bearer <token>`",
                )
            })?;
        let claims = state.tokens.verify(token.trim()).await?;
        let user_id = claims
            .sub
            .parse::<u64>()
            .ok()
            .filter(|&id| id > 0)
            .ok_or_else(|| {
                ApiError::unauthorized(
                    ErrorCode::InvalidToken,
                    "the token's `sub` is not a user id",
                )
            })?;
        Ok(Self {
            user_id,
            role: claims.role,
        })
    }
}

/// An authenticated caller with role `admin`.
#[derive(Debug, Clone, Copy)]
pub struct AdminUser(pub AuthUser);

impl FromRequestParts<AppState> for AdminUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let user = AuthUser::from_request_parts(parts, state).await?;
        if user.role != Role::Admin {
            return Err(ApiError::forbidden("this endpoint requires the admin role"));
        }
        Ok(Self(user))
    }
}
