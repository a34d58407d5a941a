//! The HTTP surface: health, documentation, error shape, request ids, tokens.

use crate::helpers::*;
use jsonwebtoken::{encode, EncodingKey, Header};
use secrecy::ExposeSecret;
use stampede_api::auth::{Claims, Role};
use stampede_api::error::ErrorBody;

async fn code(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: ErrorBody = response
        .json()
        .await
        .expect("every error has a {code, message} body");
    assert!(!body.message.is_empty());
    (status, body.code.as_str().to_owned())
}

fn token_with(secret: &str, sub: &str, exp_offset: i64) -> String {
    let now = jsonwebtoken::get_current_timestamp() as i64;
    let claims = Claims {
        sub: sub.into(),
        role: Role::User,
        iat: now as u64,
        exp: (now + exp_offset) as u64,
    };
    encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

#[tokio::test]
async fn health_openapi_and_the_error_shape() {
    let app = spawn_app().await;
    let health: serde_json::Value = app.get("/health", None).await.json().await.unwrap();
    assert_eq!(health["status"], "ok");

    let api: serde_json::Value = app.get("/openapi.json", None).await.json().await.unwrap();
    for path in [
        "/health",
        "/ready",
        "/metrics",
        "/users/me",
        "/admin/outbox",
        "/coupons/{id}/issue",
        "/orders",
        "/orders/{id}/payments",
        "/pg/callbacks",
    ] {
        assert!(api["paths"][path].is_object(), "{path} is documented");
    }
    assert!(api["components"]["securitySchemes"]["bearer"].is_object());
    // Error codes are a published enum a client can match on.
    let codes = api["components"]["schemas"]["ErrorCode"]["enum"]
        .as_array()
        .expect("the ErrorCode schema lists the codes");
    for known in ["NOT_FOUND", "SOLD_OUT", "MALFORMED_JSON", "OVERLOADED"] {
        assert!(codes.iter().any(|c| c == known), "{known} is listed");
    }
    assert_eq!(
        api["components"]["schemas"]["ErrorBody"]["properties"]["code"]["$ref"],
        "#/components/schemas/ErrorCode"
    );

    assert_eq!(
        code(app.get("/no/such/route", None).await).await,
        (404, "NOT_FOUND".into())
    );
    let wrong_method = app.client.delete(app.url("/health")).send().await.unwrap();
    assert_eq!(code(wrong_method).await, (405, "METHOD_NOT_ALLOWED".into()));

    let generated = app.get("/health", None).await;
    assert!(!generated.headers()["x-request-id"].is_empty());
    let echoed = app
        .client
        .get(app.url("/health"))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(echoed.headers()["x-request-id"], "abc-123");

    let metrics = app.metrics().await;
    assert!(
        metric(
            &metrics,
            "stampede_http_requests_total",
            &[("route", "/health")]
        ) >= 3.0
    );
    assert!(metrics.contains("stampede_http_request_duration_seconds_bucket"));
    assert!(metrics.contains("stampede_db_pool_connections"));
    app.stop().await;
}

#[tokio::test]
async fn bad_tokens_are_refused_with_their_codes() {
    let app = spawn_app().await;
    let secret = app.settings.auth.jwt_secret.expose_secret().to_owned();
    let me = |token: Option<String>| {
        let mut request = app.client.get(app.url("/users/me"));
        if let Some(token) = token {
            request = request.header("authorization", token);
        }
        request.send()
    };
    assert_eq!(
        code(me(None).await.unwrap()).await,
        (401, "MISSING_TOKEN".into())
    );
    assert_eq!(
        code(me(Some("Bearer garbage".into())).await.unwrap()).await,
        (401, "INVALID_TOKEN".into())
    );
    assert_eq!(
        code(me(Some("Basic dXNlcjpwYXNz".into())).await.unwrap()).await,
        (401, "INVALID_TOKEN".into())
    );
    let other_secret = token_with("another-secret-that-is-long-enough-1234", "42", 3600);
    assert_eq!(
        code(me(Some(format!("Bearer {other_secret}"))).await.unwrap()).await,
        (401, "INVALID_TOKEN".into())
    );
    let expired = token_with(&secret, "42", -3600);
    assert_eq!(
        code(me(Some(format!("Bearer {expired}"))).await.unwrap()).await,
        (401, "TOKEN_EXPIRED".into())
    );
    let not_a_user = token_with(&secret, "abc", 3600);
    assert_eq!(
        code(me(Some(format!("Bearer {not_a_user}"))).await.unwrap()).await,
        (401, "INVALID_TOKEN".into())
    );

    let fine: serde_json::Value = me(Some(format!("Bearer {}", app.token(42, Role::User))))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(fine, serde_json::json!({"user_id": 42, "role": "user"}));
    assert_eq!(
        code(
            app.get("/admin/outbox", Some(&app.token(42, Role::User)))
                .await
        )
        .await,
        (403, "FORBIDDEN".into())
    );
    let outbox: serde_json::Value = app
        .get("/admin/outbox", Some(&app.token(1, Role::Admin)))
        .await
        .json()
        .await
        .unwrap();
    assert!(outbox["pending"].is_number());
    app.stop().await;
}
