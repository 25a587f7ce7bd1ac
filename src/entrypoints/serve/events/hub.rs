//! The fan-out of live events: one [`Hub`] per `serve` process, fed by the feed thread, read
//! by every connected SSE client through its own **bounded** channel.
//!
//! Invariants:
//! - publishing never blocks and never waits for a client: a client whose channel is full is
//!   dropped (its channel closed, `allocation_worker_sse_clients_dropped_total` counted); the
//!   feed and every other client go on;
//! - [`Hub::subscribe`] registers the client and reads the hub's position under the same lock
//!   as [`Hub::publish`]: every event after that position reaches the client's channel (unless
//!   the client is dropped), none before it does — the seam a resume joins without loss or
//!   duplicate;
//! - every event carries the hub's cursor *after* it ([`LiveEvent::after`]): every event of
//!   the topic before that cursor has been read by the hub, in per-partition order.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use super::cursor::Cursor;

/// One committed event of `allocation.events`, ready to send.
#[derive(Debug, Clone)]
pub struct LiveEvent {
    pub partition: i32,
    pub offset: i64,
    pub sku: Option<String>,
    pub orderid: Option<String>,
    /// The SSE `data`: position, key, headers and the value in the contract's JSON form.
    pub data: String,
    /// The hub's cursor right after this event (for catch-up events: not set, empty).
    pub after: Cursor,
}

/// Which events a client wants (`?sku=…&orderid=…`, both optional, ANDed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub sku: Option<String>,
    pub orderid: Option<String>,
}

impl Filter {
    /// Whether `event` passes. An event without an `orderid` field (e.g. `BatchCreated`)
    /// never passes an orderid filter.
    pub fn matches(&self, event: &LiveEvent) -> bool {
        let ok = |want: &Option<String>, have: &Option<String>| match want {
            None => true,
            Some(w) => have.as_deref() == Some(w.as_str()),
        };
        ok(&self.sku, &event.sku) && ok(&self.orderid, &event.orderid)
    }
}

struct Subscriber {
    filter: Filter,
    tx: mpsc::Sender<Arc<LiveEvent>>,
}

#[derive(Default)]
struct Inner {
    /// `None` until the feed has its start positions.
    cursor: Option<Cursor>,
    subscribers: Vec<Subscriber>,
}

/// The fan-out point. Counters are read by `/metrics`.
#[derive(Default)]
pub struct Hub {
    inner: Mutex<Inner>,
    /// Events read from the topic since start.
    pub events: AtomicU64,
    /// Clients dropped because they did not keep up.
    pub dropped: AtomicU64,
}

impl Hub {
    /// Sets the start positions (the feed is live from here).
    pub fn start(&self, at: Cursor) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.cursor = Some(at);
        }
    }

    /// Whether the feed has started.
    pub fn started(&self) -> bool {
        self.inner
            .lock()
            .map(|i| i.cursor.is_some())
            .unwrap_or(false)
    }

    /// Connected clients.
    pub fn clients(&self) -> usize {
        self.inner
            .lock()
            .map(|i| i.subscribers.iter().filter(|s| !s.tx.is_closed()).count())
            .unwrap_or(0)
    }

    /// Ends every client's stream and refuses new ones (shutdown).
    pub fn close(&self) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.subscribers.clear();
            inner.cursor = None;
        }
    }

    /// Registers a client with a channel of `capacity` events; returns its receiver and the
    /// hub's cursor at registration, or `None` before the feed started.
    pub fn subscribe(
        &self,
        filter: Filter,
        capacity: usize,
    ) -> Option<(mpsc::Receiver<Arc<LiveEvent>>, Cursor)> {
        let mut inner = self.inner.lock().ok()?;
        let at = inner.cursor.clone()?;
        let (tx, rx) = mpsc::channel(capacity.max(1));
        inner.subscribers.retain(|s| !s.tx.is_closed());
        inner.subscribers.push(Subscriber { filter, tx });
        Some((rx, at))
    }

    /// Moves the hub past a record that is not published (undecodable).
    pub fn skip(&self, partition: i32, offset: i64) {
        if let Ok(mut inner) = self.inner.lock() {
            if let Some(c) = inner.cursor.as_mut() {
                c.advance(partition, offset + 1);
            }
        }
    }

    /// Publishes one event to every matching client without waiting for any.
    pub fn publish(&self, mut event: LiveEvent) {
        self.events.fetch_add(1, Ordering::Relaxed);
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        let Some(cursor) = inner.cursor.as_mut() else {
            return;
        };
        cursor.advance(event.partition, event.offset + 1);
        event.after = cursor.clone();
        let event = Arc::new(event);
        let mut dropped = 0;
        inner.subscribers.retain(|s| {
            if s.tx.is_closed() {
                return false;
            }
            if !s.filter.matches(&event) {
                return true;
            }
            match s.tx.try_send(Arc::clone(&event)) {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    dropped += 1;
                    false
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            }
        });
        if dropped > 0 {
            self.dropped.fetch_add(dropped, Ordering::Relaxed);
            tracing::warn!(
                clients = dropped,
                "live-event client(s) too slow: dropped (they may reconnect with Last-Event-ID)"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(partition: i32, offset: i64, sku: &str, orderid: Option<&str>) -> LiveEvent {
        LiveEvent {
            partition,
            offset,
            sku: Some(sku.into()),
            orderid: orderid.map(Into::into),
            data: "{}".into(),
            after: Cursor::default(),
        }
    }

    #[test]
    fn a_full_client_is_dropped_and_the_others_keep_receiving() {
        let hub = Hub::default();
        assert!(hub.subscribe(Filter::default(), 1).is_none(), "not started");
        hub.start(Cursor::parse("0:10,1:0").unwrap());
        let (mut slow, at) = hub.subscribe(Filter::default(), 1).unwrap();
        assert_eq!(at.to_string(), "0:10,1:0");
        let (mut fast, _) = hub.subscribe(Filter::default(), 8).unwrap();
        hub.publish(event(0, 10, "LAMP", None));
        hub.publish(event(1, 0, "LAMP", None));
        assert_eq!(hub.dropped.load(Ordering::Relaxed), 1);
        assert_eq!(hub.clients(), 1);
        assert_eq!(slow.try_recv().unwrap().offset, 10);
        assert!(slow.try_recv().is_err(), "closed after its buffer");
        let first = fast.try_recv().unwrap();
        assert_eq!(first.after.to_string(), "0:11,1:0");
        assert_eq!(fast.try_recv().unwrap().after.to_string(), "0:11,1:1");
    }

    #[test]
    fn filters_select_by_sku_and_orderid() {
        let hub = Hub::default();
        hub.start(Cursor::default());
        let filter = Filter {
            sku: Some("LAMP".into()),
            orderid: Some("o1".into()),
        };
        let (mut rx, _) = hub.subscribe(filter, 8).unwrap();
        hub.publish(event(0, 0, "LAMP", None));
        hub.publish(event(0, 1, "SOFA", Some("o1")));
        hub.publish(event(0, 2, "LAMP", Some("o2")));
        hub.publish(event(0, 3, "LAMP", Some("o1")));
        assert_eq!(rx.try_recv().unwrap().offset, 3);
        assert!(rx.try_recv().is_err());
    }
}
