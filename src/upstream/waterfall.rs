//! The upstream waterfall: every attempt of every upstream call one request made,
//! with its timing relative to the request's start, and a summary in waves.
//!
//! [`Waterfall`] is shared by the request's [`Upstreams`](super::Upstreams) copy
//! (through `RequestContext`). It always counts attempts (the request's log line
//! reports them); it keeps the details only when `detailed`, i.e. when the client
//! asked for `extensions.upstream` and was allowed to.
//!
//! **Waves and the critical path** come from timing alone, since the gateway does
//! not know which result a resolver waited for. Call B *follows* call A when B
//! started at or after A ended. A call's wave is one more than the highest wave of
//! the calls it follows (1 when it follows none); `waves` is the highest wave. The
//! critical path is the chain of calls, each following the one before, whose
//! durations add up to the most; `criticalPathMs` is that sum, the upstream time
//! no amount of concurrency could have saved. With realistic upstream latency
//! (a few ms and more, well above the DataLoader's batch delay) a wave is the set
//! of calls one dependency step deep; against upstreams that answer in well under
//! a millisecond, an unrelated call that happened to end first can count as a step.

use std::{
    sync::{
        Mutex, PoisonError,
        atomic::{AtomicU32, Ordering},
    },
    time::{Duration, Instant},
};

use serde::Serialize;

use super::Service;

/// The recorder of one request's upstream calls.
#[derive(Debug)]
pub struct Waterfall {
    started: Instant,
    detailed: bool,
    attempts: AtomicU32,
    calls: Mutex<Vec<CallRecord>>,
}

/// One attempt of one upstream call.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CallRecord {
    /// The service, e.g. `menus`.
    pub service: &'static str,
    /// `GET` or `POST`.
    pub method: &'static str,
    /// The route template, e.g. `/menus` or `/users/{id}`.
    pub route: &'static str,
    /// Ids asked for (1 for a single resource, 0 for a lookup).
    pub batch: usize,
    /// The ids as sent, for the batch endpoints that take them in the URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ids: Option<String>,
    /// When the attempt started, in ms since the request started.
    pub start_ms: f64,
    /// How long it took, in ms.
    pub duration_ms: f64,
    /// The HTTP status, when an answer came.
    pub status: Option<u16>,
    /// What went wrong, if anything (`timeout`, `connect`, `circuit_open`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'static str>,
    /// 1 for the first attempt, 2 for the first retry, ...
    pub attempt: u32,
    /// Whether a cache answered instead of the service (no cache yet: always false).
    pub cache_hit: bool,
    /// Its wave (see the module's documentation).
    pub wave: u32,
    /// Whether it lies on the critical path.
    pub critical: bool,
}

/// What one attempt reports when it ends.
#[derive(Debug)]
pub struct Attempt {
    /// The service called.
    pub service: Service,
    /// `GET` or `POST`.
    pub method: &'static str,
    /// The route template, as in the `Call`, e.g. `GET /menus`.
    pub route: &'static str,
    /// Ids asked for.
    pub batch: usize,
    /// The ids, when cheap to have.
    pub ids: Option<String>,
    /// When it started.
    pub started: Instant,
    /// The HTTP status, if an answer came.
    pub status: Option<u16>,
    /// What went wrong, if anything.
    pub error: Option<&'static str>,
    /// Attempt number, from 1.
    pub attempt: u32,
}

/// The summary of a waterfall.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// Attempts made (a retry is a call of its own).
    pub calls: usize,
    /// The highest wave.
    pub waves: u32,
    /// Time from the request's start to the report, in ms.
    pub wall_ms: f64,
    /// Sum of the durations along the critical path, in ms.
    pub critical_path_ms: f64,
}

/// What `extensions.upstream` holds.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The attempts, in the order they started.
    pub calls: Vec<CallRecord>,
    /// Their summary.
    pub summary: Summary,
}

impl Waterfall {
    /// A recorder for a request that started now; `detailed` keeps every attempt.
    pub fn new(detailed: bool) -> Self {
        Self {
            started: Instant::now(),
            detailed,
            attempts: AtomicU32::new(0),
            calls: Mutex::new(Vec::new()),
        }
    }

    /// Whether the attempts' details are kept (the caller may skip gathering them).
    pub fn detailed(&self) -> bool {
        self.detailed
    }

    /// Attempts made so far.
    pub fn attempts(&self) -> u32 {
        self.attempts.load(Ordering::Relaxed)
    }

    /// Records one finished attempt.
    pub fn record(&self, attempt: Attempt) {
        self.attempts.fetch_add(1, Ordering::Relaxed);
        if !self.detailed {
            return;
        }
        let ended = Instant::now();
        let route = attempt.route.split_once(' ').map_or(attempt.route, |(_, path)| path);
        let record = CallRecord {
            service: attempt.service.name(),
            method: attempt.method,
            route,
            batch: attempt.batch,
            ids: attempt.ids,
            start_ms: ms(attempt.started.saturating_duration_since(self.started)),
            duration_ms: ms(ended.saturating_duration_since(attempt.started)),
            status: attempt.status,
            error: attempt.error,
            attempt: attempt.attempt,
            cache_hit: false,
            wave: 0,
            critical: false,
        };
        self.calls.lock().unwrap_or_else(PoisonError::into_inner).push(record);
    }

    /// The calls so far, with waves and the critical path worked out.
    pub fn report(&self) -> Report {
        let calls = self.calls.lock().unwrap_or_else(PoisonError::into_inner).clone();
        analyse(calls, ms(self.started.elapsed()))
    }
}

fn ms(duration: Duration) -> f64 {
    // Three decimals: microseconds, enough for loopback calls.
    (duration.as_secs_f64() * 1e6).round() / 1e3
}

/// Works out each call's wave and the critical path (see the module's documentation).
pub fn analyse(mut calls: Vec<CallRecord>, wall_ms: f64) -> Report {
    calls.sort_by(|a, b| a.start_ms.total_cmp(&b.start_ms));
    let n = calls.len();
    // For each call: its wave, the longest chain ending with it, and that chain's
    // previous call. Calls are few (tens), so the quadratic scan is fine.
    let mut chain = vec![0.0_f64; n];
    let mut previous = vec![None::<usize>; n];
    for i in 0..n {
        let start = calls[i].start_ms;
        let mut wave = 0;
        let mut best = 0.0;
        for j in 0..i {
            let end = calls[j].start_ms + calls[j].duration_ms;
            if end <= start {
                wave = wave.max(calls[j].wave);
                if chain[j] > best || previous[i].is_none() {
                    best = chain[j];
                    previous[i] = Some(j);
                }
            }
        }
        calls[i].wave = wave + 1;
        chain[i] = best + calls[i].duration_ms;
    }
    let last = (0..n).max_by(|&a, &b| chain[a].total_cmp(&chain[b]));
    let critical_path_ms = last.map_or(0.0, |i| chain[i]);
    let mut at = last;
    while let Some(i) = at {
        calls[i].critical = true;
        at = previous[i];
    }
    let summary = Summary {
        calls: n,
        waves: calls.iter().map(|c| c.wave).max().unwrap_or(0),
        wall_ms,
        critical_path_ms: (critical_path_ms * 1e3).round() / 1e3,
    };
    Report { calls, summary }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(route: &'static str, start_ms: f64, duration_ms: f64) -> CallRecord {
        CallRecord {
            service: "s",
            method: "GET",
            route,
            batch: 1,
            ids: None,
            start_ms,
            duration_ms,
            status: Some(200),
            error: None,
            attempt: 1,
            cache_hit: false,
            wave: 0,
            critical: false,
        }
    }

    #[test]
    fn waves_follow_the_calls_that_ended_before_each_start() {
        // a and b together; c after a; d after b and c; e overlaps everything.
        let calls = vec![
            call("/d", 40.0, 10.0),
            call("/a", 0.0, 10.0),
            call("/b", 0.0, 30.0),
            call("/c", 10.0, 20.0),
            call("/e", 1.0, 60.0),
        ];

        let report = analyse(calls, 70.0);

        let wave = |route: &str| report.calls.iter().find(|c| c.route == route).unwrap().wave;
        assert_eq!(
            [wave("/a"), wave("/b"), wave("/c"), wave("/d"), wave("/e")],
            [1, 1, 2, 3, 1]
        );
        assert_eq!(report.summary.waves, 3);
        assert_eq!(report.summary.calls, 5);
        // e (60) alone beats a (10) + c (20) + d (10) and b (30) + d (10).
        assert_eq!(report.summary.critical_path_ms, 60.0);
        let critical: Vec<_> = report.calls.iter().filter(|c| c.critical).map(|c| c.route).collect();
        assert_eq!(critical, ["/e"]);
    }

    #[test]
    fn no_calls_is_zero_waves() {
        let report = analyse(Vec::new(), 1.0);
        assert_eq!(report.summary.waves, 0);
        assert_eq!(report.summary.critical_path_ms, 0.0);
    }

    #[test]
    fn a_plain_recorder_counts_but_keeps_nothing() {
        let waterfall = Waterfall::new(false);
        waterfall.record(Attempt {
            service: Service::Menus,
            method: "GET",
            route: "GET /menus",
            batch: 3,
            ids: None,
            started: Instant::now(),
            status: Some(200),
            error: None,
            attempt: 1,
        });
        assert_eq!(waterfall.attempts(), 1);
        assert!(waterfall.report().calls.is_empty());
    }
}
