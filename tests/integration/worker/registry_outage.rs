//! The schema registry goes down while a poison pill waits to be dead-lettered: the worker
//! cannot tell whether the pill's schema id exists, so it must abort the batch, rewind, and try
//! again — and once the registry is back, dead-letter the pill exactly once. The pill is the
//! first record of its partition in the batch it interrupts: the case in which an earlier
//! worker skipped it (its rewind offset was recorded only after a record was handled; found by
//! `scripts/chaos`).
//!
//! The outage is a proxy in front of the real registry that answers 503 while it is "down"
//! (the test stack's registry is shared by every test and cannot be stopped).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use super::checker::assert_exactly_once;
use super::support::cmd::{allocate, create_batch};
use super::support::PARTITIONS;
use super::{Setup, READY, SHUTDOWN};
use crate::harness::infra;
use crate::harness::worker::spawn_worker_at;

/// A registry proxy that can be switched off.
struct FlakyRegistry {
    /// Scheme, host and port of the real registry.
    upstream: String,
    down: AtomicBool,
    client: reqwest::Client,
}

async fn forward(
    State(registry): State<Arc<FlakyRegistry>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if registry.down.load(Ordering::Relaxed) {
        return (StatusCode::SERVICE_UNAVAILABLE, "registry down (test)").into_response();
    }
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let mut request = registry
        .client
        .request(method, format!("{}{path}", registry.upstream))
        .body(body);
    if let Some(content_type) = headers.get("content-type") {
        request = request.header("content-type", content_type.as_bytes());
    }
    match request.send().await {
        Ok(answer) => {
            let status = answer.status().as_u16();
            let content_type = answer
                .headers()
                .get("content-type")
                .map(|v| v.as_bytes().to_vec());
            let body = answer.bytes().await.unwrap_or_default();
            let mut response = (
                StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY),
                body,
            )
                .into_response();
            if let Some(v) = content_type.and_then(|v| v.try_into().ok()) {
                response.headers_mut().insert("content-type", v);
            }
            response
        }
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}

/// Starts the proxy; returns it and the registry URL to give the worker.
async fn flaky_registry(real: &str) -> (Arc<FlakyRegistry>, String) {
    // `http://host:port/apis/ccompat/v7` → upstream `http://host:port`, path kept.
    let after_scheme = real.find("://").map(|i| i + 3).unwrap_or(0);
    let path_at = real[after_scheme..]
        .find('/')
        .map(|i| i + after_scheme)
        .unwrap_or(real.len());
    let registry = Arc::new(FlakyRegistry {
        upstream: real[..path_at].to_owned(),
        down: AtomicBool::new(false),
        client: reqwest::Client::new(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the registry proxy");
    let addr = listener.local_addr().expect("proxy address");
    let app = axum::Router::new()
        .fallback(forward)
        .with_state(Arc::clone(&registry));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (registry, format!("http://{addr}{}", &real[path_at..]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pill_met_while_the_registry_is_down_is_dead_lettered_once_it_is_back() {
    let mut s = Setup::new("registry-outage").await;
    let infra = infra().await;
    let (registry, url) = flaky_registry(&infra.registry_url).await;
    let lamp = "REGISTRY-OUTAGE-LAMP";
    s.producer
        .command(create_batch("lamp-batch", lamp, 100, None))
        .await;
    s.producer.flush().await;

    let mut worker = spawn_worker_at(&s.spec(0), &infra.bootstrap, &url, &[]);
    worker.wait_ready(READY).await;
    s.caught_up(&mut [&mut worker]).await;

    // Down, then the pill: an Avro frame with a schema id nobody registered. Whether that id
    // exists is the registry's to say, so the worker may neither decode nor dead-letter it.
    registry.down.store(true, Ordering::Relaxed);
    let pill = allocation_worker::adapters::codec::wire::frame(1_999_999_998, b"\x02x");
    s.producer.poison(lamp, pill, "unknown-schema-id").await;
    s.producer.flush().await;
    let deadline = tokio::time::Instant::now() + READY;
    while !worker.log().contains("aborting the batch") {
        worker.assert_running();
        assert!(
            tokio::time::Instant::now() < deadline,
            "the worker never met the outage; log tail:\n{}",
            worker.log_tail(30)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Let it retry a few times against the outage, then bring the registry back.
    tokio::time::sleep(Duration::from_secs(2)).await;
    registry.down.store(false, Ordering::Relaxed);
    s.producer.command(allocate("o-after", lamp, 1)).await;
    s.producer.flush().await;
    s.caught_up(&mut [&mut worker]).await;

    let observed = s.observed().await;
    assert_exactly_once(&s.all_sent(&[]), &observed, PARTITIONS);
    let (status, _) = worker.terminate(SHUTDOWN).await;
    assert!(
        status.success(),
        "SIGTERM must end the worker with 0, got {status}"
    );
}
