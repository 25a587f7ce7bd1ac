//! The edge towards front-ends, against the real broker and registry: `GET /events/stream`
//! (Server-Sent Events of the committed events) — what it streams compared with a
//! read_committed read of the topic, its filters, heartbeats, resuming with `Last-Event-ID`
//! without loss or duplicate, dropping a client that does not read — and the live page in a
//! real headless Chromium ([`browser`]).

mod browser;
mod sse;

use std::collections::BTreeSet;

use serde_json::{json, Value};

use self::sse::{Pair, SseEvent};
use crate::harness::{read_all, Isolation};
use crate::http::support::sample;

/// `(partition, offset)` of every committed record of the events topic.
async fn committed_positions(prefix: &str) -> BTreeSet<(i64, i64)> {
    read_all(
        &format!("{prefix}allocation.events"),
        Isolation::ReadCommitted,
    )
    .await
    .iter()
    .map(|r| (i64::from(r.partition), r.offset))
    .collect()
}

fn positions(events: &[SseEvent]) -> Vec<(i64, i64)> {
    events.iter().map(SseEvent::position).collect()
}

fn values(events: &[SseEvent]) -> Vec<Value> {
    events.iter().map(|e| e.json()["value"].clone()).collect()
}

/// Asserts no position twice, and per partition increasing offsets.
fn assert_ordered_without_duplicates(events: &[SseEvent]) {
    let mut last: std::collections::HashMap<i64, i64> = Default::default();
    for (p, o) in positions(events) {
        if let Some(&before) = last.get(&p) {
            assert!(o > before, "partition {p}: offset {o} after {before}");
        }
        last.insert(p, o);
    }
}

async fn allocate(pair: &Pair, orderid: &str, sku: &str) {
    pair.command(
        "allocate",
        json!({"orderid": orderid, "sku": sku, "qty": 1}),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_events_are_the_committed_events_filtered_and_resume_without_loss() {
    let pair = Pair::start("sse", 3, &[("SSE_HEARTBEAT_MS", "200")]).await;
    let mut all = pair.stream("", None).await;
    let start = all.next().await.expect("position event");
    assert_eq!(start.event, "position");
    let start_id = start.id.clone().expect("position id");
    let mut by_order = pair.stream("?orderid=o1", None).await;
    let mut by_sku = pair.stream("?sku=SOFA", None).await;
    let mut resumer = pair.stream("", None).await;

    // Wave 1: 6 commands, one event each.
    for (reference, sku) in [("b-lamp", "LAMP"), ("b-sofa", "SOFA")] {
        pair.command(
            "create-batch",
            json!({"reference": reference, "sku": sku, "qty": 1000}),
        )
        .await;
    }
    for (orderid, sku) in [
        ("o1", "LAMP"),
        ("o2", "LAMP"),
        ("o1", "SOFA"),
        ("o3", "SOFA"),
    ] {
        allocate(&pair, orderid, sku).await;
    }
    // The resuming client reads half of it, then disconnects.
    let before = resumer.messages(3).await;
    let last_id = resumer.last_id.clone().expect("an id");
    drop(resumer);
    // Wave 2 while it is away (o1 CHAIR: unknown sku, CommandRejected —
    // which has no orderid, so the orderid filter leaves it out), then it comes back, then
    // wave 3. Every command here raises exactly one event.
    for (orderid, sku) in [
        ("o4", "LAMP"),
        ("o1", "CHAIR"),
        ("o5", "SOFA"),
        ("o6", "LAMP"),
    ] {
        allocate(&pair, orderid, sku).await;
    }
    // Waves 1 and 2 are committed and published before it reconnects: its gap is read back
    // from Kafka (catch-up), wave 3 arrives live.
    let mut everything = all.messages(6 + 4).await;
    let mut resumed = pair.stream("", Some(&last_id)).await;
    for (orderid, sku) in [("o7", "SOFA"), ("o9", "LAMP"), ("o8", "LAMP")] {
        allocate(&pair, orderid, sku).await;
    }
    let total = 6 + 4 + 3;
    everything.extend(all.messages(3).await);
    let committed = committed_positions(&pair.prefix).await;
    let streamed: BTreeSet<(i64, i64)> = positions(&everything).into_iter().collect();
    assert_eq!(streamed.len(), total, "duplicates in {everything:?}");
    assert_eq!(streamed, committed, "the stream is not the committed topic");
    assert_ordered_without_duplicates(&everything);
    let types: BTreeSet<String> = values(&everything)
        .iter()
        .map(|v| v["type"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        types,
        BTreeSet::from([
            "allocation.events.Allocated".to_owned(),
            "allocation.events.BatchCreated".to_owned(),
            "allocation.events.CommandRejected".to_owned(),
        ])
    );
    for e in &everything {
        let v = e.json();
        assert!(v["headers"]["message-id"].is_string(), "{v}");
        assert!(v["headers"]["causation-id"].is_string(), "{v}");
    }

    // Resume: what came before the disconnect plus what came after is everything, once each.
    let after = resumed.messages(total - before.len()).await;
    let mut joined = before.clone();
    joined.extend(after);
    let resumed_positions: Vec<(i64, i64)> = positions(&joined);
    let unique: BTreeSet<(i64, i64)> = resumed_positions.iter().copied().collect();
    assert_eq!(
        unique.len(),
        joined.len(),
        "duplicates: {resumed_positions:?}"
    );
    assert_eq!(unique, committed, "resume lost events");
    assert_ordered_without_duplicates(&joined);

    // Filters: exactly the events of `all` that match.
    let wanted = |key: &str, value: &str| -> Vec<Value> {
        values(&everything)
            .into_iter()
            .filter(|v| v[key] == value)
            .collect()
    };
    let o1 = wanted("orderid", "o1");
    assert_eq!(o1.len(), 2);
    let got: Vec<Value> = values(&by_order.messages(o1.len()).await);
    assert_eq!(got, o1, "orderid=o1, in the order of the feed");
    let sofa = wanted("sku", "SOFA");
    let got: Vec<Value> = values(&by_sku.messages(sofa.len()).await);
    assert_eq!(got, sofa, "sku=SOFA in partition order");

    // Idle streams carry heartbeats (SSE comments).
    by_order.wait_heartbeat().await;
    assert!(by_order.heartbeats > 0);

    // Resume through the query parameter, from before everything: all of it, in order.
    let mut replay = pair
        .stream(&format!("?last_event_id={start_id}"), None)
        .await;
    let replayed = replay.messages(total).await;
    let replayed_set: BTreeSet<(i64, i64)> = positions(&replayed).into_iter().collect();
    assert_eq!(replayed_set, committed);
    assert_ordered_without_duplicates(&replayed);

    // Bad ids and filters are refused.
    for query in ["?last_event_id=nonsense", "?sku=%20padded", "?orderid="] {
        let response = pair
            .client
            .get(format!("{}/events/stream{query}", pair.url))
            .send()
            .await
            .expect("GET");
        assert_eq!(response.status().as_u16(), 400, "{query}");
    }
    let metrics = pair.metrics().await;
    assert_eq!(
        sample(&metrics, "allocation_worker_sse_events_total"),
        Some(total as f64),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_does_not_read_is_dropped_and_the_others_keep_receiving() {
    use tokio::io::AsyncWriteExt;

    let pair = Pair::start("sse-slow", 1, &[("SSE_CLIENT_BUFFER", "200")]).await;
    let mut healthy = pair.stream("", None).await;
    // The slow client: a tiny receive buffer, a request, and never a read.
    let addr = pair
        .url
        .trim_start_matches("http://")
        .parse()
        .expect("serve address");
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    let mut slow = socket.connect(addr).await.expect("connect");
    slow.write_all(
        b"GET /events/stream HTTP/1.1\r\nhost: serve\r\naccept: text/event-stream\r\n\r\n",
    )
    .await
    .expect("request");
    let clients = |m: &str| sample(m, "allocation_worker_sse_clients");
    let dropped = |m: &str| sample(m, "allocation_worker_sse_clients_dropped_total");
    let mut metrics = pair.metrics().await;
    for _ in 0..100 {
        if clients(&metrics) == Some(2.0) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        metrics = pair.metrics().await;
    }
    assert_eq!(clients(&metrics), Some(2.0), "{metrics}");

    // Rounds of large events (a new sku per round, so no aggregate grows large) until the slow
    // client's buffers are full and it is dropped; the healthy client receives every event of
    // every round meanwhile (a round, 50 events at most in one burst, fits its buffer).
    let long = "r".repeat(240);
    let mut sent = 0usize;
    let mut received = 0usize;
    for round in 0..200 {
        let posts = (0..50).map(|i| {
            pair.command(
                "create-batch",
                json!({"reference": format!("{long}-{i}"), "sku": format!("SKU-{round}"), "qty": 5}),
            )
        });
        futures::future::join_all(posts).await;
        sent += 50;
        received += healthy.messages(sent - received).await.len();
        metrics = pair.metrics().await;
        if dropped(&metrics) == Some(1.0) {
            eprintln!("slow client dropped after {sent} events (round {round})");
            break;
        }
    }
    assert_eq!(
        dropped(&metrics),
        Some(1.0),
        "the slow client was never dropped after {sent} events: {metrics}\nserve log:\n{}",
        pair.serve.log()
    );
    assert_eq!(clients(&metrics), Some(1.0), "{metrics}");
    // The healthy client still receives everything that follows.
    for i in 0..10 {
        pair.command(
            "create-batch",
            json!({"reference": format!("after-{i}"), "sku": "LAMP", "qty": 5}),
        )
        .await;
    }
    let tail = healthy.messages(10).await;
    assert_eq!(
        tail.last().map(|e| e.json()["value"]["reference"].clone()),
        Some(json!("after-9"))
    );
    assert_eq!(received, sent);
    drop(slow);
}
