//! `allocation-worker contract`: the AsyncAPI 3.0 document of this worker's topics, generated
//! from the code — channels from [`Topics`], message types from the record catalogue, Avro
//! schemas embedded from `schemas/*.avsc`, the envelope headers from [`names`].
//!
//! Invariant: every record type of the catalogue appears as a message of exactly one channel,
//! with its schema verbatim (tested); the document is plain JSON (also valid YAML).

use std::io::Write;

use serde_json::{json, Map, Value};

use crate::adapters::contracts::RecordType;
use crate::adapters::envelope::names;
use crate::adapters::topics::{Channel, ChannelId, Direction, Topics};
use crate::entrypoints::settings::{pick, ConfigFile, SettingsError};

/// Arguments of the `contract` subcommand.
#[derive(Debug, Clone, clap::Args)]
pub struct ContractArgs {
    /// Optional TOML config file (its `topic_prefix` is used).
    #[arg(long, env = "ALLOCATION_WORKER_CONFIG", value_name = "FILE")]
    pub config: Option<std::path::PathBuf>,
    /// Prefix of every topic name (e.g. `staging.`), as configured for the worker.
    /// [default: none]
    #[arg(long, env = "TOPIC_PREFIX")]
    pub topic_prefix: Option<String>,
}

/// Why `contract` failed.
#[derive(Debug, thiserror::Error)]
pub enum ContractError {
    #[error("invalid configuration: {0}")]
    Config(#[from] SettingsError),
    #[error("cannot write the document: {0}")]
    Io(#[from] std::io::Error),
}

impl ContractError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Config(_) => 2,
            Self::Io(_) => 1,
        }
    }
}

const AVRO_FORMAT: &str = "application/vnd.apache.avro;version=1.9.0";
const AVRO_CONTENT: &str = "application/vnd.apache.avro+binary";
const KAFKA_BINDING: &str = "0.5.0";

fn channel_key(id: ChannelId) -> &'static str {
    match id {
        ChannelId::Commands => "commands",
        ChannelId::OrdersEvents => "ordersEvents",
        ChannelId::PurchasingEvents => "purchasingEvents",
        ChannelId::Events => "events",
        ChannelId::Changelog => "changelog",
        ChannelId::View => "view",
        ChannelId::Dlq => "deadLetters",
    }
}

fn short_name(record: RecordType) -> &'static str {
    let full = record.full_name();
    full.rsplit('.').next().unwrap_or(full)
}

fn schema_json(record: RecordType) -> Value {
    // The embedded .avsc is JSON (checked by the contract tests); keep it verbatim.
    serde_json::from_str(record.schema_text()).unwrap_or(Value::Null)
}

fn header_schema(dlq: bool) -> Value {
    let uuid = |d: &str| json!({"type": "string", "format": "uuid", "description": d});
    let mut properties = Map::new();
    properties.insert(names::MESSAGE_ID.into(), uuid("Unique id of this message (UUID); the unit of de-duplication. When missing on input, derived from topic/partition/offset (v5 UUID), so a redelivery keeps its id; a non-UUID value is mapped to a v5 UUID of itself."));
    properties.insert(names::CORRELATION_ID.into(), uuid("Id shared by every message of one business flow; defaults to the message-id of its first message."));
    properties.insert(
        names::CAUSATION_ID.into(),
        uuid("message-id of the message that caused this one (absent on root messages)."),
    );
    properties.insert(names::MESSAGE_TYPE.into(), json!({"type": "string", "description": "Full name of the Avro record in the payload, e.g. allocation.events.Allocated."}));
    properties.insert(names::TRACEPARENT.into(), json!({"type": "string", "pattern": "^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}", "description": "W3C Trace Context traceparent. Continued from the cause; a message without one starts a trace whose id is its message-id."}));
    properties.insert(names::EVENT_TIME.into(), json!({"type": "string", "format": "date-time", "description": "When the fact happened / the command was issued: RFC 3339 in UTC with milliseconds (e.g. 2025-01-31T09:30:00.123Z). Read as RFC 3339 or integer epoch milliseconds; defaults to the Kafka timestamp."}));
    let mut required = vec![
        names::MESSAGE_ID,
        names::CORRELATION_ID,
        names::MESSAGE_TYPE,
        names::TRACEPARENT,
        names::EVENT_TIME,
    ];
    if dlq {
        for (name, d) in [
            (names::DLQ_REASON, "Stable machine-readable reason, e.g. bad-magic-byte, unknown-schema-id, unhandled-record-type, invalid-value."),
            (names::DLQ_CLASS, "deserialization | schema | validation."),
            (names::DLQ_ERROR, "Human-readable error (≤ 1 KiB)."),
            (names::DLQ_SOURCE_TOPIC, "Topic the record was consumed from."),
            (names::DLQ_SOURCE_PARTITION, "Its partition (decimal)."),
            (names::DLQ_SOURCE_OFFSET, "Its offset (decimal)."),
            (names::DLQ_FAILED_AT, "When it was dead-lettered (RFC 3339)."),
        ] {
            properties.insert(name.into(), json!({"type": "string", "description": d}));
        }
        // The original headers are kept as they were, so none of the envelope is guaranteed.
        required = vec![
            names::DLQ_REASON,
            names::DLQ_CLASS,
            names::DLQ_ERROR,
            names::DLQ_SOURCE_TOPIC,
            names::DLQ_SOURCE_PARTITION,
            names::DLQ_SOURCE_OFFSET,
        ];
    }
    json!({"type": "object", "properties": properties, "required": required})
}

fn message(record: RecordType, channel: &Channel) -> Value {
    let schema = schema_json(record);
    json!({
        "name": record.full_name(),
        "title": short_name(record),
        "summary": schema["doc"],
        "contentType": AVRO_CONTENT,
        "headers": {"$ref": "#/components/schemas/EnvelopeHeaders"},
        "payload": {"schemaFormat": AVRO_FORMAT, "schema": schema},
        "bindings": {"kafka": {
            "key": {"type": "string", "description": channel.key},
            "schemaIdLocation": "payload",
            "schemaIdPayloadEncoding": "confluent",
            "schemaLookupStrategy": "TopicRecordNameStrategy",
            "bindingVersion": KAFKA_BINDING,
        }},
    })
}

/// The AsyncAPI document for these topic names.
pub fn asyncapi(topics: &Topics) -> Value {
    let mut channels = Map::new();
    let mut operations = Map::new();
    let mut messages = Map::new();
    for channel in topics.channels() {
        let key = channel_key(channel.id);
        let mut channel_messages = Map::new();
        for &record in &channel.record_types {
            messages.insert(record.full_name().into(), message(record, &channel));
            channel_messages.insert(
                short_name(record).into(),
                json!({"$ref": format!("#/components/messages/{}", record.full_name())}),
            );
        }
        if channel.id == ChannelId::Dlq {
            channel_messages.insert(
                "DeadLetter".into(),
                json!({"$ref": "#/components/messages/DeadLetter"}),
            );
        }
        let mut topic_config = json!({});
        if channel.compacted {
            topic_config = json!({"cleanup.policy": ["compact"]});
        }
        channels.insert(key.into(), json!({
            "address": channel.topic,
            "description": format!("{} Key: {} (UTF-8 string).", channel.description, channel.key),
            "messages": channel_messages,
            "bindings": {"kafka": {"topic": channel.topic, "topicConfiguration": topic_config, "bindingVersion": KAFKA_BINDING}},
        }));
        let refs: Vec<Value> = channel_messages
            .keys()
            .map(|m| json!({"$ref": format!("#/channels/{key}/messages/{m}")}))
            .collect();
        let mut op = |action: &str, verb: &str| {
            operations.insert(
                format!("{verb}{}{}", key[..1].to_uppercase(), &key[1..]),
                json!({
                    "action": action,
                    "channel": {"$ref": format!("#/channels/{key}")},
                    "messages": refs,
                }),
            );
        };
        match channel.direction {
            Direction::Inbound => op("receive", "receive"),
            Direction::Outbound => op("send", "send"),
            Direction::Both => {
                op("receive", "receive");
                op("send", "send");
            }
        }
    }
    messages.insert("DeadLetter".into(), json!({
        "name": "DeadLetter",
        "title": "Dead-lettered record",
        "summary": "The original key, value bytes and headers of a record that failed deterministically, plus dlq-* headers.",
        "headers": {"$ref": "#/components/schemas/DeadLetterHeaders"},
        "payload": {"type": "string", "format": "binary", "description": "The original value bytes, unchanged."},
    }));
    json!({
        "asyncapi": "3.0.0",
        "info": {
            "title": "allocation-worker",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Exactly-once Kafka worker of the stock-allocation context. Values are Avro in the Confluent wire format (magic byte 0, 4-byte schema id, Avro binary); schemas live in a Confluent-compatible registry under TopicRecordNameStrategy subjects (<topic>-<record full name>) and evolve BACKWARD-compatibly. Keys are plain UTF-8 strings. Read with isolation.level=read_committed.",
        },
        "defaultContentType": AVRO_CONTENT,
        "channels": channels,
        "operations": operations,
        "components": {
            "messages": messages,
            "schemas": {
                "EnvelopeHeaders": header_schema(false),
                "DeadLetterHeaders": header_schema(true),
            },
        },
    })
}

/// Writes the document for `args` to `out`.
pub fn run(args: &ContractArgs, out: &mut impl Write) -> Result<(), ContractError> {
    let file = match &args.config {
        Some(path) => ConfigFile::load(path)?,
        None => ConfigFile::default(),
    };
    let prefix = pick(args.topic_prefix.clone(), file.topic_prefix, String::new());
    let document = asyncapi(&Topics::with_prefix(&prefix));
    serde_json::to_writer_pretty(&mut *out, &document).map_err(std::io::Error::from)?;
    writeln!(out)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_record_type_and_schema_file_is_in_the_document() {
        let doc = asyncapi(&Topics::default());
        for &record in RecordType::ALL {
            let m = &doc["components"]["messages"][record.full_name()];
            assert_eq!(m["payload"]["schema"], schema_json(record), "{record}");
            let on_channel = doc["channels"]
                .as_object()
                .unwrap()
                .values()
                .filter(|c| c["messages"][short_name(record)].is_object())
                .count();
            assert_eq!(on_channel, 1, "{record} must be on exactly one channel");
        }
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/schemas");
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "avsc") {
                let file: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
                let name = format!(
                    "{}.{}",
                    file["namespace"].as_str().unwrap(),
                    file["name"].as_str().unwrap()
                );
                assert_eq!(
                    doc["components"]["messages"][&name]["payload"]["schema"], file,
                    "{path:?}"
                );
            }
        }
    }

    #[test]
    fn channels_use_the_design_topic_names_and_refs_resolve() {
        let doc = asyncapi(&Topics::default());
        assert_eq!(doc["asyncapi"], "3.0.0");
        for (key, topic) in [
            ("commands", "allocation.commands"),
            ("ordersEvents", "orders.events"),
            ("events", "allocation.events"),
            ("changelog", "allocation.changelog"),
            ("view", "allocation.view"),
            ("deadLetters", "allocation.dlq"),
        ] {
            assert_eq!(doc["channels"][key]["address"], topic);
        }
        let text = doc.to_string();
        for reference in text.split("\"$ref\":\"#/").skip(1) {
            let path = &reference[..reference.find('"').unwrap()];
            let target = path.split('/').fold(&doc, |v, k| &v[k]);
            assert!(!target.is_null(), "dangling $ref #/{path}");
        }
    }

    #[test]
    fn prefix_applies_to_every_address() {
        let mut out = Vec::new();
        run(
            &ContractArgs {
                config: None,
                topic_prefix: Some("stg.".into()),
            },
            &mut out,
        )
        .unwrap();
        let doc: Value = serde_json::from_slice(&out).unwrap();
        for channel in doc["channels"].as_object().unwrap().values() {
            assert!(channel["address"].as_str().unwrap().starts_with("stg."));
        }
    }
}
