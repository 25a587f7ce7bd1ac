//! The direct snapshot writer and reader against their references: the DTO's Avro writer and
//! the domain's serde form, on generated aggregates and on damaged snapshots.

use proptest::prelude::*;

use crate::adapters::avro::AvroField;

use super::domain::{from_product, to_product_via_serde};
use super::records as wire;
use super::snapshot::{to_product, write_snapshot};
use crate::domain::{BatchRef, MessageId, OrderId, OrderLine, Product, Quantity, Sku};

/// One change to a product, applied whatever the domain answers (a refusal changes nothing).
#[derive(Debug, Clone)]
enum Step {
    AddBatch {
        reference: u8,
        qty: i64,
        eta: Option<i32>,
    },
    Allocate {
        order: u16,
        qty: i64,
    },
    Deallocate {
        order: u16,
    },
    ChangeQuantity {
        reference: u8,
        qty: i64,
    },
    Applied(u128),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0..6u8, 1..40i64, proptest::option::of(0..20_000i32)).prop_map(|(reference, qty, eta)| {
            Step::AddBatch {
                reference,
                qty,
                eta,
            }
        }),
        (0..60u16, 1..6i64).prop_map(|(order, qty)| Step::Allocate { order, qty }),
        (0..60u16).prop_map(|order| Step::Deallocate { order }),
        (0..6u8, 1..40i64).prop_map(|(reference, qty)| Step::ChangeQuantity { reference, qty }),
        any::<u128>().prop_map(Step::Applied),
    ]
}

fn product(sku: &str, steps: &[Step]) -> Product {
    let sku: Sku = sku.parse().expect("a valid sku");
    let mut product = Product::new(sku.clone());
    let reference = |r: &u8| -> BatchRef { format!("batch-{r}").parse().expect("valid") };
    // Long enough that some ids are stored out of line.
    let order = |o: &u16| -> OrderId {
        format!("order-{o}-{}", "x".repeat(usize::from(*o % 30)))
            .parse()
            .expect("valid")
    };
    let qty = |q: &i64| Quantity::new(*q).expect("positive");
    for step in steps {
        let _ = match step {
            Step::AddBatch {
                reference: r,
                qty: q,
                eta,
            } => product
                .add_batch(
                    reference(r),
                    sku.clone(),
                    qty(q),
                    eta.and_then(|d| chrono::NaiveDate::from_num_days_from_ce_opt(730_000 + d)),
                )
                .map(drop),
            Step::Allocate { order: o, qty: q } => product
                .allocate(OrderLine::new(order(o), sku.clone(), qty(q)))
                .map(drop),
            Step::Deallocate { order: o } => product.deallocate(&order(o)).map(drop),
            Step::ChangeQuantity {
                reference: r,
                qty: q,
            } => product
                .change_batch_quantity(&reference(r), qty(q))
                .map(drop),
            Step::Applied(id) => {
                product.record_applied(MessageId::from_uuid(uuid::Uuid::from_u128(*id)));
                Ok(())
            }
        };
    }
    product
}

fn snapshot_of(product: &Product) -> wire::ProductSnapshot {
    match from_product(product) {
        Ok(super::WireMessage::ProductSnapshot(s)) => s,
        other => panic!("a product's DTO is a snapshot, got {other:?}"),
    }
}

/// A snapshot damaged in one place (values the domain refuses, or broken invariants).
fn damage(mut s: wire::ProductSnapshot, how: u8, at: usize) -> wire::ProductSnapshot {
    let n = s.batches.len().max(1);
    match (how, s.batches.get_mut(at % n)) {
        (0, _) => s.sku = String::new(),
        (1, _) => s.version_number = -1,
        (2, _) => s.applied_message_ids.push("not-a-uuid".into()),
        (3, Some(b)) => b.sku = format!("{}-other", b.sku),
        (4, Some(b)) => b.purchased_quantity = 0,
        (5, Some(b)) => b.purchased_quantity = 1,
        (6, Some(b)) if !b.allocations.is_empty() => {
            let line = b.allocations[0].clone();
            b.allocations.push(line);
        }
        (7, Some(b)) if !b.allocations.is_empty() => b.allocations[0].sku = " lead".into(),
        (8, Some(b)) if !b.allocations.is_empty() => b.allocations[0].qty = -3,
        (9, Some(b)) => {
            let copy = b.clone();
            s.batches.push(copy);
        }
        (10, Some(b)) => b.reference = "\u{7}bell".into(),
        _ => s
            .applied_message_ids
            .push(uuid::Uuid::from_u128(7).hyphenated().to_string()),
    }
    s
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    #[test]
    fn the_direct_writer_writes_the_dtos_bytes(steps in proptest::collection::vec(step(), 0..300)) {
        let p = product("SKU-DIRECT-AND-LONG-ENOUGH-TO-BE-HEAPED", &steps);
        let mut direct = vec![9u8];
        write_snapshot(&p, &mut direct).expect("a product's version fits");
        let mut reference = vec![9u8];
        snapshot_of(&p).write_avro(&mut reference);
        prop_assert_eq!(direct, reference);
    }

    #[test]
    fn the_direct_reader_restores_what_serde_restores(
        steps in proptest::collection::vec(step(), 0..200),
        how in 0..12u8,
        at in 0..8usize,
        damaged in any::<bool>(),
    ) {
        let p = product("LAMP", &steps);
        let mut s = snapshot_of(&p);
        if damaged {
            s = damage(s, how, at);
        }
        let direct = to_product(s.clone());
        let via_serde = to_product_via_serde(s);
        match (&direct, &via_serde) {
            (Ok(a), Ok(b)) => {
                prop_assert_eq!(snapshot_of(a), snapshot_of(b));
                if !damaged {
                    prop_assert_eq!(snapshot_of(a), snapshot_of(&p));
                }
            }
            (Err(_), Err(_)) => {}
            _ => prop_assert!(false, "direct {direct:?} vs serde {via_serde:?}"),
        }
    }
}
