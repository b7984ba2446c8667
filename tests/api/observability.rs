//! Metrics, trace propagation and the upstream waterfall, checked against the
//! demo's own counts.

use std::collections::HashMap;

use delivery_gateway::config::UpstreamTrace;
use serde_json::{Value, json};

use crate::helpers::{HOME, TestApp, assert_no_errors, berlin, header_text, spawn_app, spawn_app_with};

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// Samples of the Prometheus text: `name{labels}` → value. Panics on a line that
/// is not a comment, a blank or `name[{labels}] value`.
fn parse_prometheus(text: &str) -> HashMap<String, f64> {
    let mut samples = HashMap::new();
    for line in text.lines() {
        if line.is_empty() || line.starts_with('#') {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let kind = rest.split(' ').nth(1).unwrap_or("");
                assert!(
                    matches!(kind, "counter" | "gauge" | "histogram" | "summary" | "untyped"),
                    "{line}"
                );
            }
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("not a sample: {line}"));
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("not a value: {line}"));
        let name_end = series.find('{').unwrap_or(series.len());
        let name = &series[..name_end];
        assert!(
            !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':'),
            "bad metric name: {line}"
        );
        if name_end < series.len() {
            assert!(series.ends_with('}'), "unclosed labels: {line}");
        }
        samples.insert(series.to_owned(), value);
    }
    samples
}

impl TestApp {
    async fn metrics(&self) -> HashMap<String, f64> {
        let response = self.get("/metrics").send().await.unwrap();
        assert_eq!(response.status(), 200);
        let content_type = header_text(response.headers(), "content-type").to_owned();
        assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
        parse_prometheus(&response.text().await.unwrap())
    }

    async fn home_with(&self, headers: &[(&str, &str)]) -> Value {
        let token = self.token(42);
        let mut request = self.graphql_post(&json!({"query": HOME, "variables": berlin(20)}), Some(&token));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        self.send_json(request).await.body
    }

    async fn headers_seen(&self) -> Value {
        self.get_json(&self.demo_url("/_admin/headers")).await
    }
}

/// Sum of the samples of `name` whose labels contain every `label="value"` given.
fn sum(samples: &HashMap<String, f64>, name: &str, labels: &[&str]) -> f64 {
    samples
        .iter()
        .filter(|(series, _)| series.split('{').next() == Some(name) && labels.iter().all(|l| series.contains(l)))
        .map(|(_, v)| v)
        .sum()
}

#[tokio::test]
async fn metrics_count_home_screens_seventeen_upstream_calls_by_service() {
    let app = spawn_app().await;
    let before = app.metrics().await;

    let body = app.home_with(&[]).await;

    assert_no_errors(&body);
    let after = app.metrics().await;
    let delta = |name: &str, labels: &[&str]| sum(&after, name, labels) - sum(&before, name, labels);
    assert_eq!(delta("gateway_upstream_requests_total", &[]), 17.0);
    assert_eq!(delta("gateway_upstream_requests_total", &[r#"outcome="ok""#]), 17.0);
    let stats = app.stats().await;
    for (key, calls) in &stats.calls {
        let mut parts = key.splitn(2, ' ');
        let (service, route) = (parts.next().unwrap(), parts.next().unwrap());
        let labels = [format!(r#"service="{service}""#), format!(r#"route="{route}""#)];
        let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
        assert_eq!(
            delta("gateway_upstream_requests_total", &labels),
            *calls as f64,
            "{key}"
        );
        assert_eq!(
            delta("gateway_upstream_request_duration_seconds_count", &labels),
            *calls as f64
        );
    }
    assert_eq!(
        delta("gateway_upstream_batch_size_sum", &[r#"service="menus""#]),
        stats.ids["menus GET /menus"] as f64
    );
    let home = [r#"operation="HomeScreen""#, r#"outcome="ok""#];
    assert_eq!(delta("gateway_graphql_requests_total", &home), 1.0);
    assert_eq!(delta("gateway_graphql_request_duration_seconds_count", &home), 1.0);
    assert_eq!(sum(&after, "gateway_graphql_requests_in_flight", &[]), 0.0);
    assert_eq!(delta("gateway_upstream_errors_total", &[]), 0.0);
}

#[tokio::test]
async fn metrics_count_errors_by_code_and_upstream_failures_by_kind() {
    let app = spawn_app().await;
    app.fault(json!({"service": "ratings", "errorRate": 1.0})).await;
    let before = app.metrics().await;

    let body = app.home_with(&[]).await;

    let errors = body["errors"].as_array().unwrap().len() as f64;
    assert!(errors > 0.0);
    let after = app.metrics().await;
    let delta = |name: &str, labels: &[&str]| sum(&after, name, labels) - sum(&before, name, labels);
    assert_eq!(
        delta("gateway_graphql_errors_total", &[r#"code="UPSTREAM_UNAVAILABLE""#]),
        errors
    );
    assert!(
        delta(
            "gateway_upstream_errors_total",
            &[r#"service="ratings""#, r#"kind="http_5xx""#]
        ) >= 1.0
    );
    assert_eq!(
        delta(
            "gateway_graphql_requests_total",
            &[r#"operation="HomeScreen""#, r#"outcome="partial""#]
        ),
        1.0
    );
}

#[tokio::test]
async fn metrics_label_unknown_operation_names_without_growing_forever() {
    let app = spawn_app().await;
    for i in 0..80 {
        let query = format!("query Op{i} {{ __typename }}");
        app.query(&query, json!({}), None).await;
    }
    let samples = app.metrics().await;
    let names = samples
        .keys()
        .filter(|k| k.starts_with("gateway_graphql_requests_total{"))
        .count();
    assert!(names <= delivery_gateway::telemetry::MAX_OPERATION_NAMES + 1, "{names}");
    assert!(sum(&samples, "gateway_graphql_requests_total", &[r#"operation="other""#]) >= 16.0);
}

#[tokio::test]
async fn a_traceparent_sent_in_comes_out_on_every_upstream_call() {
    let app = spawn_app().await;

    let body = app
        .home_with(&[("traceparent", TRACEPARENT), ("tracestate", "vendor=1")])
        .await;

    assert_no_errors(&body);
    let seen = app.headers_seen().await;
    // Export is off in tests: the client's context goes on unchanged.
    assert_eq!(seen["traceparent"], json!({ TRACEPARENT: 17 }));
    assert_eq!(seen["tracestate"], json!({"vendor=1": 17}));
    let ids = seen["x-request-id"].as_object().unwrap();
    assert_eq!(ids.len(), 1, "one request, one id: {ids:?}");
    assert_eq!(ids.values().next().unwrap(), 17);
}

#[tokio::test]
async fn the_request_id_sent_in_is_the_one_sent_on() {
    let app = spawn_app().await;

    app.home_with(&[("x-request-id", "req-abc-123")]).await;

    let seen = app.headers_seen().await;
    assert_eq!(seen["x-request-id"], json!({"req-abc-123": 17}));
    assert!(seen.get("traceparent").is_none(), "no traceparent was sent in: {seen}");
}

#[tokio::test]
async fn a_malformed_traceparent_is_not_passed_on() {
    let app = spawn_app().await;

    app.home_with(&[("traceparent", "00-not-a-trace-01")]).await;

    assert!(app.headers_seen().await.get("traceparent").is_none());
}

#[tokio::test]
async fn the_waterfall_reports_home_screen_as_seventeen_calls_in_four_waves() {
    let app = spawn_app().await;
    // Latency well above the DataLoader's 1 ms delay, so timing shows dependencies.
    app.fault(json!({"service": "*", "latencyMs": 20})).await;

    let body = app.home_with(&[("x-upstream-trace", "1")]).await;

    assert_no_errors(&body);
    let upstream = &body["extensions"]["upstream"];
    let summary = &upstream["summary"];
    assert_eq!(summary["calls"], 17, "{upstream:#}");
    assert_eq!(summary["waves"], 4, "{upstream:#}");
    let wall = summary["wallMs"].as_f64().unwrap();
    let critical = summary["criticalPathMs"].as_f64().unwrap();
    assert!(critical >= 80.0 && critical <= wall, "critical {critical}, wall {wall}");
    // The same calls per route as the demo counted.
    let mut per_route: HashMap<String, u64> = HashMap::new();
    for call in upstream["calls"].as_array().unwrap() {
        let key = format!(
            "{} {} {}",
            call["service"].as_str().unwrap(),
            call["method"].as_str().unwrap(),
            call["route"].as_str().unwrap()
        );
        *per_route.entry(key).or_default() += 1;
        assert_eq!(call["status"], 200, "{call}");
        assert_eq!(call["attempt"], 1);
        assert_eq!(call["cacheHit"], false);
        assert!(call["startMs"].as_f64().unwrap() >= 0.0);
        assert!(call["durationMs"].as_f64().unwrap() >= 20.0, "{call}");
    }
    assert_eq!(per_route, app.stats().await.calls);
    // The last wave is the seven per-restaurant batches, all in one go.
    let wave = |w: u64| {
        upstream["calls"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["wave"] == w)
            .count()
    };
    assert_eq!((wave(3), wave(4)), (1, 7), "{upstream:#}");
    let menus = upstream["calls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["service"] == "menus")
        .unwrap();
    assert_eq!(menus["batch"], 20);
    assert_eq!(menus["ids"].as_str().unwrap().split(',').count(), 20);
}

#[tokio::test]
async fn the_waterfall_is_only_there_when_asked_for_and_allowed() {
    let app = spawn_app().await;
    let body = app.home_with(&[]).await;
    assert!(body.get("extensions").is_none_or(|e| e.get("upstream").is_none()));

    let off = spawn_app_with(|c| c.telemetry.upstream_trace = UpstreamTrace::Off).await;
    let body = off.home_with(&[("x-upstream-trace", "1")]).await;
    assert!(body.get("extensions").is_none_or(|e| e.get("upstream").is_none()));

    let secret = "s3cret-s3cret-s3cret";
    let guarded = spawn_app_with(|c| {
        // Two HomeScreens on one gateway: the second would be served from the cache.
        c.cache.enabled = false;
        c.telemetry.upstream_trace = UpstreamTrace::HeaderSecret;
        c.telemetry.upstream_trace_secret = Some(secret.to_owned());
    })
    .await;
    let body = guarded.home_with(&[("x-upstream-trace", "1")]).await;
    assert!(body.get("extensions").is_none_or(|e| e.get("upstream").is_none()));
    let body = guarded.home_with(&[("x-upstream-trace", secret)]).await;
    assert_eq!(body["extensions"]["upstream"]["summary"]["calls"], 17);
}

#[tokio::test]
async fn with_telemetry_off_no_exporter_runs() {
    let app = spawn_app().await;
    assert!(app.config.telemetry.otlp_endpoint.is_none());

    app.home_with(&[("traceparent", TRACEPARENT)]).await;

    assert!(!delivery_gateway::telemetry::otlp_active());
    // No OpenTelemetry layer: the trace goes on exactly as it came in, not re-parented.
    assert_eq!(app.headers_seen().await["traceparent"], json!({ TRACEPARENT: 17 }));
    let exporter_threads = std::fs::read_dir("/proc/self/task")
        .map(|tasks| {
            tasks
                .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
                .filter(|name| name.to_ascii_lowercase().contains("opentelemetry") || name.contains("BatchSpan"))
                .count()
        })
        .unwrap_or(0);
    assert_eq!(exporter_threads, 0);
}

#[tokio::test]
async fn metrics_can_be_turned_off() {
    let app = spawn_app_with(|c| c.telemetry.metrics = false).await;
    let status = app.get("/metrics").send().await.unwrap().status();
    assert_eq!(status, 404);
}
