//! The reference: the same commands handled sequentially by the in-memory bus
//! ([`bootstrap::in_memory`]), one at a time, in the order the worker sees them (per partition,
//! by offset; aggregates are per sku and every sku lives on one partition, so the order across
//! partitions does not matter).
//!
//! Outputs are deterministic (ids derived from the inbound message id, event time from the
//! inbound envelope), so the worker's outputs must equal the replay's record for record.

use std::collections::BTreeMap;

use allocation_worker::bootstrap;
use allocation_worker::domain::{MessageId, Product};
use allocation_worker::service_layer::{
    AllocationsQuery, Inbound, InboundMessage, Outcome, StateStore, ViewUpdate,
};

use super::support::{Sent, SentKind, ViewFold};

/// What the worker must have written for the valid commands of a run.
#[derive(Debug, Clone)]
pub struct Expected {
    /// Each valid command delivery's outcome, in replay order (a redelivery of an applied
    /// message id has an empty `Duplicate` outcome).
    pub outcomes: Vec<(MessageId, Outcome)>,
    /// The final state of every product.
    pub products: BTreeMap<String, Product>,
    /// The final allocations view.
    pub view: ViewFold,
}

/// Replays every valid command of `sent` (see the module docs).
pub fn replay(sent: &[Sent]) -> Expected {
    let mut ordered: Vec<&Sent> = sent.iter().collect();
    ordered.sort_by_key(|s| (s.partition, s.offset));
    let mut bus = bootstrap::in_memory().expect("standard wiring");
    let mut outcomes = Vec::new();
    let mut view = ViewFold::new();
    for s in ordered {
        let SentKind::Command { command, meta } = &s.kind else {
            continue;
        };
        let outcome = bus
            .handle(Inbound {
                metadata: meta.clone(),
                message: InboundMessage::Command(command.clone()),
            })
            .unwrap_or_else(|e| panic!("replay: the bus failed on {command:?}: {e}"));
        bus.commit_batch();
        for update in &outcome.view_updates {
            match &update.payload {
                ViewUpdate::Upsert {
                    orderid,
                    sku,
                    batchref,
                } => {
                    view.entry(orderid.to_string())
                        .or_default()
                        .insert(sku.to_string(), batchref.to_string());
                }
                ViewUpdate::Delete { orderid, sku } => {
                    if let Some(rows) = view.get_mut(orderid.as_str()) {
                        rows.remove(sku.as_str());
                        if rows.is_empty() {
                            view.remove(orderid.as_str());
                        }
                    }
                }
            }
        }
        outcomes.push((meta.message_id, outcome));
    }
    // The bus's own materialised view must agree with the fold of its view updates.
    for (orderid, rows) in &view {
        let id = allocation_worker::domain::OrderId::new(orderid).expect("orderid");
        let from_bus: BTreeMap<String, String> = bus
            .views()
            .allocations(&id)
            .into_iter()
            .map(|r| (r.sku.to_string(), r.batchref.to_string()))
            .collect();
        assert_eq!(&from_bus, rows, "replay: view of {orderid}");
    }
    let products = bus
        .store()
        .products()
        .map(|p| (p.sku().to_string(), p.clone()))
        .collect();
    Expected {
        outcomes,
        products,
        view,
    }
}
