//! Value objects are validated when built, including when deserialized.

use crate::domain::{
    Allocate, BatchRef, Command, OrderId, Quantity, Sku, ValueError, MAX_IDENTIFIER_LEN,
};

#[test]
fn identifiers_refuse_empty_padded_control_and_oversized_values() {
    assert_eq!(Sku::new(""), Err(ValueError::Empty { kind: "sku" }));
    assert_eq!(
        OrderId::new(" o1"),
        Err(ValueError::SurroundingWhitespace { kind: "orderid" })
    );
    assert_eq!(
        BatchRef::new("b\n1"),
        Err(ValueError::ControlCharacter {
            kind: "batch reference"
        })
    );
    let long = "x".repeat(MAX_IDENTIFIER_LEN + 1);
    assert!(matches!(Sku::new(&long), Err(ValueError::TooLong { .. })));
    assert!(Sku::new("x".repeat(MAX_IDENTIFIER_LEN)).is_ok());
    assert_eq!(
        Sku::new("RED CHAIR").map(|s| s.to_string()).as_deref(),
        Ok("RED CHAIR")
    );
}

#[test]
fn quantities_must_be_positive_and_fit_u32() {
    assert_eq!(Quantity::new(0), Err(ValueError::NonPositiveQuantity(0)));
    assert_eq!(Quantity::new(-3), Err(ValueError::NonPositiveQuantity(-3)));
    assert_eq!(
        Quantity::new(i64::from(u32::MAX) + 1),
        Err(ValueError::QuantityTooLarge(i64::from(u32::MAX) + 1))
    );
    assert_eq!(Quantity::new(1).map(Quantity::get), Ok(1));
}

#[test]
fn deserializing_validates() {
    assert!(serde_json::from_str::<Sku>(r#""""#).is_err());
    assert!(serde_json::from_str::<Sku>(r#""ok""#).is_ok());
    assert!(serde_json::from_str::<Quantity>("0").is_err());
    assert!(serde_json::from_str::<Quantity>("-1").is_err());
    assert!(serde_json::from_str::<Quantity>("1.5").is_err());
    let bad = r#"{"type": "Allocate", "orderid": "o1", "sku": "", "qty": 1}"#;
    assert!(serde_json::from_str::<Command>(bad).is_err());
    let good = r#"{"type": "Allocate", "orderid": "o1", "sku": "LAMP", "qty": 1}"#;
    assert!(matches!(
        serde_json::from_str::<Command>(good),
        Ok(Command::Allocate(Allocate { .. }))
    ));
}

#[test]
fn identifiers_compare_and_hash_by_their_text() {
    use std::collections::HashSet;
    let set: HashSet<Sku> = [Sku::new("A").unwrap()].into();
    assert!(set.contains(&Sku::new("A").unwrap()));
    assert!(Sku::new("A").unwrap() < Sku::new("B").unwrap());
    assert_ne!(Sku::new("A").unwrap(), Sku::new("B").unwrap());
    assert_eq!(format!("{:?}", Sku::new("A").unwrap()), r#"Sku("A")"#);
}
