//! Metrics of `webhooks run`. Labels are subscriber names (from configuration, validated to
//! `[A-Za-z0-9_-]`) and fixed outcome words — never URLs or secrets.

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::entrypoints::http::prometheus::Exposition;

/// Counters and the parked gauge, per subscriber.
#[derive(Debug, Default)]
pub struct HookMetrics {
    attempts: Mutex<BTreeMap<(String, &'static str), u64>>,
    events: Mutex<BTreeMap<(String, &'static str), u64>>,
    parked: Mutex<BTreeMap<String, bool>>,
}

fn bump(map: &Mutex<BTreeMap<(String, &'static str), u64>>, name: &str, outcome: &'static str) {
    if let Ok(mut m) = map.lock() {
        *m.entry((name.to_owned(), outcome)).or_default() += 1;
    }
}

impl HookMetrics {
    /// One HTTP attempt (`ok` or `failed`).
    pub fn attempt(&self, subscriber: &str, outcome: &'static str) {
        bump(&self.attempts, subscriber, outcome);
    }

    /// One event handled (`delivered`, `filtered`, `undecodable`).
    pub fn event(&self, subscriber: &str, outcome: &'static str) {
        bump(&self.events, subscriber, outcome);
    }

    pub fn set_parked(&self, subscriber: &str, parked: bool) {
        if let Ok(mut m) = self.parked.lock() {
            m.insert(subscriber.to_owned(), parked);
        }
    }

    pub fn render(&self, out: &mut Exposition) {
        for (name, help, map) in [
            (
                "allocation_worker_webhook_attempts_total",
                "HTTP delivery attempts by subscriber and outcome (ok = 2xx, failed).",
                &self.attempts,
            ),
            (
                "allocation_worker_webhook_events_total",
                "Events handled by subscriber and outcome (delivered, filtered, undecodable).",
                &self.events,
            ),
        ] {
            out.family(name, "counter", help);
            let counts = map.lock().map(|m| m.clone()).unwrap_or_default();
            for ((subscriber, outcome), n) in counts {
                out.sample(
                    name,
                    &[("subscriber", &subscriber), ("outcome", outcome)],
                    n as f64,
                );
            }
        }
        let name = "allocation_worker_webhook_parked";
        out.family(
            name,
            "gauge",
            "1 while the subscriber is parked (resume with `webhooks replay`).",
        );
        let parked = self.parked.lock().map(|m| m.clone()).unwrap_or_default();
        for (subscriber, is) in parked {
            out.sample(
                name,
                &[("subscriber", &subscriber)],
                f64::from(u8::from(is)),
            );
        }
    }
}
