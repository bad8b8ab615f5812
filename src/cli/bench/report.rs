//! What a load run measured, per side (producers, consumers): messages, payload bytes, time, and a latency histogram;
//! printed as a table or as one JSON object.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::{Value, json};

use super::BenchArgs;
use super::actors::Side;

/// The result of one run.
pub struct Report {
    /// Scenario name as given on the command line.
    pub scenario: &'static str,
    /// Producers' figures (latency: per produce request).
    pub producers: Option<Side>,
    /// Consumers' figures (latency: per fetch, or send-to-receipt per message in end-to-end).
    pub consumers: Option<Side>,
    /// Which side's latency the top-level percentiles report.
    pub latency_from_consumers: bool,
}

fn ms(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

fn percentiles(h: &Histogram<u64>) -> [f64; 5] {
    if h.is_empty() {
        return [0.0; 5];
    }
    [
        ms(h.value_at_quantile(0.5)),
        ms(h.value_at_quantile(0.9)),
        ms(h.value_at_quantile(0.99)),
        ms(h.value_at_quantile(0.999)),
        ms(h.max()),
    ]
}

impl Side {
    fn mb_per_s(&self) -> f64 {
        self.bytes as f64 / secs(self.elapsed) / 1e6
    }

    fn msg_per_s(&self) -> f64 {
        self.messages as f64 / secs(self.elapsed)
    }

    fn json(&self) -> Value {
        let [p50, p90, p99, p999, max] = percentiles(&self.latency);
        json!({
            "messages": self.messages,
            "bytes": self.bytes,
            "seconds": secs(self.elapsed),
            "mb_per_s": round(self.mb_per_s()),
            "msg_per_s": round(self.msg_per_s()),
            "p50_ms": p50, "p90_ms": p90, "p99_ms": p99, "p999_ms": p999, "max_ms": max,
        })
    }
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64().max(1e-9)
}

fn round(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

impl Report {
    fn sides(&self) -> impl Iterator<Item = (&'static str, &Side)> {
        self.producers.iter().map(|s| ("producers", s)).chain(self.consumers.iter().map(|s| ("consumers", s)))
    }

    fn primary(&self) -> Option<&Side> {
        if self.latency_from_consumers { self.consumers.as_ref() } else { self.producers.as_ref() }
    }

    /// One JSON object: `scenario`, `mb_per_s` and `msg_per_s` of all actors together, the primary side's latency
    /// percentiles, and each side's own figures.
    pub fn json(&self, args: &BenchArgs) -> Value {
        let mb: f64 = self.sides().map(|(_, s)| s.mb_per_s()).sum();
        let msgs: f64 = self.sides().map(|(_, s)| s.msg_per_s()).sum();
        let [p50, p90, p99, p999, max] = self.primary().map_or([0.0; 5], |s| percentiles(&s.latency));
        let mut v = json!({
            "scenario": self.scenario,
            "mb_per_s": round(mb),
            "msg_per_s": round(msgs),
            "p50_ms": p50, "p90_ms": p90, "p99_ms": p99, "p999_ms": p999, "max_ms": max,
            "transport": format!("{:?}", args.transport).to_lowercase(),
            "message_size": args.message_size,
            "messages_per_batch": args.messages_per_batch,
            "in_flight": args.in_flight,
        });
        for (name, side) in self.sides() {
            v[name] = side.json();
        }
        v
    }

    /// A table for people.
    pub fn table(&self, args: &BenchArgs) -> comfy_table::Table {
        let mut t = crate::cli::output::table(&[
            "side", "messages", "MB/s", "msg/s", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms",
        ]);
        for (name, s) in self.sides() {
            let [p50, p90, p99, p999, max] = percentiles(&s.latency);
            t.add_row(vec![
                name.to_string(),
                s.messages.to_string(),
                format!("{:.1}", s.mb_per_s()),
                format!("{:.0}", s.msg_per_s()),
                format!("{p50:.3}"),
                format!("{p90:.3}"),
                format!("{p99:.3}"),
                format!("{p999:.3}"),
                format!("{max:.3}"),
            ]);
        }
        eprintln!(
            "{}: {} B messages, {} per batch, {} in flight, {:?}",
            self.scenario, args.message_size, args.messages_per_batch, args.in_flight, args.transport
        );
        t
    }
}
