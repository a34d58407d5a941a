//! `GET /wait/{concert_id}`: the waiting-room page, plain HTML with a small
//! inline script (no build step). It shows the fan's place, ETA and a
//! progress bar, live, and switches to the seat map once admitted; it
//! speaks only the public API (`/queue/tokens`, its event stream, the seat
//! map), with the fan's access token from the page's `#token=` fragment
//! (a fragment never reaches the server or its logs).

use crate::error::{ApiError, ApiPath};
use axum::response::Html;

const PAGE: &str = include_str!("waiting_page.html");

pub async fn page(ApiPath(_concert_id): ApiPath<u64>) -> Result<Html<&'static str>, ApiError> {
    Ok(Html(PAGE))
}
