//! Prometheus metrics: one [`Registry`] per gateway (no global state, so tests run
//! gateways side by side), rendered as text by `GET /metrics`.
//!
//! Label values come from closed sets only: service and route templates from the
//! code, outcome and error codes from fixed lists, and operation names from
//! [`Metrics::operation_label`], which lets through only the names the operator
//! configured (`telemetry.operation_labels` and the persisted-query manifest's
//! operations). Never a user id, an argument or a query text, and never a name
//! only because a client sent it.

use std::{collections::HashSet, path::Path, sync::Arc, sync::RwLock, time::Duration};

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
    core::{Collector, Desc},
    proto::{Counter, Gauge, Metric, MetricFamily, MetricType},
};

/// Most names `telemetry.operation_labels` may list (a manifest's operations come
/// on top: the operator chose those too).
pub const MAX_OPERATION_NAMES: usize = crate::config::MAX_OPERATION_LABELS;

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

    /// Gives each of `names` a label of its own (added to those already given);
    /// names that are not well-formed operation names are skipped.
    pub fn label_operations<I, S>(&self, names: I)
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut set = match self.inner.operations.write() {
            Ok(set) => set,
            Err(poisoned) => poisoned.into_inner(),
        };
        for name in names {
            let name = name.as_ref();
            if Self::is_operation_name(name) {
                set.insert(name.into());
            }
        }
    }

    /// Whether `name` can be a label: a GraphQL name (`[A-Za-z_][A-Za-z0-9_]*`)
    /// of at most 64 characters.
    pub fn is_operation_name(name: &str) -> bool {
        crate::config::is_operation_name(name)
    }

    /// The names of the operations of an Apollo persisted-query manifest: each
    /// operation's `name`, or the names its `body` gives its operations.
    pub fn manifest_operation_names(path: &Path) -> Result<Vec<String>, String> {
        #[derive(serde::Deserialize)]
        struct File {
            operations: Vec<Operation>,
        }
        #[derive(serde::Deserialize)]
        struct Operation {
            name: Option<String>,
            body: Option<String>,
        }
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let file: File = serde_json::from_str(&text)
            .map_err(|e| format!("{} is not a persisted-query manifest: {e}", path.display()))?;
        let mut names = Vec::new();
        for operation in file.operations {
            match (operation.name, operation.body) {
                (Some(name), _) => names.push(name),
                (None, Some(body)) => {
                    if let Ok(document) = async_graphql::parser::parse_query(&body) {
                        names.extend(
                            document
                                .operations
                                .iter()
                                .filter_map(|(name, _)| name.map(|n| n.to_string())),
                        );
                    }
                }
                (None, None) => {}
            }
        }
        Ok(names)
    }

    /// The label for an operation name: the name itself when it was given a
    /// label ([`Metrics::label_operations`]), `anonymous` for none, else `other`.
    /// A client cannot claim a label by sending a name first.
    pub fn operation_label(&self, name: Option<&str>) -> String {
        let Some(name) = name else {
            return "anonymous".to_owned();
        };
        let labelled = match self.inner.operations.read() {
            Ok(set) => set.contains(name),
            Err(poisoned) => poisoned.into_inner().contains(name),
        };
        if labelled { name.to_owned() } else { "other".to_owned() }
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

    /// Exports a count kept elsewhere (an atomic of another layer) as the counter
    /// `name` (prefixed `gateway_`), read by `read` at each scrape, so the count
    /// has one source. `read` must never go down. Fails when `name` is taken or
    /// is not a metric name.
    pub fn count_from(
        &self,
        name: &str,
        help: &str,
        read: impl Fn() -> u64 + Send + Sync + 'static,
    ) -> prometheus::Result<()> {
        self.read_from(name, help, MetricType::COUNTER, Box::new(move || read() as f64))
    }

    /// Exports a value kept elsewhere as the gauge `name` (prefixed `gateway_`),
    /// read by `read` at each scrape. Fails as [`Metrics::count_from`] does.
    pub fn gauge_from(
        &self,
        name: &str,
        help: &str,
        read: impl Fn() -> f64 + Send + Sync + 'static,
    ) -> prometheus::Result<()> {
        self.read_from(name, help, MetricType::GAUGE, Box::new(read))
    }

    fn read_from(
        &self,
        name: &str,
        help: &str,
        kind: MetricType,
        read: Box<dyn Fn() -> f64 + Send + Sync>,
    ) -> prometheus::Result<()> {
        let desc = Desc::new(name.to_owned(), help.to_owned(), Vec::new(), Default::default())?;
        self.inner.registry.register(Box::new(ReadFrom { desc, kind, read }))
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

/// A counter or gauge whose value is read from elsewhere at each scrape
/// ([`Metrics::count_from`], [`Metrics::gauge_from`]).
struct ReadFrom {
    desc: Desc,
    kind: MetricType,
    read: Box<dyn Fn() -> f64 + Send + Sync>,
}

impl Collector for ReadFrom {
    fn desc(&self) -> Vec<&Desc> {
        vec![&self.desc]
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let mut metric = Metric::default();
        let value = (self.read)();
        if self.kind == MetricType::GAUGE {
            let mut gauge = Gauge::default();
            gauge.set_value(value);
            metric.set_gauge(gauge);
        } else {
            let mut counter = Counter::default();
            counter.set_value(value);
            metric.set_counter(counter);
        }
        let mut family = MetricFamily::default();
        family.set_name(self.desc.fq_name.clone());
        family.set_help(self.desc.help.clone());
        family.set_field_type(self.kind);
        family.set_metric(vec![metric]);
        vec![family]
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
    fn only_configured_operation_names_get_a_label() {
        let metrics = Metrics::new();
        metrics.label_operations(["HomeScreen", "Nearby", "not a name"]);
        assert_eq!(metrics.operation_label(None), "anonymous");
        assert_eq!(metrics.operation_label(Some("HomeScreen")), "HomeScreen");
        assert_eq!(metrics.operation_label(Some("not a name")), "other");
        // The first names a client sends claim nothing.
        for i in 0..MAX_OPERATION_NAMES {
            assert_eq!(metrics.operation_label(Some(&format!("Junk{i}"))), "other");
        }
        assert_eq!(metrics.operation_label(Some("Nearby")), "Nearby");
        assert_eq!(metrics.operation_label(Some("Restaurant")), "other");
    }

    #[test]
    fn a_manifest_names_its_operations() {
        let dir = std::env::temp_dir().join(format!("dg-manifest-{}-{}", std::process::id(), fastrand::u64(..)));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("manifest.json");
        let manifest = serde_json::json!({
            "format": "apollo-persisted-query-manifest",
            "version": 1,
            "operations": [
                {"id": "a", "name": "Checkout", "type": "query", "body": "query Checkout { __typename }"},
                {"id": "b", "body": "query Tracking { __typename }"}
            ]
        });
        std::fs::write(&path, manifest.to_string()).unwrap();
        let names = Metrics::manifest_operation_names(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(names, ["Checkout", "Tracking"]);
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

    #[test]
    fn a_count_kept_elsewhere_is_a_counter_read_at_each_scrape() {
        use std::sync::atomic::{AtomicU64, Ordering};

        let metrics = Metrics::new();
        let count = Arc::new(AtomicU64::new(0));
        let read = count.clone();
        metrics
            .count_from("things_total", "Things", move || read.load(Ordering::Relaxed))
            .unwrap();
        assert!(
            metrics
                .render()
                .contains("# TYPE gateway_things_total counter\ngateway_things_total 0\n")
        );
        count.store(3, Ordering::Relaxed);
        assert!(metrics.render().contains("\ngateway_things_total 3\n"));
        assert!(
            metrics.count_from("things_total", "Again", || 0).is_err(),
            "a name is exported once"
        );
    }
}
