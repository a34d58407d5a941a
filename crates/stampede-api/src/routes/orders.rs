//! Orders: create (parsed and priced by `stampede_core::order::NewOrder`,
//! PENDING, `order.created`) and read.

use crate::auth::AuthUser;
use crate::error::{ApiError, ApiPath, ErrorBody, ErrorCode, JsonBody};
use crate::idempotency::{once, parse_json, IdempotencyKeyHeader};
use crate::responses::{self, Authed, Idempotent, PathIds, Unavailable};
use crate::verification::verify_entry;
use crate::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Json;
use serde::{Deserialize, Serialize};
use stampede_core::order::{price, NewOrder, OfferedOption, PricedLines};
use stampede_infra::mysql::orders::Order;
use stampede_infra::mysql::payments::PaymentRecord;
use stampede_infra::mysql::{catalog, orders, payments};
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
pub struct ItemBody {
    option_id: u64,
    #[schema(minimum = 1, maximum = 100)]
    quantity: u32,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateOrder {
    #[schema(min_items = 1, max_items = 20)]
    items: Vec<ItemBody>,
    #[serde(default)]
    coupon_ids: Vec<String>,
}

/// Creates a PENDING order. Honours `Idempotency-Key`.
#[utoipa::path(post, path = "/orders", tag = "orders", security(("bearer" = [])),
    request_body = CreateOrder,
    params(IdempotencyKeyHeader),
    responses((status = 201, body = Order), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), responses::JsonBody, Idempotent, Authed,
        Unavailable))]
pub async fn create_order(
    user: AuthUser,
    State(state): State<AppState>,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Response {
    once(
        &state,
        user.user_id,
        &headers,
        &[b"POST /orders", &body],
        || async {
            let request: CreateOrder = parse_json(&body)?;
            let order_id = place(&state, user.user_id, request).await?;
            let order = orders::find_order(&state.infra.pool, order_id)
                .await?
                .ok_or_else(|| ApiError::internal("order vanished"))?;
            Ok((
                StatusCode::CREATED,
                serde_json::to_value(order).expect("orders serialise"),
            ))
        },
    )
    .await
}

async fn place(state: &AppState, user_id: u64, request: CreateOrder) -> Result<u64, ApiError> {
    let items: Vec<(u64, u32)> = request
        .items
        .iter()
        .map(|i| (i.option_id, i.quantity))
        .collect();
    let order = NewOrder::parse(
        &items,
        request.coupon_ids,
        state.payments.max_coupons_per_order,
    )
    .map_err(|m| ApiError::unprocessable(ErrorCode::InvalidBody, m))?;
    let options: Vec<OfferedOption> = catalog::find_options(&state.infra.pool, &order.option_ids())
        .await?
        .iter()
        .map(|o| OfferedOption {
            id: o.id,
            price: o.price,
            campaign_id: o.campaign_id,
        })
        .collect();
    let PricedLines { lines, campaign_id } = order.price_with(&options)?;
    if let Some(campaign) = campaign_id {
        verify_entry(state, user_id, campaign).await?;
    }
    let discounts = orders::usable_coupons(&state.infra.pool, user_id, order.coupon_ids())
        .await?
        .ok_or_else(|| {
            ApiError::conflict(
                ErrorCode::CouponNotUsable,
                "a coupon is not yours, already used or expired",
            )
        })?;
    let pricing = price(&lines, &discounts);
    Ok(orders::create_order(
        &state.infra.pool,
        &state.infra.outbox,
        user_id,
        &lines,
        pricing,
        order.coupon_ids(),
        campaign_id,
    )
    .await?)
}

/// One of the caller's orders, with its payments.
#[utoipa::path(get, path = "/orders/{id}", tag = "orders", security(("bearer" = [])),
    params(("id" = u64, Path)),
    responses((status = 200, body = OrderView), (status = 404, body = ErrorBody), PathIds, Authed, Unavailable))]
pub async fn get_order(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<u64>,
) -> Result<Json<OrderView>, ApiError> {
    let order = orders::find_order(&state.infra.pool, id)
        .await?
        .filter(|o| o.user_id == user.user_id)
        .ok_or_else(|| ApiError::not_found(ErrorCode::OrderNotFound, format!("no order {id}")))?;
    let payments = payments::payments_of_order(&state.infra.pool, id).await?;
    Ok(Json(OrderView { order, payments }))
}

/// An order with its payments, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderView {
    #[serde(flatten)]
    order: Order,
    payments: Vec<PaymentRecord>,
}

/// Cancels one of the caller's PENDING orders (nothing was taken yet, so
/// its coupons stay ISSUED). A paid order answers 409
/// `ORDER_PAID_REFUND_INSTEAD`: refund its payment (`POST /payments/{id}/refunds`).
/// Honours `Idempotency-Key`.
#[utoipa::path(post, path = "/orders/{id}/cancel", tag = "orders", security(("bearer" = [])),
    params(("id" = u64, Path), IdempotencyKeyHeader),
    responses((status = 200, body = Order), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        Idempotent, PathIds, Authed, Unavailable))]
pub async fn cancel_order(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<u64>,
    headers: HeaderMap,
) -> Response {
    let path = format!("POST /orders/{id}/cancel");
    once(
        &state,
        user.user_id,
        &headers,
        &[path.as_bytes()],
        || async {
            let order = orders::cancel_order(&state.infra.pool, id, user.user_id).await?;
            Ok((
                StatusCode::OK,
                serde_json::to_value(order).expect("orders serialise"),
            ))
        },
    )
    .await
}
