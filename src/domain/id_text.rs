//! [`IdText`]: the text of an identifier ([`Sku`](super::Sku), [`OrderId`](super::OrderId),
//! [`BatchRef`](super::BatchRef)) in 24 bytes, without a heap allocation when it is short.
//!
//! Identifiers are the bulk of an aggregate's memory (every allocated line holds an order id),
//! and most are short (`SKU-000123`, `o-4711`): text of up to [`INLINE_CAPACITY`] bytes is
//! stored inline; longer text is a shared `Arc<str>` (cloning it is a reference-count
//! increment) with a 56-bit fingerprint beside it, so comparing two different long identifiers
//! (scanning an aggregate's lines) does not read their text.
//!
//! Invariants: the representation is canonical — text of at most [`INLINE_CAPACITY`] bytes is
//! always inline, longer text always shared — so equality never compares across the two forms;
//! inline bytes past the length are zero, so two inline texts are equal exactly when their
//! whole representations are. Equality is decided on the text, never on a fingerprint alone.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// Longest text stored inline, in bytes.
pub(crate) const INLINE_CAPACITY: usize = 22;

/// FNV-1a, 64 bits: a stable fingerprint of a text (of its UTF-8 bytes).
fn fingerprint(text: &[u8]) -> u64 {
    text.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The 56 low bits of `fingerprint(text)`, as stored beside shared text.
fn short_fingerprint(text: &str) -> [u8; 7] {
    let bytes = fingerprint(text.as_bytes()).to_le_bytes();
    [
        bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6],
    ]
}

/// The text of an identifier. See the module documentation.
#[derive(Clone)]
pub(crate) enum IdText {
    /// `bytes[..len]` is the text; the rest is zero.
    Inline {
        len: u8,
        bytes: [u8; INLINE_CAPACITY],
    },
    /// Text longer than [`INLINE_CAPACITY`] bytes.
    Shared {
        fingerprint: [u8; 7],
        text: Arc<str>,
    },
}

impl IdText {
    pub(crate) fn new(text: &str) -> Self {
        if text.len() <= INLINE_CAPACITY {
            let mut bytes = [0; INLINE_CAPACITY];
            bytes[..text.len()].copy_from_slice(text.as_bytes());
            IdText::Inline {
                // At most INLINE_CAPACITY (22): fits.
                len: text.len() as u8,
                bytes,
            }
        } else {
            IdText::Shared {
                fingerprint: short_fingerprint(text),
                text: Arc::from(text),
            }
        }
    }

    /// The text's UTF-8 bytes, without the validation [`IdText::as_str`] pays: hashing,
    /// ordering and the snapshot writer use them (validating was ≈ 2 % of the processing
    /// thread).
    pub(crate) fn as_bytes(&self) -> &[u8] {
        match self {
            IdText::Inline { len, bytes } => &bytes[..usize::from(*len)],
            IdText::Shared { text, .. } => text.as_bytes(),
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        match self {
            IdText::Inline { len, bytes } => {
                // Copied from a `&str` as a whole (never split), so always valid UTF-8.
                std::str::from_utf8(&bytes[..usize::from(*len)]).unwrap_or_default()
            }
            IdText::Shared { text, .. } => text,
        }
    }
}

impl PartialEq for IdText {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (
                IdText::Inline { len, bytes },
                IdText::Inline {
                    len: other_len,
                    bytes: other_bytes,
                },
            ) => len == other_len && bytes == other_bytes,
            (
                IdText::Shared { fingerprint, text },
                IdText::Shared {
                    fingerprint: other_fingerprint,
                    text: other_text,
                },
            ) => {
                fingerprint == other_fingerprint
                    && (Arc::ptr_eq(text, other_text) || text == other_text)
            }
            _ => false,
        }
    }
}

impl Eq for IdText {}

impl Hash for IdText {
    fn hash<H: Hasher>(&self, state: &mut H) {
        match self {
            IdText::Inline { .. } => state.write_u64(fingerprint(self.as_bytes())),
            IdText::Shared { fingerprint, .. } => {
                let mut bytes = [0; 8];
                bytes[..7].copy_from_slice(fingerprint);
                state.write_u64(u64::from_le_bytes(bytes));
            }
        }
    }
}

impl PartialOrd for IdText {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for IdText {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // UTF-8 bytes order as their text does.
        self.as_bytes().cmp(other.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::hash_map::DefaultHasher;

    use super::*;

    fn hash(text: &IdText) -> u64 {
        let mut hasher = DefaultHasher::new();
        text.hash(&mut hasher);
        hasher.finish()
    }

    #[test]
    fn it_is_as_small_as_the_shared_text_with_its_fingerprint_was() {
        assert_eq!(std::mem::size_of::<IdText>(), 24);
    }

    #[test]
    fn short_text_is_inline_long_text_shared_and_both_read_back() {
        let short = "x".repeat(INLINE_CAPACITY);
        let long = "x".repeat(INLINE_CAPACITY + 1);
        assert!(matches!(IdText::new(&short), IdText::Inline { .. }));
        assert!(matches!(IdText::new(&long), IdText::Shared { .. }));
        for text in ["a", "SKU-000123", "é€𝄞 multi-byte", &short, &long, ""] {
            assert_eq!(IdText::new(text).as_str(), text);
        }
    }

    #[test]
    fn equality_hash_and_order_follow_the_text() {
        let texts = [
            "a",
            "b",
            "ab",
            "o-1",
            "o-10",
            &"y".repeat(INLINE_CAPACITY),
            &"y".repeat(INLINE_CAPACITY + 1),
            &"y".repeat(40),
            &format!("{}z", "y".repeat(39)),
            // Multi-byte text: byte order must be the text's order.
            "é",
            "e\u{10FFFF}",
            "\u{FFFD}x",
            "€uro",
            &"é".repeat(12),
        ];
        for a in texts {
            for b in texts {
                let (x, y) = (IdText::new(a), IdText::new(b));
                assert_eq!(x == y, a == b, "{a:?} == {b:?}");
                assert_eq!(x.as_bytes(), a.as_bytes());
                assert_eq!(x.cmp(&y), a.cmp(b), "{a:?} cmp {b:?}");
                if a == b {
                    assert_eq!(hash(&x), hash(&y));
                }
            }
            let shared = IdText::new(a);
            assert!(shared == shared.clone());
        }
    }
}
