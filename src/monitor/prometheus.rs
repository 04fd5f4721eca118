//! Metrics in Prometheus' text exposition format (version 0.0.4).

use std::collections::BTreeMap;
use std::fmt::Write;

use gale_engine::{LatencyStats, SampleKind, TopologyMetrics};

/// The `Content-Type` of [`render`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// One metric family: its help, type and samples (label set, value).
struct Family {
    help: String,
    kind: &'static str,
    samples: Vec<(String, f64)>,
}

/// Families by name, written in name order.
#[derive(Default)]
struct Families(BTreeMap<String, Family>);

impl Families {
    fn add(
        &mut self,
        name: &str,
        kind: &'static str,
        help: &str,
        labels: &[(&str, &str)],
        value: f64,
    ) {
        let family = self.0.entry(name.to_owned()).or_insert_with(|| Family {
            help: help.to_owned(),
            kind,
            samples: Vec::new(),
        });
        family.samples.push((label_set(labels), value));
    }

    fn counter(&mut self, name: &str, help: &str, labels: &[(&str, &str)], value: u64) {
        self.add(name, "counter", help, labels, value as f64);
    }

    fn gauge(&mut self, name: &str, help: &str, labels: &[(&str, &str)], value: f64) {
        self.add(name, "gauge", help, labels, value);
    }

    /// A latency as a summary in seconds: quantiles 0.5, 0.99, 0.999 and
    /// 1 (the max), `_sum` (mean × count) and `_count`.
    fn summary(&mut self, name: &str, help: &str, labels: &[(&str, &str)], l: &LatencyStats) {
        let family = self.0.entry(name.to_owned()).or_insert_with(|| Family {
            help: help.to_owned(),
            kind: "summary",
            samples: Vec::new(),
        });
        for (q, ns) in [
            ("0.5", l.p50_ns),
            ("0.99", l.p99_ns),
            ("0.999", l.p999_ns),
            ("1", l.max_ns),
        ] {
            let mut with_q = labels.to_vec();
            with_q.push(("quantile", q));
            family.samples.push((label_set(&with_q), ns as f64 / 1e9));
        }
        let sum = l.mean_ns as f64 * l.count as f64 / 1e9;
        // Suffixed samples ride in the family's sample list with their
        // suffix in the label-set position (see `write`).
        family
            .samples
            .push((format!("_sum{}", label_set(labels)), sum));
        family
            .samples
            .push((format!("_count{}", label_set(labels)), l.count as f64));
    }

    fn write(&self, out: &mut String) {
        for (name, f) in &self.0 {
            let _ = writeln!(out, "# HELP {name} {}", escape_help(&f.help));
            let _ = writeln!(out, "# TYPE {name} {}", f.kind);
            for (labels, value) in &f.samples {
                let _ = writeln!(out, "{name}{labels} {}", number(*value));
            }
        }
    }
}

fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{v}")
    }
}

fn escape_help(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\n', "\\n")
}

fn escape_value(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A metric or label name made valid (`[a-zA-Z_][a-zA-Z0-9_]*`).
fn sanitize(name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() || s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert(0, '_');
    }
    s
}

fn label_set(labels: &[(&str, &str)]) -> String {
    if labels.is_empty() {
        return String::new();
    }
    let body: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{}=\"{}\"", sanitize(k), escape_value(v)))
        .collect();
    format!("{{{}}}", body.join(","))
}

/// Renders the metrics of `topologies` (all of this node's).
pub fn render(topologies: &[TopologyMetrics]) -> String {
    let mut f = Families::default();
    for m in topologies {
        let base = [("node", m.node.as_str()), ("topology", m.name.as_str())];
        f.gauge(
            "gale_topology_uptime_seconds",
            "Time since the topology started.",
            &base,
            m.uptime.as_secs_f64(),
        );
        for t in &m.tasks {
            let id = t.id.to_string();
            let labels = [
                base[0],
                base[1],
                ("component", t.component.as_str()),
                ("task", id.as_str()),
            ];
            let c = &t.counters;
            for o in &t.outputs {
                let mut l = labels.to_vec();
                l.push(("stream", o.stream.as_str()));
                f.counter(
                    "gale_emitted_total",
                    "Tuples emitted, per task and output stream.",
                    &l,
                    o.emitted,
                );
                f.counter(
                    "gale_transferred_total",
                    "Deliveries to target tasks, per task and output stream.",
                    &l,
                    o.transferred,
                );
            }
            for i in &t.inputs {
                let mut l = labels.to_vec();
                l.push(("source_component", i.component.as_str()));
                l.push(("source_stream", i.stream.as_str()));
                f.counter(
                    "gale_input_executed_total",
                    "Input tuples executed, per bolt task and input stream.",
                    &l,
                    i.executed,
                );
                f.counter(
                    "gale_input_acked_total",
                    "Input tuples acked, per bolt task and input stream.",
                    &l,
                    i.acked,
                );
                f.counter(
                    "gale_input_failed_total",
                    "Input tuples failed, per bolt task and input stream.",
                    &l,
                    i.failed,
                );
            }
            f.counter(
                "gale_task_emitted_total",
                "Tuples emitted by the task.",
                &labels,
                c.emitted,
            );
            f.counter(
                "gale_task_transferred_total",
                "Deliveries by the task.",
                &labels,
                c.transferred,
            );
            f.counter(
                "gale_task_executed_total",
                "Tuples executed by the task (ticks included).",
                &labels,
                c.executed,
            );
            f.counter(
                "gale_task_acked_total",
                "Inputs acked (bolts) or tuple trees completed (spouts).",
                &labels,
                c.acked,
            );
            f.counter(
                "gale_task_failed_total",
                "Inputs failed (bolts) or tuple trees failed or timed out (spouts).",
                &labels,
                c.failed,
            );
            f.counter(
                "gale_task_errors_total",
                "Errors reported by or about the task.",
                &labels,
                c.errors,
            );
            f.gauge(
                "gale_task_capacity",
                "Storm's capacity: executed x mean execute latency / uptime.",
                &labels,
                t.capacity,
            );
            let latencies = [
                (
                    "gale_execute_latency_seconds",
                    "Time in execute (sampled).",
                    &t.execute_latency,
                ),
                (
                    "gale_process_latency_seconds",
                    "Start of execute to the ack of that input (sampled).",
                    &t.process_latency,
                ),
                (
                    "gale_complete_latency_seconds",
                    "Reliable spout emit to tuple tree completion.",
                    &t.complete_latency,
                ),
            ];
            for (name, help, l) in latencies {
                if let Some(l) = l {
                    f.summary(name, help, &labels, l);
                }
            }
        }
        for w in &m.workers {
            let index = w.index.to_string();
            let labels = [base[0], base[1], ("worker", index.as_str())];
            f.gauge(
                "gale_worker_ring_bytes",
                "Bytes waiting in the worker's inbound rings.",
                &labels,
                w.ring_bytes as f64,
            );
            f.gauge(
                "gale_worker_ring_capacity_bytes",
                "Total size of the worker's inbound rings.",
                &labels,
                w.ring_capacity as f64,
            );
            f.gauge(
                "gale_worker_overflow_bytes",
                "Bytes waiting in the worker's outbound overflow queues.",
                &labels,
                w.overflow_bytes as f64,
            );
            f.add(
                "gale_worker_backpressure_seconds_total",
                "counter",
                "Time the worker's spouts were throttled by backpressure.",
                &labels,
                w.backpressure.as_secs_f64(),
            );
        }
        for s in &m.samples {
            let mut labels: Vec<(&str, &str)> = base.to_vec();
            labels.extend(s.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            let kind = match s.kind {
                SampleKind::Counter => "counter",
                SampleKind::Gauge => "gauge",
            };
            f.add(&sanitize(&s.name), kind, &s.help, &labels, s.value);
        }
    }
    let mut out = String::new();
    f.write(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_values_are_escaped() {
        assert_eq!(sanitize("gale.link-bytes"), "gale_link_bytes");
        assert_eq!(sanitize("9x"), "_9x");
        assert_eq!(label_set(&[("a", "x\"y\\z\nw")]), "{a=\"x\\\"y\\\\z\\nw\"}");
        assert_eq!(number(f64::NAN), "NaN");
        assert_eq!(number(1.5), "1.5");
    }
}
