//! What the worker tests read back: every output topic read with `read_committed` and
//! decoded ([`Observed`]) — events, changelog snapshots, view rows, worker-written commands and
//! DLQ records, each with its position and envelope ids. (A module of `support`, in its own
//! file; `#[path]` keeps it where both test crates that include `support` find it.)

use std::collections::BTreeMap;

use allocation_worker::adapters::codec::Codec;
use allocation_worker::adapters::contracts::domain::{to_command, to_event};
use allocation_worker::adapters::contracts::WireMessage;
use allocation_worker::adapters::envelope::names;
use allocation_worker::adapters::topics::Topics;
use allocation_worker::domain::{Command, Event, MessageId, Product};
use uuid::Uuid;

use super::ViewFold;
use crate::harness::{read_all, Isolation, Record};

fn header_id(record: &Record, name: &str) -> Option<MessageId> {
    let raw = record.headers.get(name)?;
    Uuid::parse_str(std::str::from_utf8(raw).ok()?)
        .ok()
        .map(MessageId::from_uuid)
}

fn header_str(record: &Record, name: &str) -> Option<String> {
    record
        .headers
        .get(name)
        .and_then(|v| String::from_utf8(v.clone()).ok())
}

/// Where an output record is and what envelope it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    pub partition: i32,
    pub offset: i64,
    pub key: String,
    pub message_id: Option<MessageId>,
    pub causation_id: Option<MessageId>,
}

impl Position {
    fn of(record: &Record) -> Self {
        Self {
            partition: record.partition,
            offset: record.offset,
            key: String::from_utf8_lossy(record.key.as_deref().unwrap_or_default()).into_owned(),
            message_id: header_id(record, names::MESSAGE_ID),
            causation_id: header_id(record, names::CAUSATION_ID),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ObservedEvent {
    pub at: Position,
    pub event: Event,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ObservedSnapshot {
    pub at: Position,
    /// `None`: a tombstone.
    pub product: Option<Product>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ObservedRow {
    pub at: Position,
    pub orderid: String,
    pub sku: String,
    /// `None`: a tombstone (the row was deleted).
    pub batchref: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ObservedCommand {
    pub at: Position,
    pub command: Command,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ObservedDlq {
    pub at: Position,
    pub reason: Option<String>,
    pub source_topic: Option<String>,
    pub source_partition: Option<i32>,
    pub source_offset: Option<i64>,
    pub payload: Option<Vec<u8>>,
}

/// Every output of the worker, read with `read_committed` (see the module docs).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observed {
    pub events: Vec<ObservedEvent>,
    pub snapshots: Vec<ObservedSnapshot>,
    pub view: Vec<ObservedRow>,
    /// Records on the command topic written by the worker (they carry a `causation-id`).
    pub derived: Vec<ObservedCommand>,
    pub dlq: Vec<ObservedDlq>,
    /// Output records that could not be decoded (each one a defect).
    pub undecodable: Vec<String>,
}

impl Observed {
    /// Reads and decodes every output topic (read_committed, up to the end).
    pub async fn read(codec: &Codec, topics: &Topics) -> Self {
        let (events, changelog, view, commands, dlq) = futures::join!(
            read_all(&topics.events, Isolation::ReadCommitted),
            read_all(&topics.changelog, Isolation::ReadCommitted),
            read_all(&topics.view, Isolation::ReadCommitted),
            read_all(&topics.commands, Isolation::ReadCommitted),
            read_all(&topics.dlq, Isolation::ReadCommitted),
        );
        let mut out = Observed::default();
        let where_ = |topic: &str, r: &Record| format!("{topic}[{}]@{}", r.partition, r.offset);
        for r in &events {
            match codec.decode(r.payload.as_deref()).await {
                Ok(d) => match to_event(d.message) {
                    Ok(Some(event)) => out.events.push(ObservedEvent {
                        at: Position::of(r),
                        event,
                    }),
                    other => out
                        .undecodable
                        .push(format!("{}: not an event: {other:?}", where_("events", r))),
                },
                Err(e) => out
                    .undecodable
                    .push(format!("{}: {e}", where_("events", r))),
            }
        }
        for r in &changelog {
            match codec.decode_snapshot(r.payload.as_deref()).await {
                Ok(product) => out.snapshots.push(ObservedSnapshot {
                    at: Position::of(r),
                    product,
                }),
                Err(e) => out
                    .undecodable
                    .push(format!("{}: {e}", where_("changelog", r))),
            }
        }
        for r in &view {
            let key: Result<(String, String), _> =
                serde_json::from_slice(r.key.as_deref().unwrap_or_default());
            let Ok((orderid, sku)) = key else {
                out.undecodable
                    .push(format!("{}: key is not [orderid, sku]", where_("view", r)));
                continue;
            };
            let batchref = match &r.payload {
                None => None,
                Some(p) => match codec.decode(Some(p)).await.map(|d| d.message) {
                    Ok(WireMessage::AllocationRow(row)) => {
                        if (row.orderid.as_str(), row.sku.as_str())
                            != (orderid.as_str(), sku.as_str())
                        {
                            out.undecodable.push(format!(
                                "{}: row {row:?} under key [{orderid}, {sku}]",
                                where_("view", r)
                            ));
                        }
                        Some(row.batchref)
                    }
                    other => {
                        out.undecodable
                            .push(format!("{}: not a row: {other:?}", where_("view", r)));
                        continue;
                    }
                },
            };
            out.view.push(ObservedRow {
                at: Position::of(r),
                orderid,
                sku,
                batchref,
            });
        }
        for r in commands
            .iter()
            .filter(|r| r.headers.contains_key(names::CAUSATION_ID))
        {
            match codec
                .decode(r.payload.as_deref())
                .await
                .map(|d| to_command(d.message))
            {
                Ok(Ok(Some(command))) => out.derived.push(ObservedCommand {
                    at: Position::of(r),
                    command,
                }),
                other => out
                    .undecodable
                    .push(format!("{}: {other:?}", where_("commands", r))),
            }
        }
        for r in &dlq {
            out.dlq.push(ObservedDlq {
                at: Position::of(r),
                reason: header_str(r, names::DLQ_REASON),
                source_topic: header_str(r, names::DLQ_SOURCE_TOPIC),
                source_partition: header_str(r, names::DLQ_SOURCE_PARTITION)
                    .and_then(|v| v.parse().ok()),
                source_offset: header_str(r, names::DLQ_SOURCE_OFFSET).and_then(|v| v.parse().ok()),
                payload: r.payload.clone(),
            });
        }
        out
    }

    /// The events whose `causation-id` is `id`, in (partition, offset) order.
    pub fn events_caused_by(&self, id: MessageId) -> Vec<&Event> {
        self.events
            .iter()
            .filter(|e| e.at.causation_id == Some(id))
            .map(|e| &e.event)
            .collect()
    }

    /// The view folded: orderid → {sku → batchref}, applying rows in offset order per
    /// partition (tombstones delete).
    pub fn view_fold(&self) -> ViewFold {
        let mut rows: Vec<&ObservedRow> = self.view.iter().collect();
        rows.sort_by_key(|r| (r.at.partition, r.at.offset));
        let mut view = ViewFold::new();
        for row in rows {
            match &row.batchref {
                Some(b) => {
                    view.entry(row.orderid.clone())
                        .or_default()
                        .insert(row.sku.clone(), b.clone());
                }
                None => {
                    if let Some(skus) = view.get_mut(&row.orderid) {
                        skus.remove(&row.sku);
                        if skus.is_empty() {
                            view.remove(&row.orderid);
                        }
                    }
                }
            }
        }
        view
    }

    /// The latest changelog value per sku (offset order per partition; `None`: tombstone).
    pub fn latest_products(&self) -> BTreeMap<String, (i32, Option<Product>)> {
        let mut snaps: Vec<&ObservedSnapshot> = self.snapshots.iter().collect();
        snaps.sort_by_key(|s| (s.at.partition, s.at.offset));
        let mut latest = BTreeMap::new();
        for s in snaps {
            latest.insert(s.at.key.clone(), (s.at.partition, s.product.clone()));
        }
        latest
    }
}
