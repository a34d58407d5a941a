//! `GET /queue/tokens/me/events`: the caller's place in line as
//! Server-Sent Events, fed by the instance's one queue reader
//! ([`crate::queue_watch`]), never by a Redis call per fan per tick.
//!
//! # Format
//!
//! ```text
//! event: position
//! data: {"concert_id":7,"token":"…","status":"WAITING","position":12,"eta_secs":6,"poll_after_secs":1}
//!
//! event: admitted
//! data: {"concert_id":7,"token":"…","status":"ACTIVE","expires_at":"…"}
//! ```
//!
//! `position` comes at once and then whenever the place or ETA changes
//! (PRE_QUEUED too); the stream ends after `admitted` or `expired` (the
//! place was lost or the token ran out).

use super::queue::{token_not_found, view, ConcertRef, TokenView};
use crate::auth::AuthUser;
use crate::error::{ApiError, ApiQuery, ErrorBody};
use crate::queue_watch::Watching;
use crate::responses::{Authed, Query, Unavailable};
use crate::AppState;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::stream::{self, Stream, StreamExt};
use stampede_core::concert::QueueTokenStatus;
use stampede_infra::redis::QueueTicket;
use std::convert::Infallible;
use std::time::Duration;

/// The caller's place in line, live (see the module documentation).
#[utoipa::path(get, path = "/queue/tokens/me/events", tag = "concerts", security(("bearer" = [])),
    params(ConcertRef),
    responses((status = 200, content_type = "text/event-stream", description = "events `position`, `admitted`, `expired`, each with a TokenView"),
        (status = 404, body = ErrorBody), Query, Authed, Unavailable))]
pub async fn my_token_events(
    user: AuthUser,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ConcertRef>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let concert_id = query.concert_id;
    let queue = &state.infra.queue;
    let (ticket, rate) = queue
        .look_of(concert_id, user.user_id)
        .await?
        .ok_or_else(|| token_not_found(concert_id))?;
    let longest_poll = queue.settings().longest_poll();
    let first = view(concert_id, ticket, rate, longest_poll);
    let watching = state.queue_watch.watch(concert_id, ticket.token);
    let live = Live {
        watching,
        ticket,
        last: first.clone(),
        longest_poll,
        ended: ends_the_stream(first.status),
    };
    let events = stream::once(async move { event(&first) }).chain(stream::unfold(live, Live::next));
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

/// One stream's state between snapshots.
struct Live {
    watching: Watching,
    ticket: QueueTicket,
    last: TokenView,
    longest_poll: Duration,
    ended: bool,
}

impl Live {
    /// The next changed view, or the end of the stream.
    async fn next(mut self) -> Option<(Result<Event, Infallible>, Self)> {
        while !self.ended {
            self.watching.updates.changed().await.ok()?;
            let Some(sighting) = self.watching.current() else {
                continue;
            };
            // A token the reader no longer finds has lost its place.
            let ticket = sighting.ticket.unwrap_or(QueueTicket {
                status: QueueTokenStatus::Expired,
                ..self.ticket
            });
            let concert_id = self.last.concert_id();
            let next = view(concert_id, ticket, sighting.outflow_rate, self.longest_poll);
            if next == self.last {
                continue;
            }
            self.ended = ends_the_stream(next.status);
            let sent = event(&next);
            self.last = next;
            return Some((sent, self));
        }
        None
    }
}

fn ends_the_stream(status: QueueTokenStatus) -> bool {
    matches!(
        status,
        QueueTokenStatus::Active { .. } | QueueTokenStatus::Expired
    )
}

fn event(view: &TokenView) -> Result<Event, Infallible> {
    let name = match view.status {
        QueueTokenStatus::Active { .. } => "admitted",
        QueueTokenStatus::Expired => "expired",
        QueueTokenStatus::Waiting { .. } | QueueTokenStatus::PreQueued { .. } => "position",
    };
    let data = serde_json::to_string(view).expect("a token view serialises");
    Ok(Event::default().event(name).data(data))
}
