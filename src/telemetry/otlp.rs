//! OpenTelemetry: the OTLP/HTTP exporter, the `tracing` layer that feeds it, and the
//! W3C trace context in and out.
//!
//! All of it is dormant unless [`TelemetryGuard::new`] ran, i.e. unless
//! `telemetry.otlp_endpoint` is set: then [`otlp_active`] is true, incoming
//! `traceparent`s become the parents of the request spans, and each upstream
//! attempt sends its own span's context. When it is off, the gateway passes the
//! client's `traceparent` and `tracestate` on unchanged (it takes no part in the
//! trace).

use std::sync::atomic::{AtomicBool, Ordering};

use opentelemetry::{
    propagation::{Extractor, Injector, TextMapPropagator},
    trace::TracerProvider as _,
};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::{
    Resource,
    propagation::TraceContextPropagator,
    trace::{Sampler, SdkTracerProvider},
};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::filter::{LevelFilter, Targets};
use url::Url;

use crate::config::TelemetryConfig;

/// Whether an exporter was installed (see [`otlp_active`]).
static ACTIVE: AtomicBool = AtomicBool::new(false);

/// Whether OpenTelemetry export runs in this process. False unless
/// `telemetry.otlp_endpoint` was set when the subscriber was installed.
pub fn otlp_active() -> bool {
    ACTIVE.load(Ordering::Relaxed)
}

/// Keeps the exporter running; dropping it flushes and stops it.
#[must_use = "dropping the guard stops the exporter"]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl TelemetryGuard {
    pub(super) fn none() -> Self {
        Self { provider: None }
    }

    pub(super) fn new(provider: SdkTracerProvider) -> Self {
        ACTIVE.store(true, Ordering::Relaxed);
        Self {
            provider: Some(provider),
        }
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take() {
            ACTIVE.store(false, Ordering::Relaxed);
            // Flushes what is queued; an error here has nowhere useful to go.
            let _ = provider.shutdown();
        }
    }
}

/// The tracer provider: OTLP/HTTP protobuf to `endpoint` (`/v1/traces` appended to
/// a bare host), batched, sampled parent-first then by `sampling_ratio`.
pub(super) fn provider(
    endpoint: &Url,
    config: &TelemetryConfig,
) -> Result<SdkTracerProvider, opentelemetry_otlp::ExporterBuildError> {
    let mut url = endpoint.clone();
    if url.path() == "/" {
        url.set_path("/v1/traces");
    }
    // TLS (rustls on `ring`): the platform's roots plus `telemetry.otlp_tls.ca_file`,
    // an optional client certificate. The exporter runs on its own thread, so the
    // blocking client, built on a thread of its own as the exporter does (building
    // one inside an async runtime panics).
    let tls = config.otlp_tls.clone();
    let client = std::thread::spawn(move || {
        crate::tls::blocking_client_builder(
            reqwest::blocking::Client::builder().timeout(std::time::Duration::from_secs(5)),
            &tls,
        )
        .map_err(|e| format!("telemetry.otlp_tls: {e}"))?
        .build()
        .map_err(|e| format!("the OTLP client: {e}"))
    })
    .join()
    .map_err(|_| "building the OTLP client panicked".to_owned())
    .and_then(|built| built)
    .map_err(opentelemetry_otlp::ExporterBuildError::InternalFailure)?;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(client)
        .with_endpoint(url.as_str())
        .with_timeout(std::time::Duration::from_secs(5))
        .build()?;
    let sampler = Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(config.sampling_ratio)));
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_sampler(sampler)
        .with_resource(
            Resource::builder_empty()
                .with_service_name(config.service_name.clone())
                .build(),
        )
        .build())
}

/// The layer that turns `tracing` spans into OpenTelemetry spans, doing no more
/// than that: the request and upstream futures enter their spans on every poll, so
/// per-entry work (activating an OpenTelemetry context, timing busy and idle) and
/// per-span extras (code location, thread, target) are turned off to stay within
/// the CPU budget (see `scripts/telemetry-overhead.py`).
pub(super) fn layer<S>(provider: &SdkTracerProvider) -> impl tracing_subscriber::Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("delivery-gateway"))
        .with_tracked_inactivity(false)
        .with_context_activation(false)
        .with_location(false)
        .with_threads(false)
        .with_target(false)
}

/// The spans exported: the gateway's own (upstream attempts are `debug`), not the
/// embedded demo's, and only warnings from dependencies.
pub(super) fn span_filter() -> Targets {
    Targets::new()
        .with_default(LevelFilter::WARN)
        .with_target("delivery_gateway", LevelFilter::DEBUG)
        .with_target("delivery_gateway::demo", LevelFilter::OFF)
}

/// Makes the client's W3C trace context the parent of `span` (the request span),
/// when export is on. `traceparent` and `tracestate` are the headers' text.
pub fn accept_parent(span: &tracing::Span, traceparent: Option<&str>, tracestate: Option<&str>) {
    if !otlp_active() || traceparent.is_none() {
        return;
    }
    let headers = Incoming {
        traceparent,
        tracestate,
    };
    let context = TraceContextPropagator::new().extract(&headers);
    let _ = span.set_parent(context);
}

/// The `traceparent` (and `tracestate`, if any) naming `span` as the parent, for an
/// outgoing call; `None` when export is off or `span` is not sampled or recorded.
pub fn outgoing_trace_context(span: &tracing::Span) -> Option<(String, Option<String>)> {
    if !otlp_active() {
        return None;
    }
    let mut headers = Outgoing::default();
    TraceContextPropagator::new().inject_context(&span.context(), &mut headers);
    Some((headers.traceparent?, headers.tracestate.filter(|s| !s.is_empty())))
}

struct Incoming<'a> {
    traceparent: Option<&'a str>,
    tracestate: Option<&'a str>,
}

impl Extractor for Incoming<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        match key {
            "traceparent" => self.traceparent,
            "tracestate" => self.tracestate,
            _ => None,
        }
    }

    fn keys(&self) -> Vec<&str> {
        vec!["traceparent", "tracestate"]
    }
}

#[derive(Default)]
struct Outgoing {
    traceparent: Option<String>,
    tracestate: Option<String>,
}

impl Injector for Outgoing {
    fn set(&mut self, key: &str, value: String) {
        match key {
            "traceparent" => self.traceparent = Some(value),
            "tracestate" => self.tracestate = Some(value),
            _ => {}
        }
    }
}
