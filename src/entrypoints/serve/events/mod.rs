//! Live events for front-ends: `GET /events/stream?sku=…&orderid=…` streams the committed
//! events of `allocation.events` as Server-Sent Events, and `GET /` serves the live page.
//!
//! - [`cursor`]: the resumable position (the SSE `id`);
//! - [`hub`]: the non-blocking fan-out to bounded per-client channels;
//! - [`feed`]: the `read_committed` feed thread and the per-resume catch-up reader;
//! - [`page`]: the live page.
//!
//! Guarantees (stated in the README): only committed events are sent (read_committed);
//! events of one partition (= one sku) arrive in offset order; every event's `id` is a
//! cursor, and a client that reconnects with it (`Last-Event-ID` header, or
//! `?last_event_id=`) receives every later event passing its filter exactly once, provided
//! the topic still retains them — the gap is read from Kafka ([`feed::Source::catch_up`])
//! and joined to the live feed at the hub's position at registration. A client whose channel
//! is full is dropped, never waited for; heartbeats are SSE comments.

pub mod cursor;
pub mod feed;
pub mod hub;
pub mod page;

use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::sync::mpsc;

use self::cursor::Cursor;
use self::feed::{CatchUp, Source};
use self::hub::{Filter, Hub, LiveEvent};
use crate::domain::{OrderId, Sku};
use crate::entrypoints::http::problem;
use crate::entrypoints::http::prometheus::Exposition;

/// Longest a resuming client's catch-up from Kafka may take.
pub const CATCH_UP_DEADLINE: Duration = Duration::from_secs(30);
/// Catch-ups (one consumer each) running at once; more resuming clients are answered 503.
pub const MAX_CATCH_UPS: usize = 16;

/// The kernel send buffer of `serve`'s connections (set on the listener, inherited by every
/// accepted connection; the kernel doubles it). Without it Linux grows a stalled connection's
/// buffer up to `net.ipv4.tcp_wmem` (4 MiB by default), and a client that stopped reading
/// would hold that much before its own buffer fills and it is dropped.
pub const SEND_BUFFER_BYTES: usize = 32 * 1024;

/// Limits what a stalled client can hold in the kernel (see [`SEND_BUFFER_BYTES`]).
pub fn limit_send_buffer(listener: &tokio::net::TcpListener) {
    if let Err(e) = socket2::SockRef::from(listener).set_send_buffer_size(SEND_BUFFER_BYTES) {
        tracing::warn!(error = %e, "cannot limit the send buffer of HTTP connections");
    }
}

/// What the live endpoints share.
pub struct Live {
    pub hub: Arc<Hub>,
    pub source: Source,
    /// Interval of the heartbeat comments.
    pub heartbeat: Duration,
    /// Events a client may have in flight before it is dropped.
    pub client_buffer: usize,
    /// Bounds the catch-ups running at once ([`MAX_CATCH_UPS`]).
    pub catch_ups: Arc<tokio::sync::Semaphore>,
}

/// The routes: `GET /events/stream` and the live page at `GET /`.
pub fn router(live: Arc<Live>) -> Router {
    Router::new()
        .route("/events/stream", get(stream))
        .with_state(live)
        .route("/", get(page::live_page))
}

/// The live-event metric families of `/metrics`.
pub fn render_metrics(out: &mut Exposition, hub: &Hub) {
    out.single(
        "allocation_worker_sse_clients",
        "gauge",
        "Clients connected to /events/stream.",
        hub.clients() as f64,
    );
    out.single(
        "allocation_worker_sse_events_total",
        "counter",
        "Committed events read from the events topic for live clients.",
        hub.events.load(Ordering::Relaxed) as f64,
    );
    out.single(
        "allocation_worker_sse_clients_dropped_total",
        "counter",
        "Live clients dropped because they did not read fast enough.",
        hub.dropped.load(Ordering::Relaxed) as f64,
    );
}

/// Query string of `GET /events/stream`.
#[derive(Debug, Default, serde::Deserialize)]
pub struct StreamQuery {
    pub sku: Option<String>,
    pub orderid: Option<String>,
    pub last_event_id: Option<String>,
}

/// `GET /events/stream[?sku=…][&orderid=…][&last_event_id=…]`.
pub async fn stream(
    State(live): State<Arc<Live>>,
    headers: HeaderMap,
    query: Result<Query<StreamQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(query)) = query else {
        return problem(
            StatusCode::BAD_REQUEST,
            "Invalid query",
            "expected sku, orderid and last_event_id",
        );
    };
    let filter = match filter(&query) {
        Ok(f) => f,
        Err(detail) => return problem(StatusCode::BAD_REQUEST, "Invalid filter", detail),
    };
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or(query.last_event_id)
        .filter(|s| !s.trim().is_empty());
    let from = match resume.as_deref().map(Cursor::parse).transpose() {
        Ok(from) => from,
        Err(e) => {
            return problem(
                StatusCode::BAD_REQUEST,
                "Invalid Last-Event-ID",
                e.to_string(),
            )
        }
    };
    let permit = match &from {
        None => None,
        Some(_) => match Arc::clone(&live.catch_ups).try_acquire_owned() {
            Ok(permit) => Some(permit),
            Err(_) => {
                return problem(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Too many resuming clients",
                    "too many clients are catching up at once; retry shortly",
                )
            }
        },
    };
    let Some((rx, at)) = live.hub.subscribe(filter.clone(), live.client_buffer) else {
        return problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "Live events not ready",
            "the events feed has not started yet; retry shortly",
        );
    };
    let mut client = Client {
        hello: true,
        catch_up: None,
        live: rx,
        cursor: at.clone(),
        joined_at: at.clone(),
    };
    if let Some(mut from) = from {
        from.fill_from(&at);
        client.cursor = from.clone();
        let needs =
            at.0.iter()
                .any(|(p, &o)| from.get(*p).is_some_and(|f| f < o));
        if needs {
            let (tx, catch_rx) = mpsc::channel(live.client_buffer.max(1));
            let source = live.source.clone();
            tokio::task::spawn_blocking(move || {
                source.catch_up(&from, &at, &filter, &tx, CATCH_UP_DEADLINE);
                drop(permit);
            });
            client.catch_up = Some(catch_rx);
        }
    }
    let events = futures_util::stream::unfold(client, |mut c| async move {
        let event = c.next().await?;
        Some((Ok::<Event, Infallible>(event), c))
    });
    Sse::new(events)
        .keep_alive(KeepAlive::new().interval(live.heartbeat).text("heartbeat"))
        .into_response()
}

fn filter(query: &StreamQuery) -> Result<Filter, String> {
    let sku = query
        .sku
        .as_deref()
        .map(|s| Sku::new(s).map(|s| s.to_string()))
        .transpose()
        .map_err(|e| format!("sku: {e}"))?;
    let orderid = query
        .orderid
        .as_deref()
        .map(|s| OrderId::new(s).map(|s| s.to_string()))
        .transpose()
        .map_err(|e| format!("orderid: {e}"))?;
    Ok(Filter { sku, orderid })
}

/// One connected client: first a `position` event (so even a client that receives nothing
/// else can resume), then its catch-up (if resuming), then the live events.
struct Client {
    hello: bool,
    catch_up: Option<mpsc::Receiver<CatchUp>>,
    live: mpsc::Receiver<Arc<LiveEvent>>,
    /// Everything before it was delivered or filtered out for this client.
    cursor: Cursor,
    /// The hub's position when the client registered: where catch-up ends and live begins.
    joined_at: Cursor,
}

impl Client {
    /// The next SSE event; `None` ends the stream (dropped, catch-up failed, shutdown).
    async fn next(&mut self) -> Option<Event> {
        if std::mem::take(&mut self.hello) {
            let id = self.cursor.to_string();
            return Some(
                Event::default()
                    .event("position")
                    .id(id.clone())
                    .data(serde_json::json!({ "position": id }).to_string()),
            );
        }
        while let Some(rx) = self.catch_up.as_mut() {
            match rx.recv().await {
                Some(CatchUp::Event(e)) => {
                    self.cursor.advance(e.partition, e.offset + 1);
                    return Some(self.message(&e));
                }
                Some(CatchUp::Done) => {
                    self.catch_up = None;
                    let joined = self.joined_at.clone();
                    self.cursor.merge(&joined);
                }
                Some(CatchUp::Failed(_)) | None => return None,
            }
        }
        loop {
            let e = self.live.recv().await?;
            if self.cursor.get(e.partition).is_some_and(|c| e.offset < c) {
                continue; // already delivered (the client resumed past it)
            }
            self.cursor.merge(&e.after);
            self.cursor.advance(e.partition, e.offset + 1);
            return Some(self.message(&e));
        }
    }

    fn message(&self, e: &LiveEvent) -> Event {
        Event::default().id(self.cursor.to_string()).data(&e.data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live_event(partition: i32, offset: i64, after: &str) -> Arc<LiveEvent> {
        Arc::new(LiveEvent {
            partition,
            offset,
            sku: None,
            orderid: None,
            data: format!("{partition}/{offset}"),
            after: Cursor::parse(after).unwrap(),
        })
    }

    #[tokio::test]
    async fn a_resumed_client_gets_its_catch_up_then_only_newer_live_events() {
        let (live_tx, live) = mpsc::channel(8);
        let (catch_tx, catch_rx) = mpsc::channel(8);
        let mut client = Client {
            hello: true,
            catch_up: Some(catch_rx),
            live,
            // Resumed at 0:2, 1:9 — ahead of this replica's hub (1:5) on partition 1.
            cursor: Cursor::parse("0:2,1:9").unwrap(),
            joined_at: Cursor::parse("0:4,1:5").unwrap(),
        };
        for (p, o) in [(0, 2), (0, 3)] {
            catch_tx
                .send(CatchUp::Event((*live_event(p, o, "")).clone()))
                .await
                .unwrap();
        }
        catch_tx.send(CatchUp::Done).await.unwrap();
        live_tx.send(live_event(1, 5, "0:4,1:6")).await.unwrap(); // already seen
        live_tx.send(live_event(1, 9, "0:4,1:10")).await.unwrap();
        live_tx.send(live_event(0, 4, "0:5,1:10")).await.unwrap();
        drop(live_tx);
        let mut got = Vec::new();
        while let Some(event) = client.next().await {
            got.push(event);
        }
        assert_eq!(got.len(), 1 + 2 + 2, "position, catch-up, live: {got:?}");
        assert_eq!(client.cursor.to_string(), "0:5,1:10");
    }

    #[test]
    fn filters_are_validated() {
        let ok = StreamQuery {
            sku: Some("LAMP".into()),
            ..Default::default()
        };
        assert_eq!(filter(&ok).unwrap().sku.as_deref(), Some("LAMP"));
        for bad in [" LAMP", ""] {
            let q = StreamQuery {
                orderid: Some(bad.into()),
                ..Default::default()
            };
            assert!(filter(&q).is_err(), "{bad:?}");
        }
    }
}
