//! Orders: create (validated, priced, PENDING, `order.created`) and read.

use crate::auth::AuthUser;
use crate::error::{ApiError, ApiPath, ErrorBody};
use crate::idempotency::{once, parse_json};
use crate::verification::verify_entry;
use crate::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Json;
use bytes::Bytes;
use serde::Deserialize;
use stampede_core::order::{price, OrderLine, Quantity};
use stampede_infra::mysql::{catalog, orders, payments};
use std::collections::BTreeSet;
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
pub struct ItemBody {
    option_id: u64,
    quantity: u32,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateOrder {
    items: Vec<ItemBody>,
    #[serde(default)]
    coupon_ids: Vec<String>,
}

/// Creates a PENDING order. Honours `Idempotency-Key`.
#[utoipa::path(post, path = "/orders", tag = "orders", security(("bearer" = [])),
    request_body = CreateOrder,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = Object), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_order(
    user: AuthUser,
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
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
    let invalid = |m: String| ApiError::unprocessable("INVALID_BODY", m);
    if request.items.is_empty() || request.items.len() > 20 {
        return Err(invalid("an order has 1-20 items".into()));
    }
    let option_ids: BTreeSet<u64> = request.items.iter().map(|i| i.option_id).collect();
    if option_ids.len() != request.items.len() {
        return Err(invalid("each option may appear once".into()));
    }
    let max_coupons = state.payments.max_coupons_per_order;
    let coupons: BTreeSet<&String> = request.coupon_ids.iter().collect();
    if coupons.len() != request.coupon_ids.len() || coupons.len() > max_coupons {
        return Err(invalid(format!("up to {max_coupons} distinct coupons")));
    }
    let quantities = request
        .items
        .iter()
        .map(|i| Quantity::parse(i.quantity).map(|q| (i.option_id, q)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(invalid)?;
    let ids: Vec<u64> = option_ids.into_iter().collect();
    let options = catalog::find_options(&state.infra.pool, &ids).await?;
    if options.len() != ids.len() {
        let missing = ids
            .iter()
            .find(|id| !options.iter().any(|o| o.id == **id))
            .copied()
            .unwrap_or_default();
        return Err(ApiError::not_found(
            "OPTION_NOT_FOUND",
            format!("no option {missing}"),
        ));
    }
    let campaigns: BTreeSet<u64> = options.iter().filter_map(|o| o.campaign_id).collect();
    if campaigns.len() > 1 {
        return Err(invalid(
            "one order may hold products of one campaign at most".into(),
        ));
    }
    let campaign_id = campaigns.into_iter().next();
    if let Some(campaign) = campaign_id {
        verify_entry(state, user_id, campaign).await?;
    }
    let lines: Vec<OrderLine> = quantities
        .iter()
        .map(|(option_id, quantity)| {
            let option = options
                .iter()
                .find(|o| o.id == *option_id)
                .expect("checked above");
            OrderLine {
                option_id: *option_id,
                quantity: quantity.get(),
                unit_price: option.price,
            }
        })
        .collect();
    let discounts = orders::usable_coupons(&state.infra.pool, user_id, &request.coupon_ids)
        .await?
        .ok_or_else(|| {
            ApiError::conflict(
                "COUPON_NOT_USABLE",
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
        &request.coupon_ids,
        campaign_id,
    )
    .await?)
}

/// One of the caller's orders, with its payments.
#[utoipa::path(get, path = "/orders/{id}", tag = "orders", security(("bearer" = [])),
    params(("id" = u64, Path)), responses((status = 200, body = Object), (status = 404, body = ErrorBody)))]
pub async fn get_order(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<u64>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let order = orders::find_order(&state.infra.pool, id)
        .await?
        .filter(|o| o.user_id == user.user_id)
        .ok_or_else(|| ApiError::not_found("ORDER_NOT_FOUND", format!("no order {id}")))?;
    let payments = payments::payments_of_order(&state.infra.pool, id).await?;
    let mut body = serde_json::to_value(order).expect("orders serialise");
    body["payments"] = serde_json::to_value(payments).expect("payments serialise");
    Ok(Json(body))
}
