//! The demo upstream services: all thirteen services of `upstreams.md` on one port,
//! each under a path prefix named after it (`/restaurants/restaurants?ids=1,2`), with
//! deterministic data, tunable latency and faults, and an admin API under `/_admin`.
//!
//! Layout, in reading order:
//! - [`data`]: the data, pure functions of `(seed, id)`; the gateway's tests call them
//!   to compute expected values. [`wire`]: the JSON types those functions return.
//! - `routes/`: one small router per service; `batch`, `access`, `reply`: reading
//!   requests, `X-User-Id` checks, answers with the contract's `Cache-Control`.
//! - `gate`: counts every call and applies the service's faults; `faults`, `stats`:
//!   the shared state behind it; `admin`: the admin API.
//!
//! The demo shares nothing with the gateway's code beyond what a test may import;
//! it never panics on input, and holds its locks only briefly, never across `.await`.

mod access;
mod admin;
mod batch;
pub mod data;
mod faults;
mod gate;
mod headers;
mod reply;
mod routes;
mod service;
mod stats;
#[cfg(test)]
mod tests;
pub mod tls;
pub mod wire;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use faults::Fault;
pub use headers::HeadersSnapshot;
pub use service::Service;
pub use stats::StatsSnapshot;

/// How the demo starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoConfig {
    /// The seed every value derives from ([`data::DEFAULT_SEED`], 42, by default).
    pub seed: u64,
    /// Base latency of every service at start, and again after a reset (0 = none).
    pub latency: Duration,
}

impl Default for DemoConfig {
    fn default() -> Self {
        DemoConfig {
            seed: data::DEFAULT_SEED,
            latency: Duration::ZERO,
        }
    }
}

/// A handle on one running demo: its seed, faults and statistics. Cheap to clone;
/// every clone sees the same faults and counters.
#[derive(Debug, Clone)]
pub struct Demo {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    seed: u64,
    faults: faults::Faults,
    stats: stats::Stats,
    headers: headers::HeadersSeen,
    /// Flips to `true` when `serve` shuts down, releasing hung calls.
    shutdown: watch::Sender<bool>,
}

impl Demo {
    /// A demo with `config`'s seed, every service at the base latency, counters at 0.
    pub fn new(config: DemoConfig) -> Demo {
        // The demo may serve TLS, and its callers' clients need the provider.
        crate::tls::install_provider();
        Demo {
            shared: Arc::new(Shared {
                seed: config.seed,
                faults: faults::Faults::new(Fault::latency(config.latency)),
                stats: stats::Stats::default(),
                headers: headers::HeadersSeen::default(),
                shutdown: watch::Sender::new(false),
            }),
        }
    }

    /// Every service under `/<service>` and the admin API under `/_admin`; unknown
    /// routes answer a JSON 404.
    pub fn router(&self) -> Router {
        routes::services(self)
            .nest("/_admin", admin::router())
            .fallback(reply::no_route)
            .method_not_allowed_fallback(reply::wrong_method)
            .with_state(self.clone())
    }

    /// The seed the data derives from.
    pub fn seed(&self) -> u64 {
        self.shared.seed
    }

    /// Replaces one service's fault settings (as `PUT /_admin/faults` does).
    pub fn set_fault(&self, service: Service, fault: Fault) {
        self.shared.faults.set(Some(service), fault);
    }

    /// Replaces every service's fault settings (`"service": "*"`).
    pub fn set_all_faults(&self, fault: Fault) {
        self.shared.faults.set(None, fault);
    }

    /// Every service's current fault settings, in contract order.
    pub fn faults(&self) -> Vec<(Service, Fault)> {
        self.shared.faults.all()
    }

    /// The counters since start or the last reset (as `GET /_admin/stats`).
    pub fn stats(&self) -> StatsSnapshot {
        self.shared.stats.snapshot()
    }

    /// The trace headers seen since start or the last reset (as `GET /_admin/headers`).
    pub fn headers_seen(&self) -> HeadersSnapshot {
        self.shared.headers.snapshot()
    }

    /// Zeroes the counters and restores the start-up faults (as `POST /_admin/reset`).
    pub fn reset(&self) {
        self.shared.stats.reset();
        self.shared.headers.reset();
        self.shared.faults.reset();
    }

    pub(crate) fn faults_store(&self) -> &faults::Faults {
        &self.shared.faults
    }

    pub(crate) fn headers_store(&self) -> &headers::HeadersSeen {
        &self.shared.headers
    }

    pub(crate) fn stats_store(&self) -> &stats::Stats {
        &self.shared.stats
    }

    pub(crate) fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shared.shutdown.subscribe()
    }
}

/// Serves `demo` on `listener` until `shutdown` completes, then finishes the calls in
/// flight (hung calls are released with a 503) and returns.
pub async fn serve(
    listener: TcpListener,
    demo: Demo,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let router = demo.router();
    let signal = async move {
        shutdown.await;
        demo.shared.shutdown.send_replace(true);
    };
    axum::serve(listener, router).with_graceful_shutdown(signal).await
}
