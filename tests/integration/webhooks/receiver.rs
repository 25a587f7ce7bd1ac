//! A real HTTP receiver for the webhook tests: axum on 127.0.0.1:0 inside the test. It
//! verifies every request's Standard Webhooks signature and timestamp with the subscriber's
//! secret (401 when wrong), fails on purpose (500) for its first N requests or while told to,
//! and records every delivery it acknowledged, in arrival order.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use allocation_worker::adapters::webhooks::signature::{
    WEBHOOK_ID, WEBHOOK_SIGNATURE, WEBHOOK_TIMESTAMP,
};
use allocation_worker::adapters::webhooks::{SignedHeaders, WebhookSecret};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::Value;

/// One acknowledged delivery.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub webhook_id: String,
    pub content_type: String,
    pub body: Value,
}

#[derive(Debug)]
pub struct ReceiverState {
    secret: WebhookSecret,
    /// Requests still to be failed with 500.
    pub fail_first: AtomicUsize,
    /// Fail every request while set.
    pub fail_all: AtomicBool,
    /// Milliseconds every request takes (a slow subscriber).
    pub delay_ms: AtomicU64,
    pub failed: AtomicUsize,
    pub bad_signatures: AtomicUsize,
    pub deliveries: Mutex<Vec<Delivery>>,
}

impl ReceiverState {
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.deliveries.lock().unwrap().clone()
    }
}

pub struct Receiver {
    pub url: String,
    pub state: Arc<ReceiverState>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn receive(
    State(state): State<Arc<ReceiverState>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let delay = state.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
    }
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
    let signed = SignedHeaders {
        id: header(WEBHOOK_ID),
        timestamp: header(WEBHOOK_TIMESTAMP),
        signature: header(WEBHOOK_SIGNATURE),
    };
    let now = chrono::Utc::now().timestamp();
    if state.secret.verify(&signed, &body, now, 300).is_err() {
        state.bad_signatures.fetch_add(1, Ordering::SeqCst);
        return StatusCode::UNAUTHORIZED;
    }
    let fail_first = state
        .fail_first
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if fail_first || state.fail_all.load(Ordering::SeqCst) {
        state.failed.fetch_add(1, Ordering::SeqCst);
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    let delivery = Delivery {
        webhook_id: signed.id.unwrap_or_default().to_owned(),
        content_type: header("content-type").unwrap_or_default().to_owned(),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    };
    state.deliveries.lock().unwrap().push(delivery);
    StatusCode::NO_CONTENT
}

/// Starts a receiver that verifies with `secret` and fails its first `fail_first` requests.
pub async fn start(secret: &str, fail_first: usize) -> Receiver {
    let state = Arc::new(ReceiverState {
        secret: WebhookSecret::parse(secret).expect("test secret"),
        fail_first: AtomicUsize::new(fail_first),
        fail_all: AtomicBool::new(false),
        delay_ms: AtomicU64::new(0),
        failed: AtomicUsize::new(0),
        bad_signatures: AtomicUsize::new(0),
        deliveries: Mutex::new(Vec::new()),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("receiver listens");
    let addr = listener.local_addr().expect("receiver address");
    let router = axum::Router::new()
        .route("/hook", post(receive))
        .with_state(Arc::clone(&state));
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Receiver {
        url: format!("http://{addr}/hook"),
        state,
        task,
    }
}
