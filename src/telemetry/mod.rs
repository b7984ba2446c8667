//! Logging, traces and metrics.
//!
//! - Logs: a `tracing` subscriber, human-readable in development, JSON lines in
//!   production, to standard error (standard output stays free for the commands
//!   that print something: `schema`, `token`). `RUST_LOG` wins over `log.level`.
//! - Traces: with `telemetry.otlp_endpoint` set, an OpenTelemetry layer exports the
//!   gateway's spans (request, GraphQL operation, upstream attempts) over OTLP/HTTP
//!   from a batch processor on its own thread. Without it there is no exporter, no
//!   layer and no thread. [`accept_parent`] and [`outgoing_trace_context`] carry the
//!   W3C `traceparent` in and out. A client's `traceparent`, `tracestate` and
//!   `X-Request-Id` reach them only when `telemetry.trust_client_trace` allows
//!   (by default in development only): otherwise the server drops those headers
//!   at the edge, so a client can neither force sampling nor choose the ids
//!   upstream logs are searched by.
//! - Metrics: [`Metrics`], rendered by `GET /metrics`, on the public listener or,
//!   with `telemetry.metrics_listen`, on an admin port of its own.
//!
//! This module is a leaf: it knows spans and headers' text, not axum or GraphQL.

mod metrics;
mod otlp;

use tracing_subscriber::{EnvFilter, Layer, fmt, prelude::*};

pub use metrics::{InFlight, MAX_OPERATION_NAMES, Metrics};
pub use otlp::{TelemetryGuard, accept_parent, otlp_active, outgoing_trace_context};

use crate::config::{LogConfig, LogFormat, TelemetryConfig};

/// Installs the global subscriber with logging only. `RUST_LOG` wins over
/// `log.level` when set. A second call (as in tests) leaves the first subscriber in
/// place.
pub fn init(config: &LogConfig) {
    let guard = init_with(config, &TelemetryConfig::default());
    drop(guard);
}

/// Installs the global subscriber: logging, and OpenTelemetry export when
/// `telemetry.otlp_endpoint` is set. Keep the guard until the process ends: dropping
/// it flushes the spans not yet exported. A second call leaves the first subscriber
/// in place (and starts no exporter).
pub fn init_with(log: &LogConfig, telemetry: &TelemetryConfig) -> TelemetryGuard {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&log.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let Some(endpoint) = &telemetry.otlp_endpoint else {
        // Off: exactly the logging subscriber, one global filter.
        let result = tracing_subscriber::registry()
            .with(filter)
            .with(fmt_layer(log.format))
            .try_init();
        drop(result); // Already installed: keep the first one.
        return TelemetryGuard::none();
    };
    // On: each layer filters on its own, so the exporter sees the upstream spans
    // (debug level) whatever the log level.
    match otlp::provider(endpoint, telemetry) {
        Ok(provider) => {
            let layer = otlp::layer(&provider);
            let result = tracing_subscriber::registry()
                .with(fmt_layer(log.format).with_filter(filter))
                .with(layer.with_filter(otlp::span_filter()))
                .try_init();
            if result.is_err() {
                // Another subscriber is in place: this exporter would see nothing.
                let _ = provider.shutdown();
                return TelemetryGuard::none();
            }
            tracing::info!(%endpoint, "exporting traces over OTLP/HTTP");
            TelemetryGuard::new(provider)
        }
        Err(error) => {
            let result = tracing_subscriber::registry()
                .with(filter)
                .with(fmt_layer(log.format))
                .try_init();
            drop(result);
            tracing::error!(%error, "telemetry.otlp_endpoint: cannot export traces; going on without");
            TelemetryGuard::none()
        }
    }
}

/// The log lines' layer: compact text or JSON objects, to standard error.
fn fmt_layer<S>(format: LogFormat) -> Box<dyn Layer<S> + Send + Sync>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    match format {
        LogFormat::Pretty => fmt::layer().compact().with_writer(std::io::stderr).boxed(),
        LogFormat::Json => fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(std::io::stderr)
            .boxed(),
    }
}
