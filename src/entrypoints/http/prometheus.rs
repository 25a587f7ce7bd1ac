//! A writer of the Prometheus text exposition format (version 0.0.4): `# HELP` / `# TYPE`
//! once per family, then its samples. Hand-written: the families are few and fixed, and the
//! format is small.
//!
//! Invariants: label values are escaped (`\`, `"`, newline); metric and label names are
//! `'static` identifiers chosen in code, never user input; every family is written once.

use std::fmt::Write;

use crate::runtime::worker::metrics::HistogramSnapshot;

/// The text of one scrape, built family by family.
#[derive(Debug, Default)]
pub struct Exposition {
    out: String,
}

/// Escapes a label value.
pub fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn labels(pairs: &[(&str, &str)]) -> String {
    if pairs.is_empty() {
        return String::new();
    }
    let inner: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect();
    format!("{{{}}}", inner.join(","))
}

fn number(value: f64) -> String {
    if value == f64::INFINITY {
        "+Inf".into()
    } else {
        format!("{value}")
    }
}

impl Exposition {
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts a family: `kind` is `counter`, `gauge` or `histogram`.
    pub fn family(&mut self, name: &str, kind: &str, help: &str) -> &mut Self {
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
        self
    }

    /// One sample of the current family.
    pub fn sample(&mut self, name: &str, pairs: &[(&str, &str)], value: f64) -> &mut Self {
        let _ = writeln!(self.out, "{name}{} {}", labels(pairs), number(value));
        self
    }

    /// A family with one unlabelled sample.
    pub fn single(&mut self, name: &str, kind: &str, help: &str, value: f64) -> &mut Self {
        self.family(name, kind, help).sample(name, &[], value)
    }

    /// A histogram family (`_bucket`, `_sum`, `_count`).
    pub fn histogram(&mut self, name: &str, help: &str, h: &HistogramSnapshot) -> &mut Self {
        self.family(name, "histogram", help);
        let bucket = format!("{name}_bucket");
        for (bound, count) in &h.buckets {
            let le = number(*bound);
            self.sample(&bucket, &[("le", &le)], *count as f64);
        }
        self.sample(&format!("{name}_sum"), &[], h.sum);
        self.sample(&format!("{name}_count"), &[], h.count as f64)
    }

    pub fn finish(self) -> String {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_samples_and_histograms_render() {
        let mut e = Exposition::new();
        e.family("x_total", "counter", "Things.")
            .sample("x_total", &[("type", "a\"b\\c\nd")], 3.0);
        e.histogram(
            "lat_seconds",
            "Latency.",
            &HistogramSnapshot {
                buckets: vec![(0.5, 1), (f64::INFINITY, 2)],
                sum: 1.25,
                count: 2,
            },
        );
        let text = e.finish();
        assert!(text.contains("# TYPE x_total counter\n"));
        assert!(
            text.contains("x_total{type=\"a\\\"b\\\\c\\nd\"} 3\n"),
            "{text}"
        );
        assert!(text.contains("lat_seconds_bucket{le=\"0.5\"} 1\n"));
        assert!(text.contains("lat_seconds_bucket{le=\"+Inf\"} 2\n"));
        assert!(text.contains("lat_seconds_sum 1.25\nlat_seconds_count 2\n"));
    }
}
