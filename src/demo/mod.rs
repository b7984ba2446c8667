//! The demo upstream services (see `../shared/design/upstreams.md`).
//!
//! Interface the gateway relies on (to be implemented):
//!
//! ```ignore
//! pub struct DemoConfig { pub seed: u64, pub latency: std::time::Duration }
//! #[derive(Clone)] pub struct Demo { .. }
//! impl Demo {
//!     pub fn new(config: DemoConfig) -> Demo;
//!     pub fn router(&self) -> axum::Router;
//! }
//! pub async fn serve(listener: tokio::net::TcpListener, demo: Demo,
//!     shutdown: impl std::future::Future<Output = ()> + Send + 'static) -> std::io::Result<()>;
//! ```

/// Temporary stand-in until the demo lands.
#[derive(Default)]
pub struct DemoConfig {
    /// Seed.
    pub seed: u64,
}
