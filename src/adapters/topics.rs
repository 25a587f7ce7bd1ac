//! The Kafka topology as the contract sees it: topic names (defaults from DESIGN §4,
//! configurable and prefixable), what each topic is keyed by, and which record types travel on
//! it. The codec registers schemas per (topic, record type) from this table, and the AsyncAPI
//! document is generated from it.
//!
//! Invariants: every [`RecordType`] travels on exactly one channel; the DLQ carries the original
//! bytes of poison records and so has no record types of its own.

use super::contracts::{RecordKind, RecordType};

/// Topic names. `Default` gives the names of DESIGN §4.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    /// Commands of this context (key: sku).
    pub commands: String,
    /// External events of the orders context (key: orderid).
    pub orders_events: String,
    /// External events of the purchasing context (key: po_reference).
    pub purchasing_events: String,
    /// Domain events of this context (key: sku).
    pub events: String,
    /// Aggregate snapshots, compacted (key: sku).
    pub changelog: String,
    /// Read model, compacted (key: `[orderid, sku]`, partitioned by orderid).
    pub view: String,
    /// Poison records with error headers (key: the original key).
    pub dlq: String,
}

impl Default for Topics {
    fn default() -> Self {
        Self {
            commands: "allocation.commands".into(),
            orders_events: "orders.events".into(),
            purchasing_events: "purchasing.events".into(),
            events: "allocation.events".into(),
            changelog: "allocation.changelog".into(),
            view: "allocation.view".into(),
            dlq: "allocation.dlq".into(),
        }
    }
}

/// Which topic of [`Topics`] a channel is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChannelId {
    Commands,
    OrdersEvents,
    PurchasingEvents,
    Events,
    Changelog,
    View,
    Dlq,
}

/// Who writes a channel, from this worker's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Other teams produce, the worker consumes.
    Inbound,
    /// The worker produces, other teams consume.
    Outbound,
    /// Both (commands: other teams send them; the worker also re-keys derived commands there;
    /// changelog: the worker writes it and restores from it).
    Both,
}

/// One topic of the contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channel {
    pub id: ChannelId,
    pub topic: String,
    /// What the record key is (always a UTF-8 string, not registry-encoded).
    pub key: &'static str,
    pub direction: Direction,
    /// Whether the topic is log-compacted (a null value is a tombstone).
    pub compacted: bool,
    pub description: &'static str,
    pub record_types: Vec<RecordType>,
}

impl ChannelId {
    /// All channels, in document order.
    pub const ALL: &'static [ChannelId] = &[
        ChannelId::Commands,
        ChannelId::OrdersEvents,
        ChannelId::PurchasingEvents,
        ChannelId::Events,
        ChannelId::Changelog,
        ChannelId::View,
        ChannelId::Dlq,
    ];

    /// The channel a record type travels on.
    pub fn of(record: RecordType) -> ChannelId {
        match (record.kind(), record) {
            (_, RecordType::OrderCancelled) => ChannelId::OrdersEvents,
            (_, RecordType::PurchaseOrderConfirmed) => ChannelId::PurchasingEvents,
            (RecordKind::Command, _) => ChannelId::Commands,
            (RecordKind::Event, _) => ChannelId::Events,
            (RecordKind::Snapshot, _) => ChannelId::Changelog,
            (RecordKind::View, _) => ChannelId::View,
            // Every external event is matched by name above; an unmatched new one is inbound.
            (RecordKind::ExternalEvent, _) => ChannelId::OrdersEvents,
        }
    }
}

impl Topics {
    /// The default names with `prefix` in front of each (e.g. `"staging."`).
    pub fn with_prefix(prefix: &str) -> Self {
        let d = Self::default();
        let p = |s: String| format!("{prefix}{s}");
        Self {
            commands: p(d.commands),
            orders_events: p(d.orders_events),
            purchasing_events: p(d.purchasing_events),
            events: p(d.events),
            changelog: p(d.changelog),
            view: p(d.view),
            dlq: p(d.dlq),
        }
    }

    /// The topic name of a channel.
    pub fn topic(&self, id: ChannelId) -> &str {
        match id {
            ChannelId::Commands => &self.commands,
            ChannelId::OrdersEvents => &self.orders_events,
            ChannelId::PurchasingEvents => &self.purchasing_events,
            ChannelId::Events => &self.events,
            ChannelId::Changelog => &self.changelog,
            ChannelId::View => &self.view,
            ChannelId::Dlq => &self.dlq,
        }
    }

    /// The topic a record type is written to.
    pub fn topic_of(&self, record: RecordType) -> &str {
        self.topic(ChannelId::of(record))
    }

    /// Every channel with its key, direction and record types.
    pub fn channels(&self) -> Vec<Channel> {
        ChannelId::ALL.iter().map(|&id| self.channel(id)).collect()
    }

    /// One channel.
    pub fn channel(&self, id: ChannelId) -> Channel {
        let (key, direction, compacted, description) = match id {
            ChannelId::Commands => (
                "sku",
                Direction::Both,
                false,
                "Commands to the allocation context. Keyed by sku so that one partition owns one \
                 Product aggregate. Every command gets exactly one outcome on the events topic \
                 (its events, or CommandRejected), correlated by the correlation-id header.",
            ),
            ChannelId::OrdersEvents => (
                "orderid",
                Direction::Inbound,
                false,
                "External events of the orders context. OrderCancelled is translated into a \
                 Deallocate command, re-keyed by sku onto the commands topic in the same \
                 transaction.",
            ),
            ChannelId::PurchasingEvents => (
                "po_reference",
                Direction::Inbound,
                false,
                "External events of the purchasing context. PurchaseOrderConfirmed is \
                 translated into a CreateBatch command, re-keyed by sku onto the commands topic.",
            ),
            ChannelId::Events => (
                "sku",
                Direction::Outbound,
                false,
                "Domain (integration) events of the allocation context, written exactly once \
                 in the transaction that consumed their cause. Read with \
                 isolation.level=read_committed.",
            ),
            ChannelId::Changelog => (
                "sku",
                Direction::Both,
                true,
                "Latest state of each Product aggregate; the worker restores from it. \
                 Co-partitioned with the commands topic. Internal: other teams should not \
                 depend on it.",
            ),
            ChannelId::View => (
                "[orderid, sku] as a JSON array, e.g. [\"o1\",\"LAMP\"]",
                Direction::Outbound,
                true,
                "Read model: where each order line is allocated, one compacted row per \
                 (orderid, sku). Rows of one order are on the partition Kafka's default \
                 partitioner picks for the orderid. A null value (tombstone) removes the row.",
            ),
            ChannelId::Dlq => (
                "the original record's key",
                Direction::Outbound,
                false,
                "Records that failed deterministically (undecodable, unknown type, invalid \
                 values), with their original key, value and headers, plus dlq-* headers \
                 saying why.",
            ),
        };
        Channel {
            id,
            topic: self.topic(id).to_owned(),
            key,
            direction,
            compacted,
            description,
            record_types: RecordType::ALL
                .iter()
                .copied()
                .filter(|&r| ChannelId::of(r) == id)
                .collect(),
        }
    }
}

/// The registry subject of a record type on a topic (TopicRecordNameStrategy).
pub fn subject_name(topic: &str, record: RecordType) -> String {
    format!("{topic}-{}", record.full_name())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_record_type_is_on_exactly_one_channel() {
        let channels = Topics::default().channels();
        for &record in RecordType::ALL {
            let on: Vec<_> = channels
                .iter()
                .filter(|c| c.record_types.contains(&record))
                .collect();
            assert_eq!(on.len(), 1, "{record} is on {} channels", on.len());
        }
        assert!(channels
            .iter()
            .any(|c| c.id == ChannelId::Dlq && c.record_types.is_empty()));
    }

    #[test]
    fn default_names_follow_the_design_and_prefixes_apply() {
        let t = Topics::default();
        assert_eq!(t.commands, "allocation.commands");
        assert_eq!(t.orders_events, "orders.events");
        assert_eq!(t.dlq, "allocation.dlq");
        let p = Topics::with_prefix("stg.");
        assert_eq!(p.changelog, "stg.allocation.changelog");
        assert_eq!(
            subject_name(&p.commands, RecordType::Allocate),
            "stg.allocation.commands-allocation.commands.Allocate"
        );
    }
}
