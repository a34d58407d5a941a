//! The caller's identity, as the bearer token states it.

use crate::auth::{AuthUser, Role};
use crate::error::ApiError;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct Me {
    user_id: u64,
    role: Role,
}

/// Who the bearer token says the caller is.
#[utoipa::path(
    get, path = "/users/me", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = Me), crate::responses::Authed, crate::responses::Unavailable)
)]
pub async fn me(user: AuthUser) -> Result<Json<Me>, ApiError> {
    Ok(Json(Me {
        user_id: user.user_id,
        role: user.role,
    }))
}
