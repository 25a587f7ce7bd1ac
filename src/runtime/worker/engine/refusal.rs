//! Outputs that librdkafka refuses for good ([`is_refused_for_good`]: larger than the
//! producer's `message.max.bytes`, e.g. the snapshot of an aggregate that grew too large): the
//! input that produced them is found and dead-lettered, so that such a refusal never blocks its
//! partition (DESIGN §5).
//!
//! A refused output fails its whole batch — in a transaction it must: the batch aborts and is
//! rewound. Which input produced the output is not known at that point (outputs are enqueued
//! by the outbox thread, which reports a refusal at the next push or at the commit, and a
//! batch's latest snapshots are written at its commit), so the batch is processed again *one
//! input per batch* up to where it ended. An input whose own one-input batch is refused again
//! is the culprit: it is quarantined, and when it is read again it goes to the DLQ
//! (`dlq-reason: output-refused`) instead of to the bus, so its state change is never applied
//! and its other outputs are never written. Should its DLQ record be refused too (the
//! producer's limit below the input's own size), the next one carries the source position and
//! the reason without the original value and headers.
//!
//! Invariants:
//! - only refusals for good start this; any other failure, and a broker's refusal in a
//!   delivery report, retries the batch as before;
//! - isolation lasts until the failed batch's range is committed, and ends with a rebalance
//!   (the new owner finds the culprit itself if it is still there);
//! - a quarantined input is dropped from the quarantine once an offset past it is committed.

use chrono::Utc;

use crate::adapters::envelope::{DeadLetterReason, HeaderList};
use crate::adapters::mapping::{dead_letter, InboundRecord, OutboundRecord};
use crate::runtime::errors::is_refused_for_good;

use super::batch::Inputs;
use super::Engine;

/// Inputs quarantined at once, at most: each is found by a failed batch of its own, so more
/// would mean that something else is wrong; the oldest is dropped beyond it.
const MAX_QUARANTINED: usize = 1024;

/// What the engine remembers of refusals for good between batches.
#[derive(Debug, Default)]
pub(super) struct Refusals {
    /// Until a batch commits past these positions (topic, partition, next offset), batches
    /// hold one input each.
    isolate_until: Vec<(String, i32, i64)>,
    /// Inputs whose one-input batch was refused: dead-lettered when read again.
    quarantined: Vec<Quarantined>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Quarantined {
    topic: String,
    partition: i32,
    offset: i64,
    reason: String,
    /// Its DLQ record was refused too: the next one leaves the original value and headers out.
    bare: bool,
}

impl Quarantined {
    fn is_at(&self, topic: &str, partition: i32, offset: i64) -> bool {
        self.offset == offset && self.partition == partition && self.topic == topic
    }
}

/// How a quarantined input is to be dead-lettered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct DeadLetter<'a> {
    /// What refused its outputs.
    pub(super) reason: &'a str,
    /// Without the original value and headers (its full DLQ record was refused).
    pub(super) bare: bool,
}

/// What a refused batch leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Verdict {
    /// The culprit is not known yet: the batch is processed again one input per batch.
    Isolate,
    /// The batch's one input is the culprit: dead-lettered when read again.
    Quarantine {
        topic: String,
        partition: i32,
        offset: i64,
    },
    /// Even the bare DLQ record of a quarantined input was refused: retried as before.
    Exhausted,
}

impl Refusals {
    /// True while batches hold one input each.
    pub(super) fn isolating(&self) -> bool {
        !self.isolate_until.is_empty()
    }

    /// How to dead-letter the input at this position, if it is quarantined.
    pub(super) fn quarantined(
        &self,
        topic: &str,
        partition: i32,
        offset: i64,
    ) -> Option<DeadLetter<'_>> {
        self.quarantined
            .iter()
            .find(|q| q.is_at(topic, partition, offset))
            .map(|q| DeadLetter {
                reason: &q.reason,
                bare: q.bare,
            })
    }

    /// A batch of `inputs` (`records` of them processed) was refused for good with `reason`.
    pub(super) fn refused(&mut self, inputs: &Inputs, records: usize, reason: &str) -> Verdict {
        let positions: Vec<(&str, i32, i64, Option<i64>)> = inputs
            .iter()
            .map(|(topic, partition, range)| (topic, partition, range.first, range.next))
            .collect();
        // The batch held one input for sure: one position reached, at most that one processed,
        // and either nothing processed (the first input's own outputs were refused) or batches
        // of one input (else an input after it may have been reached, and may be the culprit).
        if let [(topic, partition, first, next)] = positions[..] {
            let alone = records == 0 || (records == 1 && self.isolating());
            if alone && next.is_none_or(|next| next == first + 1) {
                return self.quarantine(topic, partition, first, reason);
            }
        }
        for (topic, partition, first, next) in positions {
            // The record that interrupted the batch may be the one after the last processed.
            let until = next.unwrap_or(first) + 1;
            match self
                .isolate_until
                .iter_mut()
                .find(|(t, p, _)| *p == partition && t == topic)
            {
                Some(entry) => entry.2 = entry.2.max(until),
                None => self
                    .isolate_until
                    .push((topic.to_owned(), partition, until)),
            }
        }
        Verdict::Isolate
    }

    fn quarantine(&mut self, topic: &str, partition: i32, offset: i64, reason: &str) -> Verdict {
        if let Some(known) = self
            .quarantined
            .iter_mut()
            .find(|q| q.is_at(topic, partition, offset))
        {
            if known.bare {
                return Verdict::Exhausted;
            }
            known.bare = true;
        } else {
            if self.quarantined.len() >= MAX_QUARANTINED {
                self.quarantined.remove(0);
            }
            self.quarantined.push(Quarantined {
                topic: topic.to_owned(),
                partition,
                offset,
                reason: reason.chars().take(512).collect(),
                bare: false,
            });
        }
        Verdict::Quarantine {
            topic: topic.to_owned(),
            partition,
            offset,
        }
    }

    /// A batch of `inputs` committed: isolation ends where it has been passed, and
    /// quarantined inputs behind the committed offsets are forgotten.
    pub(super) fn committed(&mut self, inputs: &Inputs) {
        if self.isolate_until.is_empty() && self.quarantined.is_empty() {
            return;
        }
        for (topic, partition, next) in inputs.next() {
            self.isolate_until
                .retain(|(t, p, until)| !(*p == partition && t == topic && next >= *until));
            self.quarantined
                .retain(|q| !(q.partition == partition && q.topic == topic && next > q.offset));
        }
    }

    /// The assignment changed: isolation ends (the partitions may be someone else's now).
    pub(super) fn rebalanced(&mut self) {
        self.isolate_until.clear();
    }
}

impl Engine {
    /// The DLQ record of a quarantined input (see the module docs).
    pub(super) fn refused_letter(
        &self,
        record: &InboundRecord<'_>,
        dead: DeadLetter<'_>,
    ) -> OutboundRecord {
        self.metrics.dead_lettered("output-refused");
        let mut why = DeadLetterReason {
            reason: "output-refused",
            class: "output",
            error: format!(
                "an output of this record was refused for good: {}",
                dead.reason
            ),
        };
        tracing::warn!(error = %why.error, bare = dead.bare, "refused input: dead-lettered");
        if !dead.bare {
            return dead_letter(&self.settings.topics, record, &why, Utc::now());
        }
        why.error.push_str(
            "; its own dead letter was refused too, so this one leaves out its value and headers \
             (they are at its source position)",
        );
        let bare = InboundRecord {
            payload: None,
            headers: &HeaderList::default(),
            ..*record
        };
        dead_letter(&self.settings.topics, &bare, &why, Utc::now())
    }

    /// Decides what a batch refused for good leads to, before it is aborted.
    pub(super) fn on_refused(&mut self, reason: &str) {
        let verdict = self
            .refusals
            .refused(&self.batch.inputs, self.batch.records, reason);
        match verdict {
            Verdict::Isolate => tracing::warn!(
                %reason,
                records = self.batch.records,
                "an output was refused for good; the batch is processed again one input at a time"
            ),
            Verdict::Quarantine {
                topic,
                partition,
                offset,
            } => tracing::warn!(
                %reason,
                %topic,
                partition,
                offset,
                "this input's outputs were refused for good; it is dead-lettered"
            ),
            Verdict::Exhausted => tracing::error!(
                %reason,
                "even the bare dead letter of a refused input was refused; retrying"
            ),
        }
    }
}

/// Whether a produce error refuses the record for good.
pub(super) fn for_good(error: &rdkafka::error::KafkaError) -> bool {
    error.rdkafka_error_code().is_some_and(is_refused_for_good)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(records: &[(&str, i32, i64)], interrupted: Option<(&str, i32, i64)>) -> Inputs {
        let mut inputs = Inputs::default();
        for &(topic, partition, offset) in records {
            inputs.reached(topic, partition, offset);
            inputs.processed(topic, partition, offset);
        }
        if let Some((topic, partition, offset)) = interrupted {
            inputs.reached(topic, partition, offset);
        }
        inputs
    }

    #[test]
    fn a_refused_batch_of_several_inputs_is_processed_again_one_by_one_up_to_its_end() {
        let mut r = Refusals::default();
        let failed = batch(&[("c", 0, 10), ("c", 0, 11), ("c", 1, 5)], None);
        assert_eq!(r.refused(&failed, 3, "too large"), Verdict::Isolate);
        assert!(r.isolating());
        // It lasts past each partition's last processed input and the one after it (which
        // may have been read, and interrupted the batch): 12 on partition 0, 6 on 1.
        for (partition, offset) in [(0, 10), (0, 11), (1, 5), (0, 12)] {
            r.committed(&batch(&[("c", partition, offset)], None));
            assert!(r.isolating(), "after {partition}/{offset}");
        }
        r.committed(&batch(&[("c", 1, 6)], None));
        assert!(!r.isolating());
    }

    #[test]
    fn the_input_of_a_refused_one_input_batch_is_quarantined_until_committed() {
        let mut r = Refusals::default();
        let one = batch(&[("c", 2, 7)], None);
        // Outside isolation an input after it may have been reached: isolate first.
        assert_eq!(r.refused(&one, 1, "too large"), Verdict::Isolate);
        assert_eq!(
            r.refused(&one, 1, "too large"),
            Verdict::Quarantine {
                topic: "c".into(),
                partition: 2,
                offset: 7
            }
        );
        let dead = r.quarantined("c", 2, 7).expect("quarantined");
        assert_eq!(dead.reason, "too large");
        assert!(!dead.bare);
        assert_eq!(r.quarantined("c", 2, 8), None);
        assert_eq!(r.quarantined("d", 2, 7), None);
        r.committed(&batch(&[("c", 2, 7)], None));
        assert_eq!(
            r.quarantined("c", 2, 7),
            None,
            "dead-lettered and committed"
        );
    }

    #[test]
    fn an_input_interrupted_before_it_was_processed_is_the_culprit_of_its_batch() {
        let mut r = Refusals::default();
        let interrupted = batch(&[], Some(("c", 0, 3)));
        assert!(matches!(
            r.refused(&interrupted, 0, "too large"),
            Verdict::Quarantine { offset: 3, .. }
        ));
    }

    #[test]
    fn a_refused_dead_letter_is_sent_bare_and_then_given_up() {
        let mut r = Refusals::default();
        let one = batch(&[("c", 0, 1)], None);
        assert_eq!(r.refused(&one, 1, "x"), Verdict::Isolate);
        assert!(matches!(
            r.refused(&one, 1, "x"),
            Verdict::Quarantine { .. }
        ));
        assert!(matches!(
            r.refused(&one, 1, "x"),
            Verdict::Quarantine { .. }
        ));
        assert!(r.quarantined("c", 0, 1).is_some_and(|d| d.bare));
        assert_eq!(r.refused(&one, 1, "x"), Verdict::Exhausted);
    }

    #[test]
    fn a_rebalance_ends_isolation_but_keeps_the_quarantine() {
        let mut r = Refusals::default();
        r.refused(&batch(&[("c", 0, 1), ("c", 0, 2)], None), 2, "x");
        r.refused(&batch(&[("c", 1, 4)], None), 0, "x");
        r.rebalanced();
        assert!(!r.isolating());
        assert!(r.quarantined("c", 1, 4).is_some());
    }
}
