//! `POST /webhooks/{source}`: webhooks from other organisations, in through the same door as
//! `POST /commands/*`.
//!
//! Steps: the source must be configured (404 otherwise); the Standard Webhooks signature and
//! timestamp window are verified with the source's secret (401 otherwise, counted by source
//! and reason); the payload is translated into commands ([`translate`], anti-corruption; 400
//! when it cannot be); each command is validated like any other, encoded through the registry
//! and produced, keyed by sku; 202 `{"webhook_id", "command_ids": […]}` once Kafka acknowledged
//! all of them (503 otherwise; the sender retries).
//!
//! Idempotency: command ids are v5 UUIDs of (source, `webhook-id`, line), so a redelivered
//! webhook produces commands with the same `message-id`, which the worker recognises as
//! duplicates — the effect happens once.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use rdkafka::producer::FutureProducer;
use serde_json::json;

use super::api::send_command;
use crate::adapters::codec::Codec;
use crate::adapters::envelope::MessageMeta;
use crate::adapters::webhooks::inbound::{command_id, correlation_id, translate};
use crate::adapters::webhooks::signature::{WEBHOOK_ID, WEBHOOK_SIGNATURE, WEBHOOK_TIMESTAMP};
use crate::adapters::webhooks::SignedHeaders;
use crate::entrypoints::http::problem;
use crate::entrypoints::http::prometheus::Exposition;
use crate::entrypoints::produce::parse_command;
use crate::entrypoints::settings::webhooks::Source;
use crate::runtime::config::Topics;

/// Label used for requests to a source that is not configured (never the path's text).
const UNKNOWN_SOURCE: &str = "(unknown)";

/// What the inbound handler needs.
pub struct Inbound {
    pub producer: FutureProducer,
    pub codec: Arc<Codec>,
    pub topics: Topics,
    pub sources: Vec<Source>,
    pub tolerance_secs: i64,
    pub metrics: InboundMetrics,
}

/// `allocation_worker_webhooks_received_total{source, outcome}`.
#[derive(Debug, Default)]
pub struct InboundMetrics {
    counts: Mutex<BTreeMap<(String, &'static str), u64>>,
}

impl InboundMetrics {
    fn count(&self, source: &str, outcome: &'static str) {
        if let Ok(mut map) = self.counts.lock() {
            *map.entry((source.to_owned(), outcome)).or_default() += 1;
        }
    }

    /// Appends the counter family to `out`.
    pub fn render(&self, out: &mut Exposition) {
        let name = "allocation_worker_webhooks_received_total";
        out.family(
            name,
            "counter",
            "Inbound webhooks by source and outcome (accepted, unauthorized, invalid, unavailable, unknown_source).",
        );
        let counts = self.counts.lock().map(|m| m.clone()).unwrap_or_default();
        for ((source, outcome), n) in counts {
            out.sample(name, &[("source", &source), ("outcome", outcome)], n as f64);
        }
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// `POST /webhooks/{source}`.
pub async fn receive(
    State(inbound): State<Arc<Inbound>>,
    Path(source): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(configured) = inbound.sources.iter().find(|s| s.name == source) else {
        inbound.metrics.count(UNKNOWN_SOURCE, "unknown_source");
        return problem(
            StatusCode::NOT_FOUND,
            "Unknown webhook source",
            "no such source",
        );
    };
    let name = configured.name.as_str();
    let signed = SignedHeaders {
        id: header(&headers, WEBHOOK_ID),
        timestamp: header(&headers, WEBHOOK_TIMESTAMP),
        signature: header(&headers, WEBHOOK_SIGNATURE),
    };
    if let Err(e) = configured.secret.verify(
        &signed,
        &body,
        Utc::now().timestamp(),
        inbound.tolerance_secs,
    ) {
        inbound.metrics.count(name, "unauthorized");
        tracing::warn!(source = name, reason = e.reason(), "webhook refused");
        return problem(
            StatusCode::UNAUTHORIZED,
            "Invalid webhook signature",
            e.to_string(),
        );
    }
    let webhook_id = signed.id.unwrap_or_default().to_owned();
    let commands = match translate(&body)
        .map_err(|e| e.to_string())
        .and_then(|values| {
            values
                .iter()
                .map(|v| parse_command(&v.to_string()))
                .collect::<Result<Vec<_>, _>>()
        }) {
        Ok(commands) => commands,
        Err(detail) => {
            inbound.metrics.count(name, "invalid");
            return problem(StatusCode::BAD_REQUEST, "Invalid webhook payload", detail);
        }
    };
    let correlation = correlation_id(name, &webhook_id);
    let mut ids = Vec::new();
    for (index, command) in commands.iter().enumerate() {
        let mut meta = MessageMeta::root(command.type_name(), Utc::now());
        meta.message_id = command_id(name, &webhook_id, index);
        meta.correlation_id = correlation;
        meta.traceparent = meta
            .traceparent
            .with_parent(meta.message_id.as_uuid().as_u64_pair().1);
        if let Err(e) = send_command(
            &inbound.codec,
            &inbound.topics,
            &inbound.producer,
            command,
            &meta,
        )
        .await
        {
            inbound.metrics.count(name, "unavailable");
            return e.problem("the commands were not all acknowledged (retry the webhook)");
        }
        ids.push(meta.message_id.to_string());
    }
    inbound.metrics.count(name, "accepted");
    tracing::info!(source = name, webhook_id = %webhook_id, commands = ids.len(), "webhook accepted");
    (
        StatusCode::ACCEPTED,
        Json(json!({
            "webhook_id": webhook_id,
            "correlation_id": correlation.to_string(),
            "command_ids": ids,
        })),
    )
        .into_response()
}
