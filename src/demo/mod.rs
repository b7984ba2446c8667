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
//! - `store`, `idempotency`, `clock`: the state of the writes (calls 17-21): placed
//!   orders and favourite changes, idempotency keys, and the demo clock placed
//!   orders move on.
//!
//! The demo shares nothing with the gateway's code beyond what a test may import;
//! it never panics on input, and holds its locks only briefly, never across `.await`.

mod access;
mod admin;
mod batch;
mod clock;
pub mod data;
mod faults;
mod gate;
mod headers;
mod idempotency;
mod reply;
mod routes;
mod service;
mod stats;
mod store;
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

pub use clock::MAX_CLOCK_SPEED;
pub use faults::Fault;
pub use headers::HeadersSnapshot;
pub use service::Service;
pub use stats::StatsSnapshot;
pub use store::{FIRST_PLACED_ORDER_ID, MAX_FAVOURITES, MAX_PLACED_ORDERS};

/// How the demo starts.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoConfig {
    /// The seed every value derives from ([`data::DEFAULT_SEED`], 42, by default).
    pub seed: u64,
    /// Base latency of every service at start, and again after a reset (0 = none).
    pub latency: Duration,
    /// Speed of the demo clock placed orders move on, at start (1 = real time; 0 to
    /// [`MAX_CLOCK_SPEED`]). A reset sets it to 1, as the contract says.
    pub clock_speed: f64,
}

impl Default for DemoConfig {
    fn default() -> Self {
        DemoConfig {
            seed: data::DEFAULT_SEED,
            latency: Duration::ZERO,
            clock_speed: 1.0,
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
    clock: clock::DemoClock,
    store: store::Store,
    idempotency: idempotency::Idempotency,
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
                clock: clock::DemoClock::new(config.clock_speed),
                store: store::Store::default(),
                idempotency: idempotency::Idempotency::default(),
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

    /// The demo clock's time now, in Unix milliseconds.
    pub fn clock_now_ms(&self) -> i64 {
        self.shared.clock.now_ms()
    }

    /// How fast the demo clock runs now.
    pub fn clock_speed(&self) -> f64 {
        self.shared.clock.speed()
    }

    /// Runs the demo clock at `speed` from now on (as `PUT /_admin/clock`); a speed
    /// outside 0 to [`MAX_CLOCK_SPEED`] is refused with the reason.
    pub fn set_clock_speed(&self, speed: f64) -> Result<(), String> {
        match clock::speed_problem(speed) {
            Some(problem) => Err(problem),
            None => {
                self.shared.clock.set_speed(speed);
                Ok(())
            }
        }
    }

    /// Zeroes the counters, restores the start-up faults, forgets placed orders,
    /// favourite changes and idempotency keys, and sets the clock's speed to 1 (as
    /// `POST /_admin/reset`).
    pub fn reset(&self) {
        self.shared.stats.reset();
        self.shared.headers.reset();
        self.shared.faults.reset();
        self.shared.store.reset();
        self.shared.idempotency.reset();
        self.shared.clock.set_speed(1.0);
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

    pub(crate) fn order_store(&self) -> &store::Store {
        &self.shared.store
    }

    pub(crate) fn idempotency(&self) -> &idempotency::Idempotency {
        &self.shared.idempotency
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
