//! The delays the connections recorded, over the steady window: percentiles for
//! the report, and the tail slice by slice for the progress output.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use super::socket::Recorded;

/// Failure messages kept.
const KEPT_FAILURES: usize = 5;

/// What the connections recorded, over the window.
pub struct Delays {
    /// Delays of the events that arrived in the window, in microseconds.
    histogram: Histogram<u64>,
    /// The smallest delay, in milliseconds (negative if the clocks' mapping is off).
    min_ms: f64,
    /// Events in the window.
    events: u64,
    /// Changes of the schedule no event showed (two changes between two polls).
    skipped: u64,
    /// Subscriptions that ended (`complete` or an error) before the window ended.
    pub failed: u64,
    /// The first few error messages.
    messages: Vec<String>,
}

impl Delays {
    /// Gathers the events of `recorded` that arrived from `start` to `end`.
    pub fn of(recorded: &[Recorded], start: Instant, end: Instant) -> Delays {
        let mut delays = Delays {
            histogram: Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds"),
            min_ms: f64::INFINITY,
            events: 0,
            skipped: 0,
            failed: 0,
            messages: Vec::new(),
        };
        for connection in recorded {
            for event in &connection.events {
                if event.arrived < start || event.arrived > end {
                    continue;
                }
                delays.events += 1;
                delays.skipped += event.skipped;
                delays.min_ms = delays.min_ms.min(event.delay_ms);
                delays
                    .histogram
                    .saturating_record((event.delay_ms * 1000.0).max(1.0) as u64);
            }
            delays.failed += connection.ended;
            for message in &connection.errors {
                if delays.messages.len() < KEPT_FAILURES {
                    delays.messages.push(message.clone());
                }
            }
        }
        delays
    }

    /// The delay at `quantile`, in milliseconds.
    fn at(&self, quantile: f64) -> f64 {
        self.histogram.value_at_quantile(quantile) as f64 / 1000.0
    }

    /// The row's result.
    pub fn describe(&self) -> String {
        if self.events == 0 {
            return "**no event arrived in the window**".to_owned();
        }
        format!(
            "**p50 {:.1} ms, p99 {:.1} ms** (min {:.1}, p90 {:.1}, p99.9 {:.1}, max {:.1} ms); {} events, {} \
             changes skipped",
            self.at(0.5),
            self.at(0.99),
            self.min_ms,
            self.at(0.9),
            self.at(0.999),
            self.at(1.0),
            self.events,
            self.skipped
        )
    }

    /// What failed: subscriptions that ended early, and no events at all.
    pub fn failures(&self) -> Vec<String> {
        let mut failures = self.messages.clone();
        if self.failed > 0 && failures.is_empty() {
            failures.push(format!("{} subscriptions ended before the window did", self.failed));
        }
        if self.events == 0 {
            failures.push("no event arrived in the window".to_owned());
        }
        failures
    }
}

/// The p99 delay of the events that arrived in each `slice` from `start` to `end`,
/// in milliseconds: whether the tail is spread over the window or gathered in
/// moments (for the progress output).
pub fn p99_by_slice(recorded: &[Recorded], start: Instant, end: Instant, slice: Duration) -> String {
    // Whole slices only: a last, partial one would hold too few events.
    let slices = (end.saturating_duration_since(start).as_secs_f64() / slice.as_secs_f64()) as usize;
    let mut histograms: Vec<Histogram<u64>> = (0..slices)
        .map(|_| Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds"))
        .collect();
    for event in recorded.iter().flat_map(|r| &r.events) {
        if event.arrived < start || event.arrived > end {
            continue;
        }
        let i = (event.arrived.duration_since(start).as_secs_f64() / slice.as_secs_f64()) as usize;
        if let Some(histogram) = histograms.get_mut(i) {
            histogram.saturating_record((event.delay_ms * 1000.0).max(1.0) as u64);
        }
    }
    let p99s: Vec<String> = histograms
        .iter()
        .map(|h| format!("{:.0}", h.value_at_quantile(0.99) as f64 / 1000.0))
        .collect();
    p99s.join(", ")
}
