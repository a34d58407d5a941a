//! The catalog (admin) and users' points.

use crate::auth::{AdminUser, AuthUser};
use crate::error::{ApiError, ApiJson, ApiPath, ErrorBody, ErrorCode};
use crate::responses::{Admin, Authed, JsonBody, PathIds, Unavailable};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use stampede_infra::mysql::catalog;
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewOption {
    #[schema(min_length = 1, max_length = 200)]
    name: String,
    #[schema(maximum = 100_000_000)]
    price: u64,
    #[schema(maximum = 100_000_000)]
    stock: u64,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateProduct {
    #[schema(min_length = 1, max_length = 200)]
    name: String,
    /// Set for campaign products: buying requires a winning entry.
    campaign_id: Option<u64>,
    #[schema(min_items = 1, max_items = 50)]
    options: Vec<NewOption>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProductCreated {
    product_id: u64,
    option_ids: Vec<u64>,
}

const MAX_PRICE: u64 = 100_000_000;

/// Creates a product with its options (admin).
#[utoipa::path(post, path = "/admin/products", tag = "catalog", security(("bearer" = [])),
    request_body = CreateProduct,
    responses((status = 201, body = ProductCreated), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
        JsonBody, Admin, Unavailable))]
pub async fn create_product(
    _admin: AdminUser,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CreateProduct>,
) -> Result<(StatusCode, Json<ProductCreated>), ApiError> {
    let invalid = |m: &str| ApiError::unprocessable(ErrorCode::InvalidBody, m);
    let name_ok = |n: &str| !n.trim().is_empty() && n.chars().count() <= 200;
    if !name_ok(&body.name) {
        return Err(invalid("name must be 1-200 characters"));
    }
    if body.options.is_empty() || body.options.len() > 50 {
        return Err(invalid("a product needs 1-50 options"));
    }
    if body
        .options
        .iter()
        .any(|o| !name_ok(&o.name) || o.price > MAX_PRICE || o.stock > MAX_PRICE)
    {
        return Err(invalid(
            "every option needs a 1-200 character name, and price and stock of at most 100000000",
        ));
    }
    if let Some(campaign) = body.campaign_id {
        if stampede_infra::mysql::campaigns::find_campaign(&state.infra.pool, campaign)
            .await?
            .is_none()
        {
            return Err(ApiError::not_found(
                ErrorCode::CampaignNotFound,
                format!("no campaign {campaign}"),
            ));
        }
    }
    let options: Vec<(String, u64, u64)> = body
        .options
        .iter()
        .map(|o| (o.name.trim().to_owned(), o.price, o.stock))
        .collect();
    let (product_id, option_ids) = catalog::create_product(
        &state.infra.pool,
        body.name.trim(),
        body.campaign_id,
        &options,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(ProductCreated {
            product_id,
            option_ids,
        }),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct SetStock {
    #[schema(maximum = 100_000_000)]
    stock: u64,
}

/// Sets an option's stock (admin).
#[utoipa::path(put, path = "/admin/options/{id}/stock", tag = "catalog", security(("bearer" = [])),
    params(("id" = u64, Path)), request_body = SetStock,
    responses((status = 200, body = StockSet), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
        JsonBody, PathIds, Admin, Unavailable))]
pub async fn set_stock(
    _admin: AdminUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<u64>,
    ApiJson(body): ApiJson<SetStock>,
) -> Result<Json<StockSet>, ApiError> {
    if body.stock > MAX_PRICE {
        return Err(ApiError::unprocessable(
            ErrorCode::InvalidBody,
            "stock must be at most 100000000",
        ));
    }
    if !catalog::set_stock(&state.infra.pool, id, body.stock).await? {
        return Err(ApiError::not_found(
            ErrorCode::OptionNotFound,
            format!("no option {id}"),
        ));
    }
    Ok(Json(StockSet {
        option_id: id,
        stock: body.stock,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StockSet {
    option_id: u64,
    stock: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Balance {
    pub(crate) balance: u64,
}

/// The caller's points balance.
#[utoipa::path(get, path = "/users/me/points", tag = "points", security(("bearer" = [])),
    responses((status = 200, body = Balance), Authed, Unavailable))]
pub async fn points(
    user: AuthUser,
    State(state): State<AppState>,
) -> Result<Json<Balance>, ApiError> {
    let balance = catalog::points_balance(&state.infra.pool, user.user_id).await?;
    Ok(Json(Balance { balance }))
}
