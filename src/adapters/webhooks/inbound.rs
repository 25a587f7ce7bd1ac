//! Anti-corruption for inbound webhooks: a payload another organisation sends to
//! `POST /webhooks/{source}` becomes commands of this context, in the contract's JSON form.
//!
//! Accepted payloads (Standard Webhooks' `{"type", "timestamp", "data"}` shape):
//!
//! | `type` | `data` | commands |
//! |---|---|---|
//! | `order.placed` | `{"order_id", "lines": [{"sku", "quantity"}]}` | one `Allocate` per line |
//! | `order.cancelled` | `{"order_id", "lines": [{"sku"}]}` | one `Deallocate` per line |
//! | a command's full name, e.g. `allocation.commands.CreateBatch` | the command's JSON fields | that command |
//!
//! Invariants: the foreign vocabulary (`order_id`, `quantity`) stops here; the ids of the
//! commands are derived from (source, webhook id, index), so a redelivered webhook yields the
//! same message ids and the worker's duplicate detection makes it a no-op.

use serde_json::{json, Map, Value};
use uuid::Uuid;

use crate::domain::MessageId;
use crate::service_layer::clock::name_based;

/// Namespace of the v5 ids of commands that came in by webhook.
pub const WEBHOOK_NAMESPACE: Uuid = Uuid::from_u128(0x3f1d_7c52_9a4e_4b0f_8e61_2d9c_b7a0_41e5);

/// Why a payload cannot be translated (400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TranslateError {
    #[error("the body is not a JSON object with `type` and `data`: {0}")]
    Shape(String),
    #[error("unknown webhook type `{0}` (order.placed, order.cancelled or a command's full name)")]
    UnknownType(String),
}

fn field<'a>(object: &'a Map<String, Value>, name: &str) -> Result<&'a Value, TranslateError> {
    object
        .get(name)
        .ok_or_else(|| TranslateError::Shape(format!("`{name}` is missing")))
}

fn object<'a>(value: &'a Value, what: &str) -> Result<&'a Map<String, Value>, TranslateError> {
    value
        .as_object()
        .ok_or_else(|| TranslateError::Shape(format!("{what} must be an object")))
}

/// Translates a payload into the contract JSON form of each command it asks for, in order.
/// The commands are not validated here (the caller parses them like any other command).
pub fn translate(body: &[u8]) -> Result<Vec<Value>, TranslateError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| TranslateError::Shape(e.to_string()))?;
    let envelope = object(&value, "the body")?;
    let kind = field(envelope, "type")?
        .as_str()
        .ok_or_else(|| TranslateError::Shape("`type` must be a string".into()))?;
    let data = object(field(envelope, "data")?, "`data`")?;
    let lines = || -> Result<Vec<&Map<String, Value>>, TranslateError> {
        let lines = field(data, "lines")?
            .as_array()
            .ok_or_else(|| TranslateError::Shape("`data.lines` must be an array".into()))?;
        if lines.is_empty() {
            return Err(TranslateError::Shape("`data.lines` is empty".into()));
        }
        lines.iter().map(|l| object(l, "a line")).collect()
    };
    match kind {
        "order.placed" => {
            let orderid = field(data, "order_id")?;
            lines()?
                .into_iter()
                .map(|line| {
                    Ok(
                        json!({"type": "allocation.commands.Allocate", "orderid": orderid,
                          "sku": field(line, "sku")?, "qty": field(line, "quantity")?}),
                    )
                })
                .collect()
        }
        "order.cancelled" => {
            let orderid = field(data, "order_id")?;
            lines()?
                .into_iter()
                .map(|line| {
                    Ok(
                        json!({"type": "allocation.commands.Deallocate", "orderid": orderid,
                          "sku": field(line, "sku")?}),
                    )
                })
                .collect()
        }
        command if command.starts_with("allocation.commands.") => {
            let mut fields = data.clone();
            fields.insert("type".into(), Value::String(command.to_owned()));
            Ok(vec![Value::Object(fields)])
        }
        other => Err(TranslateError::UnknownType(
            other.chars().take(80).collect(),
        )),
    }
}

/// The message id of the `index`-th command of webhook `webhook_id` from `source`.
pub fn command_id(source: &str, webhook_id: &str, index: usize) -> MessageId {
    let name = format!("{source}\n{webhook_id}\n{index}");
    MessageId::from_uuid(name_based(&WEBHOOK_NAMESPACE, name.as_bytes()))
}

/// The correlation id of every command of one webhook.
pub fn correlation_id(source: &str, webhook_id: &str) -> MessageId {
    let name = format!("{source}\n{webhook_id}");
    MessageId::from_uuid(name_based(&WEBHOOK_NAMESPACE, name.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn foreign_orders_become_commands_of_this_context() {
        let placed = br#"{"type":"order.placed","timestamp":"2031-01-01T00:00:00Z",
            "data":{"order_id":"o1","lines":[{"sku":"LAMP","quantity":2},{"sku":"CHAIR","quantity":1}]}}"#;
        assert_eq!(
            translate(placed).unwrap(),
            vec![
                json!({"type":"allocation.commands.Allocate","orderid":"o1","sku":"LAMP","qty":2}),
                json!({"type":"allocation.commands.Allocate","orderid":"o1","sku":"CHAIR","qty":1}),
            ]
        );
        let cancelled =
            br#"{"type":"order.cancelled","data":{"order_id":"o1","lines":[{"sku":"LAMP"}]}}"#;
        assert_eq!(
            translate(cancelled).unwrap(),
            vec![json!({"type":"allocation.commands.Deallocate","orderid":"o1","sku":"LAMP"})]
        );
        let command = br#"{"type":"allocation.commands.CreateBatch","data":{"reference":"b1","sku":"LAMP","qty":5,"eta":null}}"#;
        assert_eq!(
            translate(command).unwrap(),
            vec![
                json!({"type":"allocation.commands.CreateBatch","reference":"b1","sku":"LAMP","qty":5,"eta":null})
            ]
        );
    }

    #[test]
    fn anything_else_is_refused_with_a_reason() {
        for bad in [
            &b"not json"[..],
            b"[]",
            br#"{"data":{}}"#,
            br#"{"type":"order.placed"}"#,
            br#"{"type":"order.placed","data":{"order_id":"o1","lines":[]}}"#,
            br#"{"type":"order.placed","data":{"order_id":"o1","lines":[{"sku":"A"}]}}"#,
            br#"{"type":"order.placed","data":{"lines":[{"sku":"A","quantity":1}]}}"#,
        ] {
            assert!(
                matches!(translate(bad), Err(TranslateError::Shape(_))),
                "{bad:?}"
            );
        }
        assert!(matches!(
            translate(br#"{"type":"invoice.paid","data":{}}"#),
            Err(TranslateError::UnknownType(_))
        ));
    }

    #[test]
    fn ids_are_deterministic_per_source_webhook_and_line() {
        assert_eq!(
            command_id("shop", "msg_1", 0),
            command_id("shop", "msg_1", 0)
        );
        assert_ne!(
            command_id("shop", "msg_1", 0),
            command_id("shop", "msg_1", 1)
        );
        assert_ne!(
            command_id("shop", "msg_1", 0),
            command_id("crm", "msg_1", 0)
        );
        assert_ne!(
            correlation_id("shop", "msg_1"),
            command_id("shop", "msg_1", 0)
        );
    }
}
