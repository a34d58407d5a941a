//! Tokens from an identity provider: the real app verifies RS256 and ES256
//! tokens against a JWKS document served by a tiny HTTP server here, with
//! keys made by the `openssl` CLI for this test run.

use crate::helpers::{spawn_app_with, TestApp};
use crate::support::settings::Overrides;
use axum::extract::State;
use axum::Json;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use stampede_api::auth::Role;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

const ISSUER: &str = "https://idp.test/";
const AUDIENCE: &str = "stampede-api";

/// A key pair made by `openssl`: the private half signs, the public half
/// goes into the JWKS (as `jwk`) or the configuration (as `public_pem`).
struct KeyPair {
    private_pem: Vec<u8>,
    public_pem: String,
    jwk: Value,
    algorithm: Algorithm,
}

fn openssl(args: &[&str]) -> Vec<u8> {
    let output = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl runs");
    assert!(output.status.success(), "openssl {args:?}: {output:?}");
    output.stdout
}

fn key_pair(dir: &Path, kid: &str, algorithm: Algorithm) -> KeyPair {
    let private = dir.join(format!("{kid}.pem"));
    let private = private.to_str().unwrap();
    let generate: &[&str] = match algorithm {
        Algorithm::RS256 => &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
        _ => &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
    };
    openssl(&[&["genpkey"], generate, &["-out", private]].concat());
    let public_pem = String::from_utf8(openssl(&["pkey", "-in", private, "-pubout"])).unwrap();
    let jwk = match algorithm {
        Algorithm::RS256 => {
            let modulus =
                String::from_utf8(openssl(&["rsa", "-in", private, "-noout", "-modulus"])).unwrap();
            let n = hex::decode(modulus.trim().trim_start_matches("Modulus=")).unwrap();
            json!({"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig",
                   "n": URL_SAFE_NO_PAD.encode(n), "e": "AQAB"})
        }
        _ => {
            // A P-256 SubjectPublicKeyInfo ends with the point 04 || x || y.
            let der = openssl(&["pkey", "-in", private, "-pubout", "-outform", "DER"]);
            let point = &der[der.len() - 65..];
            assert_eq!(point[0], 4, "an uncompressed point");
            json!({"kty": "EC", "kid": kid, "alg": "ES256", "use": "sig", "crv": "P-256",
                   "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
                   "y": URL_SAFE_NO_PAD.encode(&point[33..])})
        }
    };
    KeyPair {
        private_pem: std::fs::read(private).unwrap(),
        public_pem,
        jwk,
        algorithm,
    }
}

impl KeyPair {
    /// A token for user 42 with these claims changed (`exp` in seconds from now).
    fn sign(&self, kid: Option<&str>, exp_in: i64, iss: &str, aud: &str) -> String {
        let encoding = match self.algorithm {
            Algorithm::RS256 => EncodingKey::from_rsa_pem(&self.private_pem),
            _ => EncodingKey::from_ec_pem(&self.private_pem),
        }
        .unwrap();
        let mut header = Header::new(self.algorithm);
        header.kid = kid.map(str::to_owned);
        let now = jsonwebtoken::get_current_timestamp() as i64;
        let claims = json!({"sub": "42", "iss": iss, "aud": aud, "iat": now, "exp": now + exp_in});
        encode(&header, &claims, &encoding).unwrap()
    }

    fn good(&self, kid: Option<&str>) -> String {
        self.sign(kid, 600, ISSUER, AUDIENCE)
    }
}

/// The identity provider's JWKS endpoint: serves `keys`, counts fetches.
#[derive(Clone, Default)]
struct Jwks {
    keys: Arc<Mutex<Vec<Value>>>,
    fetches: Arc<AtomicUsize>,
}

impl Jwks {
    async fn serve(&self) -> String {
        async fn document(State(jwks): State<Jwks>) -> Json<Value> {
            jwks.fetches.fetch_add(1, Ordering::SeqCst);
            Json(json!({"keys": *jwks.keys.lock().unwrap()}))
        }
        let app = axum::Router::new()
            .route("/.well-known/jwks.json", axum::routing::get(document))
            .with_state(self.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://{}/.well-known/jwks.json",
            listener.local_addr().unwrap()
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        url
    }

    fn publish(&self, key: &KeyPair) {
        self.keys.lock().unwrap().push(key.jwk.clone());
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

async fn spawn_app_trusting(jwks_url: &str, pem: &str, min_refetch_secs: u64) -> TestApp {
    let mut overrides = Overrides::unique();
    overrides
        .set("auth.jwks_url", jwks_url)
        .set("auth.public_key_pem", pem)
        .set("auth.issuer", ISSUER)
        .set("auth.audience", AUDIENCE)
        .set("auth.jwks_min_refetch_secs", min_refetch_secs);
    spawn_app_with(overrides.settings(), vec![]).await
}

/// `GET /users/me` with `token`: the status, and the error code or user id.
async fn who(app: &TestApp, token: &str) -> (u16, Value) {
    let response = app.get("/users/me", Some(token)).await;
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    (
        status,
        if status == 200 {
            body["user_id"].clone()
        } else {
            body["code"].clone()
        },
    )
}

#[tokio::test]
async fn identity_provider_tokens_are_verified_with_issuer_audience_and_expiry() {
    let dir = tempdir();
    let rsa = key_pair(&dir, "rsa-1", Algorithm::RS256);
    let ec = key_pair(&dir, "ec-1", Algorithm::ES256);
    let stranger = key_pair(&dir, "stranger", Algorithm::RS256);
    let jwks = Jwks::default();
    jwks.publish(&rsa);
    let url = jwks.serve().await;
    // The EC key is configured as PEM only: tokens without `kid` use it.
    let app = spawn_app_trusting(&url, &ec.public_pem, 3600).await;

    assert_eq!(who(&app, &rsa.good(Some("rsa-1"))).await, (200, json!(42)));
    assert_eq!(who(&app, &ec.good(None)).await, (200, json!(42)));
    // The development HS256 tokens still work beside them.
    assert_eq!(who(&app, &app.token(7, Role::User)).await, (200, json!(7)));

    let expired = rsa.sign(Some("rsa-1"), -3600, ISSUER, AUDIENCE);
    assert_eq!(who(&app, &expired).await, (401, json!("TOKEN_EXPIRED")));
    let wrong_audience = rsa.sign(Some("rsa-1"), 600, ISSUER, "another-api");
    assert_eq!(
        who(&app, &wrong_audience).await,
        (401, json!("INVALID_AUDIENCE"))
    );
    let wrong_issuer = rsa.sign(Some("rsa-1"), 600, "https://evil.test/", AUDIENCE);
    assert_eq!(
        who(&app, &wrong_issuer).await,
        (401, json!("INVALID_ISSUER"))
    );
    // Signed by a key the provider never published, under a kid it did.
    let forged = stranger.good(Some("rsa-1"));
    assert_eq!(who(&app, &forged).await, (401, json!("INVALID_TOKEN")));

    // An unknown kid right after a fetch: refused without asking the
    // provider again (auth.jwks_min_refetch_secs).
    let fetches = jwks.fetches();
    for _ in 0..3 {
        let unknown = stranger.good(Some("stranger"));
        assert_eq!(
            who(&app, &unknown).await,
            (401, json!("UNKNOWN_SIGNING_KEY"))
        );
    }
    assert_eq!(jwks.fetches(), fetches, "a recent fetch is not repeated");
    // A key configured for ES256 verifies no RS256 token without a kid.
    assert_eq!(
        who(&app, &stranger.good(None)).await,
        (401, json!("UNKNOWN_SIGNING_KEY"))
    );
}

#[tokio::test]
async fn a_rotated_in_key_is_fetched_on_its_first_token() {
    let dir = tempdir();
    let rsa = key_pair(&dir, "rsa-1", Algorithm::RS256);
    let ec = key_pair(&dir, "ec-2", Algorithm::ES256);
    let jwks = Jwks::default();
    jwks.publish(&rsa);
    let url = jwks.serve().await;
    let app = spawn_app_trusting(&url, "", 0).await;

    assert_eq!(who(&app, &rsa.good(Some("rsa-1"))).await, (200, json!(42)));
    assert_eq!(
        who(&app, &ec.good(Some("ec-2"))).await,
        (401, json!("UNKNOWN_SIGNING_KEY"))
    );
    // The provider publishes its new key: the next token with it refetches.
    jwks.publish(&ec);
    assert_eq!(who(&app, &ec.good(Some("ec-2"))).await, (200, json!(42)));
    let fetches = jwks.fetches();
    assert_eq!(who(&app, &ec.good(Some("ec-2"))).await, (200, json!(42)));
    assert_eq!(jwks.fetches(), fetches, "a cached key needs no fetch");
}

fn tempdir() -> std::path::PathBuf {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("idp-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
