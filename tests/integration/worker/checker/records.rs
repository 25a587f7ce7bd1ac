//! The outputs the checker compares, in one form for both sides: [`Record`]s from the replay
//! ([`expected_records`]) and from what the worker committed ([`observed_records`]).

use std::fmt;

use allocation_worker::domain::{Command, Event, MessageId, Product};
use allocation_worker::service_layer::ViewUpdate;

use super::super::replay::Expected;
use super::super::support::{Observed, Position};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) enum Channel {
    Events,
    View,
    Changelog,
    Commands,
}

impl Channel {
    /// A compacted topic: only the latest value per key matters.
    pub(super) fn compacted(self) -> bool {
        matches!(self, Channel::View | Channel::Changelog)
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Channel::Events => "event",
            Channel::View => "view row",
            Channel::Changelog => "snapshot",
            Channel::Commands => "derived command",
        })
    }
}

/// The content of one output record, comparable across replay and Kafka.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Content {
    Event(Event),
    /// (orderid, sku, batchref; `None` = tombstone)
    Row(String, String, Option<String>),
    Snapshot(Option<Product>),
    Command(Command),
}

impl Content {
    /// A short kind label (`Allocated`, `view upsert`, `snapshot`, ...).
    pub(super) fn kind(&self) -> String {
        match self {
            Content::Event(e) => e.type_name().to_owned(),
            Content::Row(_, _, Some(_)) => "view upsert".into(),
            Content::Row(_, _, None) => "view delete".into(),
            Content::Snapshot(_) => "snapshot".into(),
            Content::Command(c) => format!("derived {}", c.type_name()),
        }
    }

    pub(super) fn short(&self) -> String {
        match self {
            Content::Event(e) => format!("{e:?}"),
            Content::Row(o, s, b) => format!("row [{o}, {s}] -> {b:?}"),
            Content::Snapshot(Some(p)) => {
                format!("snapshot of {} v{}", p.sku(), p.version_number())
            }
            Content::Snapshot(None) => "changelog tombstone".into(),
            Content::Command(c) => format!("{c:?}"),
        }
    }
}

pub(super) struct Record {
    pub(super) channel: Channel,
    pub(super) message_id: Option<MessageId>,
    pub(super) causation: Option<MessageId>,
    pub(super) at: Option<Position>,
    pub(super) content: Content,
}

/// The replay's records and the committed ones with one message id.
pub(super) type WantGot<'a> = (Vec<&'a Record>, Vec<&'a Record>);

pub(super) fn expected_records(expected: &Expected) -> Vec<Record> {
    let mut out = Vec::new();
    for (_, outcome) in &expected.outcomes {
        let mut push = |channel, meta: &allocation_worker::service_layer::Metadata, content| {
            out.push(Record {
                channel,
                message_id: Some(meta.message_id),
                causation: Some(meta.causation_id),
                at: None,
                content,
            })
        };
        for e in &outcome.events {
            push(
                Channel::Events,
                &e.metadata,
                Content::Event(e.payload.clone()),
            );
        }
        for u in &outcome.view_updates {
            let content = match &u.payload {
                ViewUpdate::Upsert {
                    orderid,
                    sku,
                    batchref,
                } => Content::Row(
                    orderid.to_string(),
                    sku.to_string(),
                    Some(batchref.to_string()),
                ),
                ViewUpdate::Delete { orderid, sku } => {
                    Content::Row(orderid.to_string(), sku.to_string(), None)
                }
            };
            push(Channel::View, &u.metadata, content);
        }
        for c in &outcome.derived_commands {
            push(
                Channel::Commands,
                &c.metadata,
                Content::Command(c.payload.clone()),
            );
        }
        for s in &outcome.snapshots {
            push(
                Channel::Changelog,
                &s.metadata,
                Content::Snapshot(Some((*s.payload).clone())),
            );
        }
    }
    out
}

pub(super) fn observed_records(observed: &Observed) -> Vec<Record> {
    let mut out = Vec::new();
    let mut push = |channel, at: &Position, content| {
        out.push(Record {
            channel,
            message_id: at.message_id,
            causation: at.causation_id,
            at: Some(at.clone()),
            content,
        })
    };
    for e in &observed.events {
        push(Channel::Events, &e.at, Content::Event(e.event.clone()));
    }
    for r in &observed.view {
        push(
            Channel::View,
            &r.at,
            Content::Row(r.orderid.clone(), r.sku.clone(), r.batchref.clone()),
        );
    }
    for c in &observed.derived {
        push(
            Channel::Commands,
            &c.at,
            Content::Command(c.command.clone()),
        );
    }
    for s in &observed.snapshots {
        push(
            Channel::Changelog,
            &s.at,
            Content::Snapshot(s.product.clone()),
        );
    }
    out
}

pub(super) fn at(p: &Option<Position>) -> String {
    match p {
        Some(p) => format!("p{}@{}", p.partition, p.offset),
        None => "-".into(),
    }
}
