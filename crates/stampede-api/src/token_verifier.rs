//! Which key verifies a bearer token, chosen by the token's header.
//!
//! - `HS256`: the shared `auth.jwt_secret` (local use, `stampede token`); no
//!   `iss`/`aud` is required of these.
//! - `RS256` / `ES256` with a `kid`: that key from the identity provider's
//!   JWKS ([`crate::jwks`]); without a `kid` (or without a JWKS):
//!   `auth.public_key_pem`. `exp`, `iss` = `auth.issuer` and
//!   `aud` = `auth.audience` are required.
//!
//! Any other algorithm is refused: accepting `none` or letting a token pick
//! HS256 against a public key are the classic JWT forgeries.

use crate::auth::{Claims, JwtKeys};
use crate::error::ErrorCode;
use crate::jwks::{JwksKeys, KeyLookupError};
use crate::AuthSettings;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};

/// Why a token was refused; [`TokenRejection::code`] is the API's `code`.
#[derive(Debug, thiserror::Error)]
pub enum TokenRejection {
    #[error("the token has expired")]
    Expired,
    #[error("{0}")]
    UnknownKey(String),
    #[error("the token's `aud` is not this service's audience")]
    WrongAudience,
    #[error("the token's `iss` is not the configured issuer")]
    WrongIssuer,
    /// The identity provider could not be asked for its keys (503).
    #[error("{0}")]
    KeysUnavailable(String),
    #[error("{0}")]
    Invalid(String),
}

impl TokenRejection {
    /// The code of the 401 (or 503) this rejection answers.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Expired => ErrorCode::TokenExpired,
            Self::UnknownKey(_) => ErrorCode::UnknownSigningKey,
            Self::WrongAudience => ErrorCode::InvalidAudience,
            Self::WrongIssuer => ErrorCode::InvalidIssuer,
            Self::KeysUnavailable(_) => ErrorCode::SigningKeysUnavailable,
            Self::Invalid(_) => ErrorCode::InvalidToken,
        }
    }
}

impl From<jsonwebtoken::errors::Error> for TokenRejection {
    fn from(error: jsonwebtoken::errors::Error) -> Self {
        match error.kind() {
            ErrorKind::ExpiredSignature => Self::Expired,
            ErrorKind::InvalidAudience => Self::WrongAudience,
            ErrorKind::InvalidIssuer => Self::WrongIssuer,
            _ => Self::Invalid(format!("the bearer token was rejected: {error}")),
        }
    }
}

impl From<KeyLookupError> for TokenRejection {
    fn from(error: KeyLookupError) -> Self {
        match error {
            KeyLookupError::UnknownKid(_) => Self::UnknownKey(error.to_string()),
            KeyLookupError::Unavailable(_) => Self::KeysUnavailable(error.to_string()),
        }
    }
}

/// An identity provider's public key given in the configuration.
struct PemKey {
    key: DecodingKey,
    algorithm: Algorithm,
}

pub struct TokenVerifier {
    shared_secret: Option<JwtKeys>,
    pem: Option<PemKey>,
    jwks: Option<JwksKeys>,
    /// Built once (`Validation::new` allocates): `iss`, `aud` and `exp` required.
    rs256: Validation,
    es256: Validation,
}

impl TokenVerifier {
    /// Fails when `auth.public_key_pem` is neither an RSA nor an EC key.
    pub fn new(settings: &AuthSettings) -> Result<Self, String> {
        let pem = match settings.public_key_pem.trim() {
            "" => None,
            text => Some(read_pem(text.as_bytes())?),
        };
        let provider_validation = |algorithm| {
            let mut validation = Validation::new(algorithm);
            validation.set_issuer(&[&settings.issuer]);
            validation.set_audience(&[&settings.audience]);
            validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
            validation
        };
        Ok(Self {
            shared_secret: settings.has_shared_secret().then(|| JwtKeys::new(settings)),
            pem,
            jwks: (!settings.jwks_url.is_empty()).then(|| JwksKeys::new(settings)),
            rs256: provider_validation(Algorithm::RS256),
            es256: provider_validation(Algorithm::ES256),
        })
    }

    pub async fn verify(&self, token: &str) -> Result<Claims, TokenRejection> {
        // Where the shared secret is the only key, a token it verifies needs
        // no look at its header first (its validation takes HS256 alone):
        // one parse of the header per request instead of two. A token it
        // refuses goes the whole way below, for the precise rejection.
        if let (Some(keys), None, None) = (&self.shared_secret, &self.pem, &self.jwks) {
            if let Ok(claims) = keys.verify(token) {
                return Ok(claims);
            }
        }
        let header = decode_header(token)?;
        let validation = match header.alg {
            Algorithm::HS256 => {
                let keys = self.shared_secret.as_ref().ok_or_else(|| {
                    TokenRejection::UnknownKey("HS256 tokens are not accepted here".into())
                })?;
                return Ok(keys.verify(token)?);
            }
            Algorithm::RS256 => &self.rs256,
            Algorithm::ES256 => &self.es256,
            other => {
                return Err(TokenRejection::Invalid(format!(
                    "tokens signed with {other:?} are not accepted"
                )))
            }
        };
        let key = match (&header.kid, &self.jwks) {
            (Some(kid), Some(jwks)) => jwks.key(kid).await?,
            _ => match &self.pem {
                Some(pem) if pem.algorithm == header.alg => pem.key.clone(),
                _ => {
                    return Err(TokenRejection::UnknownKey(format!(
                        "no {:?} key verifies this token",
                        header.alg
                    )))
                }
            },
        };
        Ok(decode::<Claims>(token, &key, validation)?.claims)
    }
}

fn read_pem(pem: &[u8]) -> Result<PemKey, String> {
    if let Ok(key) = DecodingKey::from_rsa_pem(pem) {
        return Ok(PemKey {
            key,
            algorithm: Algorithm::RS256,
        });
    }
    DecodingKey::from_ec_pem(pem)
        .map(|key| PemKey {
            key,
            algorithm: Algorithm::ES256,
        })
        .map_err(|_| "auth.public_key_pem is neither an RSA nor an EC public key in PEM".into())
}
