//! [`HeaderList`]: record headers, in order, independent of any Kafka client.
//!
//! Every record in and out carries six headers, so the list is packed: the names in one
//! vector (the names of [`names`] as `&'static str`, any other owned) and every value in one
//! byte buffer. Two allocations per list, not one per header: with one per header, the
//! allocations of the headers of the worker's ≈ 3 outputs per input (and their frees on the
//! thread that hands them to librdkafka) were the largest single cost of encoding.
//!
//! Invariant: `values` is exactly the concatenation of the headers' values, in order, and
//! `entries[i].end` is where the `i`-th value ends in it (so equality of lists is equality
//! of their headers).

use std::borrow::Cow;
use std::fmt;

use super::names;

/// A header name: one of [`names`] (static) or any other (owned).
pub type HeaderName = Cow<'static, str>;

/// `name` as a [`HeaderName`], without an allocation when it is one of [`names`].
fn header_name(name: &str) -> HeaderName {
    match names::ALL.iter().find(|known| **known == name) {
        Some(known) => Cow::Borrowed(known),
        None => Cow::Owned(name.to_owned()),
    }
}

#[derive(Clone, PartialEq, Eq)]
struct Entry {
    name: HeaderName,
    /// End of the value in `values` (its start is the previous entry's end).
    end: usize,
}

/// Record headers, in order, independent of any Kafka client.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct HeaderList {
    entries: Vec<Entry>,
    values: Vec<u8>,
}

impl HeaderList {
    /// No headers.
    pub fn new() -> Self {
        Self::default()
    }

    /// No headers, with room for `headers` headers of `bytes` value bytes in all.
    pub fn with_capacity(headers: usize, bytes: usize) -> Self {
        Self {
            entries: Vec::with_capacity(headers),
            values: Vec::with_capacity(bytes),
        }
    }

    /// The number of headers.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there is no header.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Appends a header.
    pub fn push(&mut self, name: &str, value: impl AsRef<[u8]>) -> &mut Self {
        self.push_named(header_name(name), value.as_ref())
    }

    fn push_named(&mut self, name: HeaderName, value: &[u8]) -> &mut Self {
        self.values.extend_from_slice(value);
        self.entries.push(Entry {
            name,
            end: self.values.len(),
        });
        self
    }

    /// Appends a header of [`names`] whose value `write` appends to the buffer it is given
    /// (no intermediate allocation).
    pub(super) fn push_with(
        &mut self,
        name: &'static str,
        write: impl FnOnce(&mut Vec<u8>),
    ) -> &mut Self {
        write(&mut self.values);
        self.entries.push(Entry {
            name: Cow::Borrowed(name),
            end: self.values.len(),
        });
        self
    }

    /// Replaces every header `name` by one with `value` (at the end).
    pub fn set(&mut self, name: &str, value: impl AsRef<[u8]>) -> &mut Self {
        if self.entries.iter().any(|e| e.name == name) {
            let mut kept = Self::with_capacity(self.entries.len(), self.values.len());
            for (n, v) in self.iter().filter(|(n, _)| *n != name) {
                kept.push(n, v);
            }
            *self = kept;
        }
        self.push(name, value)
    }

    /// The last value of `name`.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.iter().rev().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// The last value of `name`, when it is UTF-8.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// Every header, in order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&str, &[u8])> + '_ {
        self.entries.iter().enumerate().map(|(i, e)| {
            let start = match i {
                0 => 0,
                _ => self.entries[i - 1].end,
            };
            (e.name.as_ref(), &self.values[start..e.end])
        })
    }

    /// From rdkafka headers (a header with a null value becomes an empty value).
    pub fn from_rdkafka<H: rdkafka::message::Headers>(headers: &H) -> Self {
        let mut list = Self::with_capacity(headers.count(), 256);
        for h in headers.iter() {
            list.push_named(header_name(h.key), h.value.unwrap_or_default());
        }
        list
    }

    /// To rdkafka headers for producing.
    pub fn to_rdkafka(&self) -> rdkafka::message::OwnedHeaders {
        self.iter().fold(
            rdkafka::message::OwnedHeaders::new_with_capacity(self.len()),
            |acc, (key, value)| {
                acc.insert(rdkafka::message::Header {
                    key,
                    value: Some(value),
                })
            },
        )
    }
}

impl<N: AsRef<str>, V: AsRef<[u8]>> FromIterator<(N, V)> for HeaderList {
    fn from_iter<I: IntoIterator<Item = (N, V)>>(headers: I) -> Self {
        let mut list = Self::new();
        for (name, value) in headers {
            list.push(name.as_ref(), value);
        }
        list
    }
}

impl fmt::Debug for HeaderList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(
                self.iter()
                    .map(|(n, v)| (n, String::from_utf8_lossy(v).into_owned())),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_read_back_in_order_and_the_last_wins() {
        let mut h = HeaderList::new();
        h.push("a", "1").push(names::MESSAGE_ID, "").push("a", "22");
        let all: Vec<_> = h.iter().collect();
        assert_eq!(
            all,
            vec![
                ("a", &b"1"[..]),
                (names::MESSAGE_ID, &b""[..]),
                ("a", &b"22"[..])
            ]
        );
        assert_eq!(h.get("a"), Some(&b"22"[..]));
        assert_eq!(h.get(names::MESSAGE_ID), Some(&b""[..]));
        assert_eq!(h.get("b"), None);
        assert_eq!(h.len(), 3);
    }

    #[test]
    fn set_replaces_every_occurrence_and_equality_is_by_headers() {
        let mut h: HeaderList = [("a", "1"), ("b", "2"), ("a", "3")].into_iter().collect();
        h.set("a", "4");
        let expected: HeaderList = [("b", "2"), ("a", "4")].into_iter().collect();
        assert_eq!(h, expected);
        h.set("c", "5");
        assert_eq!(h.get_str("c"), Some("5"));
        assert_eq!(h.len(), 3);
    }

    #[test]
    fn written_values_end_where_the_next_begins() {
        let mut h = HeaderList::with_capacity(2, 8);
        h.push_with(names::MESSAGE_TYPE, |out| out.extend_from_slice(b"t"))
            .push_with(names::EVENT_TIME, |out| out.extend_from_slice(b"now"));
        assert_eq!(h.get_str(names::MESSAGE_TYPE), Some("t"));
        assert_eq!(h.get_str(names::EVENT_TIME), Some("now"));
    }
}
