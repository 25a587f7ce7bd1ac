//! The HTTP API of `serve`: command intake (`POST /commands/{kind}`) and the CQRS query
//! (`GET /allocations/{orderid}`).
//!
//! Invariants: a command is validated exactly like `produce` validates it
//! ([`parse_command`]) before anything is sent; it is answered 202 only once Kafka
//! acknowledged it (idempotent producer, bounded by `--produce-timeout-ms`), 400 with an
//! RFC 9457 problem when it is invalid, 503 when Kafka or the registry cannot take it; the
//! query never blocks longer than its `timeout_ms` (capped at [`MAX_WAIT`]).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::{json, Value};
use uuid::Uuid;

use super::view::View;
use super::ServeMetrics;
use crate::adapters::codec::Codec;
use crate::adapters::envelope::{MessageMeta, TraceParent};
use crate::domain::OrderId;
use crate::entrypoints::http::problem;
use crate::entrypoints::produce::parse_command;
use crate::runtime::config::Topics;

/// Longest `timeout_ms` a query may wait.
pub const MAX_WAIT: Duration = Duration::from_secs(30);
/// `timeout_ms` when `wait_for` is given without it.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(5);

/// What the handlers share.
pub struct Api {
    pub producer: FutureProducer,
    pub codec: Arc<Codec>,
    pub topics: Topics,
    pub view: Arc<View>,
    pub metrics: Arc<ServeMetrics>,
}

/// The record full name of a command path segment.
pub fn command_type(kind: &str) -> Option<&'static str> {
    match kind {
        "create-batch" => Some("allocation.commands.CreateBatch"),
        "allocate" => Some("allocation.commands.Allocate"),
        "change-batch-quantity" => Some("allocation.commands.ChangeBatchQuantity"),
        "deallocate" => Some("allocation.commands.Deallocate"),
        _ => None,
    }
}

/// The contract JSON form of a request body for `full_name`: a JSON object whose `type`, if
/// present, must be `full_name`.
pub fn contract_json(full_name: &str, body: &[u8]) -> Result<String, String> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| format!("the body is not JSON: {e}"))?;
    let Value::Object(mut fields) = value else {
        return Err("the body must be a JSON object".into());
    };
    match fields.get("type") {
        None => {
            fields.insert("type".into(), Value::String(full_name.into()));
        }
        Some(Value::String(t)) if t == full_name => {}
        Some(other) => {
            return Err(format!(
                "`type` is {other}, but this endpoint takes {full_name}"
            ))
        }
    }
    Ok(Value::Object(fields).to_string())
}

/// `POST /commands/{kind}`.
pub async fn post_command(
    State(api): State<Arc<Api>>,
    Path(kind): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(full_name) = command_type(&kind) else {
        return problem(
            StatusCode::NOT_FOUND,
            "Unknown command",
            format!(
                "`{kind}` is not one of create-batch, allocate, change-batch-quantity, deallocate"
            ),
        );
    };
    let command = match contract_json(full_name, &body).and_then(|text| parse_command(&text)) {
        Ok(command) => command,
        Err(detail) => {
            api.metrics.command(full_name, "invalid");
            return problem(StatusCode::BAD_REQUEST, "Invalid command", detail);
        }
    };
    let mut meta = MessageMeta::root(command.type_name(), Utc::now());
    if let Some(parent) = headers
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .and_then(TraceParent::parse)
    {
        meta.traceparent = parent.with_parent(meta.message_id.as_uuid().as_u64_pair().1);
    }
    match send_command(&api.codec, &api.topics, &api.producer, &command, &meta).await {
        Ok(delivered) => {
            api.metrics.command(full_name, "accepted");
            tracing::info!(command_id = %meta.message_id, correlation_id = %meta.correlation_id, message_type = full_name, partition = delivered.partition, offset = delivered.offset, "command accepted");
            (
                StatusCode::ACCEPTED,
                Json(json!({
                    "command_id": meta.message_id.to_string(),
                    "correlation_id": meta.correlation_id.to_string(),
                    "topic": delivered.topic,
                    "partition": delivered.partition,
                    "offset": delivered.offset,
                })),
            )
                .into_response()
        }
        Err(e) => {
            api.metrics.command(full_name, "unavailable");
            tracing::warn!(error = %e, command_id = %meta.message_id, "command not sent");
            e.problem("the command was not acknowledged")
        }
    }
}

/// Where Kafka stored a command.
#[derive(Debug)]
pub struct Delivered {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

/// Why a command could not be sent: both are the client's cue to retry (503).
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("{0}")]
    Registry(String),
    #[error("{0}")]
    Kafka(String),
}

impl SendError {
    /// The 503 problem answer; `what` says what was not acknowledged (Kafka failures only).
    pub fn problem(&self, what: &str) -> Response {
        match self {
            SendError::Registry(detail) => problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "Schema registry unavailable",
                detail.clone(),
            ),
            SendError::Kafka(detail) => problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "Kafka unavailable",
                format!("{what}: {detail}"),
            ),
        }
    }
}

/// Encodes `command` through the registry and produces it (keyed by sku), waiting for Kafka's
/// acknowledgement (bounded by the producer's `message.timeout.ms`).
pub async fn send_command(
    codec: &Codec,
    topics: &Topics,
    producer: &FutureProducer,
    command: &crate::domain::Command,
    meta: &MessageMeta,
) -> Result<Delivered, SendError> {
    let record = codec
        .encode_command(topics, command, meta)
        .await
        .map_err(|e| SendError::Registry(e.to_string()))?;
    let payload = record.payload.unwrap_or_default();
    let delivery = producer
        .send(
            FutureRecord::to(&record.topic)
                .key(&record.key)
                .payload(&payload)
                .headers(record.headers.to_rdkafka()),
            Duration::from_secs(1),
        )
        .await
        .map_err(|(e, _)| SendError::Kafka(e.to_string()))?;
    Ok(Delivered {
        topic: record.topic,
        partition: delivery.partition,
        offset: delivery.offset,
    })
}

/// Query string of `GET /allocations/{orderid}`.
#[derive(Debug, serde::Deserialize)]
pub struct AllocationsQuery {
    pub wait_for: Option<String>,
    pub timeout_ms: Option<u64>,
}

/// `GET /allocations/{orderid}[?wait_for=<command_id>&timeout_ms=N]`.
pub async fn get_allocations(
    State(api): State<Arc<Api>>,
    Path(orderid): Path<String>,
    query: Result<Query<AllocationsQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(query)) = query else {
        return problem(
            StatusCode::BAD_REQUEST,
            "Invalid query",
            "expected wait_for=<command id (UUID)> and timeout_ms=<milliseconds>",
        );
    };
    if let Err(e) = OrderId::new(&orderid) {
        return problem(StatusCode::BAD_REQUEST, "Invalid orderid", e.to_string());
    }
    let mut reflected = None;
    if let Some(raw) = &query.wait_for {
        let Ok(id) = Uuid::parse_str(raw.trim()) else {
            return problem(
                StatusCode::BAD_REQUEST,
                "Invalid query",
                "wait_for must be a command id (UUID)",
            );
        };
        let timeout = query
            .timeout_ms
            .map(Duration::from_millis)
            .unwrap_or(DEFAULT_WAIT)
            .min(MAX_WAIT);
        reflected = Some(wait_for(&api.view, &id, timeout).await);
    }
    let order = api.view.order(&orderid);
    let position: BTreeMap<String, i64> = order
        .position
        .iter()
        .map(|(p, o)| (p.to_string(), *o))
        .collect();
    let mut body = json!({
        "orderid": orderid,
        "allocations": order.allocations.iter().map(|(sku, batchref)| json!({"sku": sku, "batchref": batchref})).collect::<Vec<_>>(),
        "view_position": position,
        "caught_up": api.view.caught_up.load(std::sync::atomic::Ordering::Relaxed),
    });
    if let (Some(reflected), Some(id)) = (reflected, &query.wait_for) {
        body["wait_for"] = json!(id.trim());
        body["reflected"] = json!(reflected);
    }
    Json(body).into_response()
}

/// Waits until the view folded a record caused by (or correlated with) `id`.
async fn wait_for(view: &View, id: &Uuid, timeout: Duration) -> bool {
    let mut changes = view.subscribe();
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        changes.borrow_and_update();
        if view.has_seen(id) {
            return true;
        }
        match tokio::time::timeout_at(deadline, changes.changed()).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) | Err(_) => return view.has_seen(id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_to_command_types_and_bodies_to_the_contract_form() {
        assert_eq!(
            command_type("allocate"),
            Some("allocation.commands.Allocate")
        );
        assert_eq!(command_type("Allocate"), None);
        let text = contract_json(
            "allocation.commands.Allocate",
            br#"{"orderid":"o1","sku":"LAMP","qty":2}"#,
        )
        .unwrap();
        assert!(parse_command(&text).is_ok(), "{text}");
        assert!(contract_json(
            "allocation.commands.Allocate",
            br#"{"type":"allocation.commands.Deallocate","orderid":"o1","sku":"LAMP"}"#
        )
        .is_err());
        assert!(contract_json("allocation.commands.Allocate", b"[1]").is_err());
        assert!(contract_json("allocation.commands.Allocate", b"{").is_err());
        let zero = contract_json(
            "allocation.commands.Allocate",
            br#"{"orderid":"o1","sku":"LAMP","qty":0}"#,
        )
        .unwrap();
        assert!(parse_command(&zero).is_err());
    }

    #[tokio::test]
    async fn waiting_ends_when_the_id_is_folded_or_the_time_is_up() {
        let view = Arc::new(View::default());
        let id = Uuid::new_v4();
        assert!(!wait_for(&view, &id, Duration::from_millis(20)).await);
        let v = Arc::clone(&view);
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            v.apply(0, 0, None, &[id]);
        });
        assert!(wait_for(&view, &id, Duration::from_secs(5)).await);
    }
}
