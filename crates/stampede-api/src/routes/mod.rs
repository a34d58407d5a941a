//! One module per resource; [`router`] mounts them all and documents them
//! (every route goes through `utoipa_axum::routes!`, so it cannot be left
//! out of `/openapi.json`).

mod campaigns;
mod catalog;
mod concerts;
mod coupons;
mod fcfs;
mod health;
mod me;
mod ops;
mod orders;
mod payments;
mod points;
mod queue;
mod queue_admin;
mod queue_events;
mod refunds;
mod reservations;
mod waiting_page;

pub use fcfs::GateOutcomes;

use crate::openapi::ApiDoc;
use crate::AppState;
use axum::Router;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Every route, plus `/openapi.json` serving their documentation.
pub fn router() -> Router<AppState> {
    let (router, api) = documented().split_for_parts();
    let api = std::sync::Arc::new(api);
    router
        .route("/wait/{concert_id}", axum::routing::get(waiting_page::page))
        .route(
            "/openapi.json",
            axum::routing::get(move || {
                let api = api.clone();
                async move { axum::Json(api.as_ref().clone()) }
            }),
        )
}

/// The routes with their OpenAPI description.
pub fn documented() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health::health))
        .routes(routes!(health::ready))
        .routes(routes!(ops::metrics))
        .routes(routes!(ops::outbox_status))
        .routes(routes!(me::me))
        .routes(routes!(coupons::create_policy))
        .routes(routes!(coupons::open_policy))
        .routes(routes!(coupons::close_policy))
        .routes(routes!(coupons::get_policy))
        .routes(routes!(coupons::issue))
        .routes(routes!(coupons::request_status))
        .routes(routes!(coupons::my_coupons))
        .routes(routes!(campaigns::create_campaign))
        .routes(routes!(campaigns::open_campaign))
        .routes(routes!(campaigns::close_campaign))
        .routes(routes!(campaigns::enter))
        .routes(routes!(catalog::create_product))
        .routes(routes!(catalog::set_stock))
        .routes(routes!(points::top_up))
        .routes(routes!(points::get_top_up))
        .routes(routes!(points::grant))
        .routes(routes!(catalog::points))
        .routes(routes!(orders::create_order))
        .routes(routes!(orders::get_order))
        .routes(routes!(payments::pay))
        .routes(routes!(payments::callback))
        .routes(routes!(concerts::create_concert))
        .routes(routes!(concerts::get_concert))
        .routes(routes!(concerts::seats))
        .routes(routes!(concerts::sold_out_ranking))
        .routes(routes!(queue::take_token))
        .routes(routes!(queue::my_token))
        .routes(routes!(queue_events::my_token_events))
        .routes(routes!(
            queue_admin::queue_rules,
            queue_admin::set_queue_rules
        ))
        .routes(routes!(queue_admin::pause_queue))
        .routes(routes!(queue_admin::resume_queue))
        .routes(routes!(queue_admin::queue_opening))
        .routes(routes!(reservations::hold))
        .routes(routes!(reservations::get_reservation))
        .routes(routes!(reservations::pay))
        .routes(routes!(orders::cancel_order))
        .routes(routes!(refunds::refund, refunds::list_refunds))
}
