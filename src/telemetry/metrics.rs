//! Prometheus metrics: one [`Registry`] per gateway (no global state, so tests run
//! gateways side by side), rendered as text by `GET /metrics`.
//!
//! Label values come from closed sets only: service and route templates from the
//! code, outcome and error codes from fixed lists, and operation names from
//! [`Metrics::operation_label`], which caps how many distinct names it lets
//! through. Never a user id, an argument or a query text.

use std::{collections::HashSet, sync::Arc, sync::RwLock, time::Duration};

use prometheus::{Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry, TextEncoder};

/// Distinct operation names that get a label of their own; later ones are `other`.
pub const MAX_OPERATION_NAMES: usize = 64;

/// Buckets of the request latency histogram, in seconds.
const REQUEST_BUCKETS: &[f64] = &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];
/// Buckets of the upstream latency histogram, in seconds.
const UPSTREAM_BUCKETS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5];
/// Buckets of ids per upstream call.
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0];

/// The gateway's metrics. Cheap to clone: every clone feeds the same registry.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Registry,
    requests: IntCounterVec,
    request_duration: HistogramVec,
    in_flight: IntGauge,
    graphql_errors: IntCounterVec,
    upstream_requests: IntCounterVec,
    upstream_duration: HistogramVec,
    upstream_errors: IntCounterVec,
    upstream_batch: HistogramVec,
    cache: IntCounterVec,
    operations: RwLock<HashSet<Box<str>>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh registry with every metric registered (and at zero).
    pub fn new() -> Self {
        let registry = Registry::new_custom(Some("gateway".to_owned()), None).expect("a valid prefix");
        let requests = IntCounterVec::new(
            Opts::new(
                "graphql_requests_total",
                "GraphQL requests by operation name and outcome",
            ),
            &["operation", "outcome"],
        )
        .expect("valid metric");
        let request_duration = HistogramVec::new(
            HistogramOpts::new(
                "graphql_request_duration_seconds",
                "Time to answer a GraphQL request, by operation name and outcome",
            )
            .buckets(REQUEST_BUCKETS.to_vec()),
            &["operation", "outcome"],
        )
        .expect("valid metric");
        let in_flight =
            IntGauge::new("graphql_requests_in_flight", "GraphQL requests being executed").expect("valid metric");
        let graphql_errors = IntCounterVec::new(
            Opts::new(
                "graphql_errors_total",
                "Errors in GraphQL responses, by extensions.code",
            ),
            &["code"],
        )
        .expect("valid metric");
        let upstream_requests = IntCounterVec::new(
            Opts::new(
                "upstream_requests_total",
                "Attempts of upstream calls, by service, route template and outcome",
            ),
            &["service", "route", "outcome"],
        )
        .expect("valid metric");
        let upstream_duration = HistogramVec::new(
            HistogramOpts::new(
                "upstream_request_duration_seconds",
                "Time of one upstream attempt, by service and route template",
            )
            .buckets(UPSTREAM_BUCKETS.to_vec()),
            &["service", "route"],
        )
        .expect("valid metric");
        let upstream_errors = IntCounterVec::new(
            Opts::new(
                "upstream_errors_total",
                "Failed upstream attempts, by service, route template and kind",
            ),
            &["service", "route", "kind"],
        )
        .expect("valid metric");
        let upstream_batch = HistogramVec::new(
            HistogramOpts::new(
                "upstream_batch_size",
                "Ids asked for per upstream call (DataLoader batch sizes after splitting)",
            )
            .buckets(BATCH_BUCKETS.to_vec()),
            &["service", "route"],
        )
        .expect("valid metric");
        let cache = IntCounterVec::new(
            Opts::new(
                "cache_requests_total",
                "Cache look-ups, by cache and result (hit, miss)",
            ),
            &["cache", "result"],
        )
        .expect("valid metric");
        for collector in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(request_duration.clone()),
            Box::new(in_flight.clone()),
            Box::new(graphql_errors.clone()),
            Box::new(upstream_requests.clone()),
            Box::new(upstream_duration.clone()),
            Box::new(upstream_errors.clone()),
            Box::new(upstream_batch.clone()),
            Box::new(cache.clone()),
        ] {
            registry.register(collector).expect("metric names are unique");
        }
        Self {
            inner: Arc::new(Inner {
                registry,
                requests,
                request_duration,
                in_flight,
                graphql_errors,
                upstream_requests,
                upstream_duration,
                upstream_errors,
                upstream_batch,
                cache,
                operations: RwLock::new(HashSet::new()),
            }),
        }
    }

    /// The label for an operation name: the name itself for the first
    /// [`MAX_OPERATION_NAMES`] well-formed names seen, `anonymous` for none, else
    /// `other`.
    pub fn operation_label(&self, name: Option<&str>) -> String {
        let Some(name) = name else {
            return "anonymous".to_owned();
        };
        let well_formed = !name.is_empty()
            && name.len() <= 64
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            && !name.as_bytes()[0].is_ascii_digit();
        if !well_formed {
            return "other".to_owned();
        }
        let known = |set: &HashSet<Box<str>>| set.contains(name);
        if self.inner.operations.read().map(|s| known(&s)).unwrap_or(false) {
            return name.to_owned();
        }
        let mut set = match self.inner.operations.write() {
            Ok(set) => set,
            Err(poisoned) => poisoned.into_inner(),
        };
        if known(&set) || set.len() < MAX_OPERATION_NAMES {
            set.insert(name.into());
            name.to_owned()
        } else {
            "other".to_owned()
        }
    }

    /// Counts one GraphQL request into the in-flight gauge until the guard drops.
    pub fn in_flight(&self) -> InFlight {
        self.inner.in_flight.inc();
        InFlight(self.inner.in_flight.clone())
    }

    /// Records a finished GraphQL request.
    pub fn request(&self, operation: &str, outcome: &str, elapsed: Duration) {
        let labels = [operation, outcome];
        self.inner.requests.with_label_values(&labels).inc();
        self.inner
            .request_duration
            .with_label_values(&labels)
            .observe(elapsed.as_secs_f64());
    }

    /// Counts one error of a GraphQL response by its code.
    pub fn graphql_error(&self, code: &str) {
        self.inner.graphql_errors.with_label_values(&[code]).inc();
    }

    /// Records one upstream attempt: `outcome` is `ok`, `not_found` or an error
    /// kind, which is then counted as an error too.
    pub fn upstream(&self, service: &str, route: &str, outcome: &str, batch: usize, elapsed: Duration) {
        let inner = &self.inner;
        inner
            .upstream_requests
            .with_label_values(&[service, route, outcome])
            .inc();
        inner
            .upstream_duration
            .with_label_values(&[service, route])
            .observe(elapsed.as_secs_f64());
        inner
            .upstream_batch
            .with_label_values(&[service, route])
            .observe(batch as f64);
        if !matches!(outcome, "ok" | "not_found") {
            inner
                .upstream_errors
                .with_label_values(&[service, route, outcome])
                .inc();
        }
    }

    /// The hook for caches: counts a look-up of `cache` (a fixed name, e.g.
    /// `restaurants`) as a hit or a miss.
    pub fn cache(&self, cache: &str, hit: bool) {
        let result = if hit { "hit" } else { "miss" };
        self.inner.cache.with_label_values(&[cache, result]).inc();
    }

    /// Everything, in the Prometheus text format (version 0.0.4).
    pub fn render(&self) -> String {
        let mut out = Vec::with_capacity(16 * 1024);
        // Encoding into a Vec fails only on invalid metric families, which the
        // constructors above rule out.
        let _ = TextEncoder::new().encode(&self.inner.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

/// Holds one place in the in-flight gauge.
pub struct InFlight(IntGauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_names_are_capped() {
        let metrics = Metrics::new();
        assert_eq!(metrics.operation_label(None), "anonymous");
        assert_eq!(metrics.operation_label(Some("HomeScreen")), "HomeScreen");
        assert_eq!(metrics.operation_label(Some("no spaces please")), "other");
        for i in 0..MAX_OPERATION_NAMES {
            metrics.operation_label(Some(&format!("Op{i}")));
        }
        assert_eq!(metrics.operation_label(Some("OneTooMany")), "other");
        assert_eq!(metrics.operation_label(Some("HomeScreen")), "HomeScreen");
    }

    #[test]
    fn the_text_names_every_family_with_units_and_totals() {
        let metrics = Metrics::new();
        metrics.upstream("menus", "GET /menus", "ok", 20, Duration::from_millis(3));
        metrics.upstream("menus", "GET /menus", "timeout", 20, Duration::from_millis(3));
        let text = metrics.render();
        assert!(
            text.contains(r#"gateway_upstream_requests_total{outcome="ok",route="GET /menus",service="menus"} 1"#),
            "{text}"
        );
        assert!(text.contains(r#"gateway_upstream_errors_total{kind="timeout",route="GET /menus",service="menus"} 1"#));
        assert!(text.contains("gateway_upstream_batch_size_sum{route=\"GET /menus\",service=\"menus\"} 40"));
        assert!(text.contains("# TYPE gateway_graphql_requests_in_flight gauge"));
    }
}
