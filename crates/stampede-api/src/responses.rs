//! The error statuses that many operations share, as reusable OpenAPI
//! response sets: an operation lists its own outcomes as tuples and then the
//! sets for what it takes, e.g.
//! `responses((status = 201, body = X), (status = 404, body = ErrorBody), JsonBody, Authed, Unavailable)`.
//!
//! Each set mirrors one source of refusals (an extractor, the auth guard,
//! the `Idempotency-Key` handling, the overload shield and the stores), so
//! an operation documents a status because it uses the thing that answers
//! it. Every body is [`crate::error::ErrorBody`]; its `code` says which
//! refusal it was. A status two sets share gets the same description, so
//! which set comes last does not matter.

use std::collections::BTreeMap;
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder};
use utoipa::IntoResponses;

/// Declares unit types whose [`IntoResponses`] are the given error statuses.
macro_rules! error_responses {
    ($($(#[$doc:meta])* $name:ident: [$($status:literal),+];)+) => {
        $(
            $(#[$doc])*
            pub struct $name;

            impl IntoResponses for $name {
                fn responses() -> BTreeMap<String, RefOr<Response>> {
                    [$($status),+].into_iter().map(error_response).collect()
                }
            }
        )+
    };
}

error_responses! {
    /// A JSON request body (`ApiJson` or [`crate::error::JsonBody`]): not
    /// JSON, too large, not sent as JSON, or the wrong shape.
    JsonBody: [400, 413, 415, 422];
    /// Numeric or UUID path segments that do not parse.
    PathIds: [400];
    /// A query string that does not parse.
    Query: [400];
    /// A bearer token is required (and the identity provider's keys must be reachable).
    Authed: [401, 503];
    /// A bearer token with role `admin` is required.
    Admin: [401, 403, 503];
    /// `Idempotency-Key`: malformed, still running, or reused for another request.
    Idempotent: [400, 409, 422];
    /// The overload shield shed it, or MariaDB or Redis could not be reached.
    Unavailable: [503];
}

fn error_response(status: u16) -> (String, RefOr<Response>) {
    let content = ContentBuilder::new()
        .schema(Some(Ref::from_schema_name("ErrorBody")))
        .build();
    let response = ResponseBuilder::new()
        .description(meaning(status))
        .content("application/json", content)
        .build();
    (status.to_string(), RefOr::T(response))
}

/// One description per status, naming the codes it can carry.
fn meaning(status: u16) -> &'static str {
    match status {
        400 => "Bad request: MALFORMED_JSON, INVALID_PATH, INVALID_QUERY or INVALID_IDEMPOTENCY_KEY",
        401 => "No valid bearer token: MISSING_TOKEN, INVALID_TOKEN, TOKEN_EXPIRED, …",
        403 => "The token's role may not do this: FORBIDDEN, or a code naming whose it is",
        404 => "Not found: the code names what",
        409 => "Conflict with the current state: the code says which",
        413 => "PAYLOAD_TOO_LARGE",
        415 => "UNSUPPORTED_MEDIA_TYPE: send `Content-Type: application/json`",
        422 => "Well-formed but refused: INVALID_BODY or a domain code",
        503 => "Retry later: OVERLOADED, DATABASE_UNAVAILABLE, REDIS_UNAVAILABLE, SIGNING_KEYS_UNAVAILABLE, …",
        _ => "An error",
    }
}
