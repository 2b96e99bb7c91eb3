//! Stage spans and their Chrome-trace JSON (opens in Perfetto or
//! `chrome://tracing`).

use std::collections::BTreeMap;
use std::time::Instant;

use serde_json::{json, Value};

/// One timed span: a stage of one iteration, or a whole iteration.
#[derive(Clone, Debug, PartialEq)]
pub struct Span {
    /// Stage name (`"iteration"` for the whole iteration).
    pub name: String,
    /// Timed iteration it belongs to (0-based).
    pub iteration: usize,
    /// Start, in microseconds since the trace began.
    pub start_us: f64,
    /// Duration in microseconds.
    pub dur_us: f64,
}

/// Collects spans relative to one start time.
#[derive(Debug)]
pub struct Trace {
    origin: Instant,
    spans: Vec<Span>,
}

impl Default for Trace {
    fn default() -> Self {
        Trace::new()
    }
}

impl Trace {
    /// An empty trace starting now.
    pub fn new() -> Trace {
        Trace {
            origin: Instant::now(),
            spans: Vec::new(),
        }
    }

    /// Microseconds from the trace's start to `t`.
    pub fn micros(&self, t: Instant) -> f64 {
        t.saturating_duration_since(self.origin).as_secs_f64() * 1e6
    }

    /// Records a span from `start` to `end`.
    pub fn record(&mut self, name: &str, iteration: usize, start: Instant, end: Instant) {
        let start_us = self.micros(start);
        self.spans.push(Span {
            name: name.to_string(),
            iteration,
            start_us,
            dur_us: self.micros(end) - start_us,
        });
    }

    /// The spans recorded so far.
    pub fn spans(&self) -> &[Span] {
        &self.spans
    }

    /// The Chrome-trace document: complete (`"ph": "X"`) events in
    /// microseconds; stages on thread 2, whole iterations on thread 1.
    pub fn to_json(&self, process_name: &str) -> Value {
        let mut events = vec![
            json!({"name": "process_name", "ph": "M", "pid": 1, "tid": 1,
                   "args": {"name": process_name}}),
            json!({"name": "thread_name", "ph": "M", "pid": 1, "tid": 1,
                   "args": {"name": "iterations"}}),
            json!({"name": "thread_name", "ph": "M", "pid": 1, "tid": 2,
                   "args": {"name": "stages"}}),
        ];
        for s in &self.spans {
            let tid = if s.name == "iteration" { 1 } else { 2 };
            events.push(json!({
                "name": s.name, "cat": "stage", "ph": "X", "pid": 1, "tid": tid,
                "ts": s.start_us, "dur": s.dur_us, "args": {"iteration": s.iteration},
            }));
        }
        json!({"traceEvents": events, "displayTimeUnit": "ms"})
    }

    /// Stages (not whole iterations) by total time, longest first, at most
    /// `n`: `(name, total µs, calls)`.
    pub fn top_stages(&self, n: usize) -> Vec<(String, f64, usize)> {
        let mut totals: BTreeMap<&str, (f64, usize)> = BTreeMap::new();
        for s in self.spans.iter().filter(|s| s.name != "iteration") {
            let e = totals.entry(&s.name).or_default();
            e.0 += s.dur_us;
            e.1 += 1;
        }
        let mut v: Vec<(String, f64, usize)> = totals
            .into_iter()
            .map(|(k, (t, c))| (k.to_string(), t, c))
            .collect();
        v.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v.truncate(n);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn trace_json_is_valid_chrome_trace() {
        let mut t = Trace::new();
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        t.record("score", 0, ms(0), ms(3));
        t.record("rerank", 0, ms(3), ms(4));
        t.record("iteration", 0, ms(0), ms(4));
        t.record("score", 1, ms(4), ms(6));
        let text = serde_json::to_string(&t.to_json("bench")).unwrap();
        // Round trip through the parser: valid JSON with the expected fields.
        let doc: Value = serde_json::from_str(&text).unwrap();
        let events = doc["traceEvents"].as_array().unwrap();
        let spans: Vec<&Value> = events.iter().filter(|e| e["ph"] == "X").collect();
        assert_eq!(spans.len(), 4);
        for e in &spans {
            assert!(e["name"].is_string());
            assert!(e["ts"].as_f64().unwrap() >= 0.0);
            assert!(e["dur"].as_f64().unwrap() >= 0.0);
            assert!(e["pid"].is_number() && e["tid"].is_number());
        }
        let score = spans.iter().find(|e| e["name"] == "score").unwrap();
        assert!((score["dur"].as_f64().unwrap() - 3000.0).abs() < 1.0);
        assert_eq!(score["tid"], 2);
        let iteration = spans.iter().find(|e| e["name"] == "iteration").unwrap();
        assert_eq!(iteration["tid"], 1);
        assert_eq!(events.iter().filter(|e| e["ph"] == "M").count(), 3);
    }

    #[test]
    fn top_stages_sum_over_iterations_and_skip_whole_iterations() {
        let mut t = Trace::new();
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        t.record("a", 0, ms(0), ms(1));
        t.record("b", 0, ms(1), ms(4));
        t.record("a", 1, ms(4), ms(7));
        t.record("iteration", 0, ms(0), ms(7));
        let top = t.top_stages(5);
        let names: Vec<&str> = top.iter().map(|x| x.0.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        assert!((top[0].1 - 4000.0).abs() < 1.0);
        assert_eq!(top[0].2, 2);
        assert_eq!(t.top_stages(1).len(), 1);
    }
}
