//! W3C Trace Context `traceparent` header values (version `00`):
//! `00-<32 hex trace-id>-<16 hex parent-id>-<2 hex flags>`.
//!
//! Invariant: a [`TraceParent`] always has a non-zero trace id and parent id (the spec's
//! invalid all-zero values are refused by [`TraceParent::parse`] and never generated).

use std::fmt;

/// A parsed `traceparent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceParent {
    trace_id: u128,
    parent_id: u64,
    flags: u8,
}

/// The `sampled` trace flag.
pub const SAMPLED: u8 = 0x01;

/// `N` lowercase hex digits, in one pass: every inbound record's header is parsed, and
/// `u128::from_str_radix` (checked multiplications per digit, after a separate validation
/// pass) cost ≈ 1900 instructions per header, 2 % of an exactly-once worker's (callgrind).
fn hex<const N: usize>(s: &str) -> Option<u128> {
    if s.len() != N {
        return None;
    }
    s.bytes().try_fold(0u128, |value, b| {
        let digit = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            _ => return None,
        };
        Some(value << 4 | u128::from(digit))
    })
}

impl TraceParent {
    /// The length of the header's text.
    pub const LENGTH: usize = 55;

    /// The header's text: `00-<32 hex>-<16 hex>-<2 hex>`.
    pub fn to_bytes(&self) -> [u8; Self::LENGTH] {
        let mut text = *b"00-00000000000000000000000000000000-0000000000000000-00";
        write_hex(&mut text[3..35], self.trace_id);
        write_hex(&mut text[36..52], u128::from(self.parent_id));
        write_hex(&mut text[53..55], u128::from(self.flags));
        text
    }

    /// Builds one; `None` when an id is zero.
    pub fn new(trace_id: u128, parent_id: u64, flags: u8) -> Option<Self> {
        (trace_id != 0 && parent_id != 0).then_some(Self {
            trace_id,
            parent_id,
            flags,
        })
    }

    /// Builds one, replacing a zero id by 1 (for ids derived from hashes).
    pub const fn non_zero(trace_id: u128, parent_id: u64, flags: u8) -> Self {
        Self {
            trace_id: if trace_id == 0 { 1 } else { trace_id },
            parent_id: if parent_id == 0 { 1 } else { parent_id },
            flags,
        }
    }

    /// Parses a header value; `None` when it is not a valid version-00 (or compatible future
    /// version) `traceparent`.
    pub fn parse(value: &str) -> Option<Self> {
        let mut parts = value.split('-');
        let version = hex::<2>(parts.next()?)?;
        let trace_id = hex::<32>(parts.next()?)?;
        let parent_id = u64::try_from(hex::<16>(parts.next()?)?).ok()?;
        let flags = u8::try_from(hex::<2>(parts.next()?)?).ok()?;
        let rest_ok = match version {
            0 => parts.next().is_none(),
            0xff => false,
            // Future versions may append fields; the first four keep their meaning.
            _ => true,
        };
        if !rest_ok {
            return None;
        }
        Self::new(trace_id, parent_id, flags)
    }

    /// The trace id.
    pub fn trace_id(&self) -> u128 {
        self.trace_id
    }

    /// The parent (span) id.
    pub fn parent_id(&self) -> u64 {
        self.parent_id
    }

    /// The trace flags.
    pub fn flags(&self) -> u8 {
        self.flags
    }

    /// The same trace, continued from span `span_id` (zero is replaced by 1).
    pub fn with_parent(&self, span_id: u64) -> Self {
        Self {
            parent_id: span_id.max(1),
            ..*self
        }
    }
}

/// Writes the lowest `out.len()` nibbles of `value` as lowercase hex, most significant first.
fn write_hex(out: &mut [u8], mut value: u128) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for byte in out.iter_mut().rev() {
        *byte = DIGITS[(value & 0xf) as usize];
        value >>= 4;
    }
}

impl fmt::Display for TraceParent {
    /// `00-<32 hex>-<16 hex>-<2 hex>`, written without the formatting machinery (one per
    /// record the worker writes).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Only ASCII hex digits and dashes are written.
        f.write_str(std::str::from_utf8(&self.to_bytes()).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_the_w3c_example() {
        let text = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let tp = TraceParent::parse(text).unwrap();
        assert_eq!(tp.trace_id(), 0x4bf92f3577b34da6a3ce929d0e0e4736);
        assert_eq!(tp.parent_id(), 0x00f067aa0ba902b7);
        assert_eq!(tp.flags(), SAMPLED);
        assert_eq!(tp.to_string(), text);
    }

    #[test]
    fn prints_like_the_formatting_machinery() {
        for (trace, parent, flags) in [
            (1u128, 1u64, 0u8),
            (u128::MAX, u64::MAX, u8::MAX),
            (0x0123_4567_89ab_cdef_0011_2233_4455_6677, 0xa, SAMPLED),
        ] {
            let tp = TraceParent::new(trace, parent, flags).unwrap();
            assert_eq!(
                tp.to_string(),
                format!("00-{trace:032x}-{parent:016x}-{flags:02x}")
            );
            assert_eq!(TraceParent::parse(&tp.to_string()), Some(tp));
        }
    }

    #[test]
    fn refuses_invalid_values() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-+bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b/-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0:",
        ] {
            assert_eq!(TraceParent::parse(bad), None, "{bad:?}");
        }
        assert!(
            TraceParent::parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x")
                .is_some()
        );
    }
}
