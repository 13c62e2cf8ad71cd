//! The wallboard's live data, shared by every screen: one update per tick fanned out to all of
//! them rather than one per screen and event.
//!
//! - `/wallboard-data/feed` (Server-Sent Events): a `changed` event, its id the newest event
//!   sequence number, at most once per [`TICK`] and only when the event log got something for
//!   the board's queue (or any queue, for the all-queues board). One ticker task tells every
//!   screen at the same moment. A busy queue logs dozens of events a second; every screen used
//!   to get each of them, and fetch the figures after each.
//! - `/wallboard-data/status?seq=N`: the figures, computed once and served to every screen
//!   that asks for a state at least as new as event `N` within [`MAX_AGE`]. The screens of a
//!   wall all ask after the same `changed` event, so one computes and the rest are served.
//!
//! BENCHMARKS.md ("Wallboard") has the figures that led here.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, Stream};
use serde::Deserialize;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::watch;

use super::{admin, board_status};
use crate::api::console::Console;
use crate::store::QueueEvent;
use crate::time::Time;

/// The feed sends at most one `changed` a tick.
pub const TICK: Duration = Duration::from_secs(1);
/// Figures older than this are computed again, events or not (changes that log no event: an
/// agent's DND set through the API, a registration).
pub const MAX_AGE: Duration = Duration::from_secs(1);
/// Boards (one per queue, one for all) whose figures are kept at most; an admin could name any
/// number of queues.
const MAX_BOARDS: usize = 256;

/// The figures of one board, as last computed.
#[derive(Clone, Debug)]
pub(crate) struct Board {
    at: Time,
    /// Computed after the event with this sequence number was logged: the state is at least
    /// that new.
    seq: i64,
    body: Bytes,
}

/// The boards' figures by queue ("" for all).
#[derive(Debug, Default)]
pub(crate) struct Boards {
    by_queue: HashMap<String, Board>,
}

/// Whether figures computed at `at`, after event `seq`, may answer a screen that has seen
/// event `wanted` at `now`.
pub(crate) fn fresh(at: Time, seq: i64, now: Time, wanted: i64) -> bool {
    seq >= wanted && now.saturating_since(at) < MAX_AGE
}

#[derive(Deserialize, Default)]
pub(crate) struct StatusQuery {
    #[serde(default)]
    queue: String,
    /// The newest event the screen has been told of (the feed's `changed` id).
    #[serde(default)]
    seq: i64,
}

/// `/wallboard-data/status`: the board's figures (see [`board_status`]), shared.
pub(crate) async fn wallboard_status(
    State(c): State<Console>,
    headers: HeaderMap,
    query: Result<Query<StatusQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    if let Err(r) = admin(&c, &headers) {
        return r.into_response();
    }
    let Query(q) = query.unwrap_or_default();
    // Held while computing: the screens asking at the same time wait for one computation
    // and are all served by it.
    let mut boards = c.inner.boards.lock().await;
    let now = c.now();
    let cached = boards
        .by_queue
        .get(&q.queue)
        .filter(|b| fresh(b.at, b.seq, now, q.seq))
        .map(|b| b.body.clone());
    let body = match cached {
        Some(body) => body,
        None => {
            let value = board_status(&c, &q.queue).await;
            let body = Bytes::from(value.to_string());
            let seq = boards
                .by_queue
                .get(&q.queue)
                .map_or(q.seq, |b| b.seq.max(q.seq));
            if boards.by_queue.len() >= MAX_BOARDS && !boards.by_queue.contains_key(&q.queue) {
                boards.by_queue.clear();
            }
            boards.by_queue.insert(
                q.queue.clone(),
                Board {
                    at: c.now(),
                    seq,
                    body: body.clone(),
                },
            );
            body
        }
    };
    drop(boards);
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

#[derive(Deserialize, Default)]
pub(crate) struct FeedQuery {
    #[serde(default)]
    queue: String,
}

/// `/wallboard-data/feed`: `changed` at most once a [`TICK`], when the log got an event for
/// the board. Read-only, behind the console's session (an `EventSource` cannot send the API's
/// bearer token).
pub(crate) async fn wallboard_feed(
    State(c): State<Console>,
    headers: HeaderMap,
    query: Result<Query<FeedQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    if let Err(r) = admin(&c, &headers) {
        return r.into_response();
    }
    let Query(q) = query.unwrap_or_default();
    let ticks = c
        .inner
        .ticks
        .get_or_init(|| start_ticker(c.state().feed()))
        .clone();
    Sse::new(changes(ticks, q.queue))
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// What one tick saw: the newest event's sequence number, and the queues it was for.
#[derive(Clone, Debug, Default)]
pub(crate) struct Tick {
    seq: i64,
    queues: Arc<HashSet<String>>,
    /// Some events were missed (the ticker fell behind the log): every board changed.
    every: bool,
}

impl Tick {
    fn for_board(&self, queue: &str) -> bool {
        self.every || queue.is_empty() || self.queues.contains(queue)
    }
}

/// One task for every screen: waits for the log's next event, then for the next tick, takes
/// what came meanwhile and tells every feed at once. The screens all hear of the same
/// newest event at the same moment, so they ask for the same figures
/// ([`wallboard_status`] computes them once).
fn start_ticker(mut rx: tokio::sync::broadcast::Receiver<QueueEvent>) -> watch::Receiver<Tick> {
    let (tx, ticks) = watch::channel(Tick::default());
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(TICK);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let mut tick = Tick::default();
            let mut queues = HashSet::new();
            match rx.recv().await {
                Ok(e) => {
                    tick.seq = e.seq;
                    queues.insert(e.queue);
                }
                Err(RecvError::Lagged(_)) => tick.every = true,
                Err(RecvError::Closed) => return,
            }
            interval.tick().await;
            loop {
                match rx.try_recv() {
                    Ok(e) => {
                        tick.seq = tick.seq.max(e.seq);
                        queues.insert(e.queue);
                    }
                    Err(TryRecvError::Lagged(_)) => tick.every = true,
                    Err(TryRecvError::Empty | TryRecvError::Closed) => break,
                }
            }
            tick.queues = Arc::new(queues);
            // No screen listening is fine: the next one to connect gets the ticks from then on.
            tx.send_replace(tick);
        }
    });
    ticks
}

/// A screen's feed: `changed` for each tick that concerns its board.
fn changes(
    ticks: watch::Receiver<Tick>,
    queue: String,
) -> impl Stream<Item = Result<Event, std::convert::Infallible>> {
    stream::unfold(ticks, move |mut ticks| {
        let queue = queue.clone();
        async move {
            loop {
                if ticks.changed().await.is_err() {
                    return None;
                }
                let tick = ticks.borrow_and_update().clone();
                if tick.for_board(&queue) {
                    let event = Event::default()
                        .event("changed")
                        .id(tick.seq.to_string())
                        .data(format!("{{\"seq\":{}}}", tick.seq));
                    return Some((Ok(event), ticks));
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Time {
        Time::from_millis(n)
    }

    #[test]
    fn a_tick_concerns_its_queues_the_all_queues_board_and_every_board_after_a_lag() {
        let tick = Tick {
            seq: 9,
            queues: Arc::new(HashSet::from(["sales".to_owned()])),
            every: false,
        };
        assert!(tick.for_board("sales"));
        assert!(tick.for_board(""), "the all-queues board");
        assert!(!tick.for_board("support"));
        let lagged = Tick {
            every: true,
            ..tick
        };
        assert!(lagged.for_board("support"));
    }

    #[test]
    fn figures_serve_screens_that_saw_no_newer_event_within_the_age() {
        // Computed at 10 s after event 7.
        assert!(fresh(ms(10_000), 7, ms(10_000), 7));
        assert!(
            fresh(ms(10_000), 7, ms(10_999), 3),
            "older event, young figures"
        );
        assert!(
            !fresh(ms(10_000), 7, ms(10_200), 8),
            "a newer event: compute again"
        );
        assert!(
            !fresh(ms(10_000), 7, ms(11_000), 0),
            "too old, whatever the event"
        );
    }
}
