//! The position a live-event client has reached, and its text form (the SSE event `id`).
//!
//! A [`Cursor`] maps every partition of `allocation.events` to the **next offset** to read
//! there: everything before it has been delivered to (or filtered out for) the client. Text
//! form: `partition:offset` pairs joined by `,`, e.g. `0:12,1:7,2:0` — ASCII only, so it is a
//! valid SSE `id` and survives a round trip through `Last-Event-ID`.
//!
//! Invariants: parsing never panics; a malformed id is an error (answered 400), never
//! silently treated as "from now"; [`Cursor::advance`] only moves forward.

use std::collections::BTreeMap;
use std::fmt;

/// Next offset per partition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cursor(pub BTreeMap<i32, i64>);

/// A `Last-Event-ID` that is not a cursor.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("`{0}` is not an event id (expected partition:offset pairs, e.g. 0:12,1:7)")]
pub struct BadCursor(pub String);

impl Cursor {
    /// Parses the text form; the empty string is the empty cursor.
    pub fn parse(text: &str) -> Result<Self, BadCursor> {
        let text = text.trim();
        let bad = || BadCursor(text.chars().take(80).collect());
        let mut map = BTreeMap::new();
        if text.is_empty() {
            return Ok(Cursor(map));
        }
        for pair in text.split(',') {
            let (p, o) = pair.split_once(':').ok_or_else(bad)?;
            let p: i32 = p.trim().parse().map_err(|_| bad())?;
            let o: i64 = o.trim().parse().map_err(|_| bad())?;
            if p < 0 || o < 0 || map.insert(p, o).is_some() {
                return Err(bad());
            }
        }
        Ok(Cursor(map))
    }

    /// The next offset of `partition`, if known.
    pub fn get(&self, partition: i32) -> Option<i64> {
        self.0.get(&partition).copied()
    }

    /// Records that everything of `partition` before `next` has been seen.
    pub fn advance(&mut self, partition: i32, next: i64) {
        let at = self.0.entry(partition).or_insert(next);
        *at = (*at).max(next);
    }

    /// Element-wise maximum with `other`.
    pub fn merge(&mut self, other: &Cursor) {
        for (&p, &o) in &other.0 {
            self.advance(p, o);
        }
    }

    /// Partitions absent from `self` take their position from `fallback`.
    pub fn fill_from(&mut self, fallback: &Cursor) {
        for (&p, &o) in &fallback.0 {
            self.0.entry(p).or_insert(o);
        }
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (p, o) in &self.0 {
            if !first {
                f.write_str(",")?;
            }
            first = false;
            write!(f, "{p}:{o}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_form_round_trips_and_rejects_garbage() {
        let c = Cursor::parse("0:12,1:7,2:0").unwrap();
        assert_eq!(c.get(1), Some(7));
        assert_eq!(c.to_string(), "0:12,1:7,2:0");
        assert_eq!(Cursor::parse(" ").unwrap(), Cursor::default());
        for bad in ["x", "0:", "0:1,0:2", "-1:3", "0:-3", "0:1;1:2", "1:2,"] {
            assert!(Cursor::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn advance_and_merge_only_move_forward() {
        let mut c = Cursor::parse("0:5,1:9").unwrap();
        c.advance(0, 3);
        c.advance(1, 10);
        c.merge(&Cursor::parse("0:7,2:1").unwrap());
        assert_eq!(c.to_string(), "0:7,1:10,2:1");
        let mut partial = Cursor::parse("1:4").unwrap();
        partial.fill_from(&c);
        assert_eq!(partial.to_string(), "0:7,1:4,2:1");
    }
}
