//! Start-up: turn a [`Config`] into a running gateway, starting the embedded demo
//! upstreams when no upstream URL is configured.

use std::{collections::HashMap, future::Future, net::SocketAddr};

use anyhow::Context as _;
use tokio::net::TcpListener;
use url::Url;

use crate::{
    config::{Config, service_url},
    demo::{self, Demo, DemoConfig},
    server::{self, AppState},
    upstream::{HttpSettings, Service, Upstreams, UserId},
};

/// Where the gateway's upstreams are.
pub struct Wiring {
    /// The clients.
    pub upstreams: Upstreams,
    /// The embedded demo's address, when the gateway started one.
    pub embedded_demo: Option<SocketAddr>,
}

/// Starts the demo upstreams on `listener` in the background, for as long as the
/// process runs.
pub fn spawn_demo(listener: TcpListener, config: DemoConfig) -> Demo {
    let demo = Demo::new(config);
    let handle = demo.clone();
    tokio::spawn(async move {
        if let Err(error) = demo::serve(listener, handle, std::future::pending()).await {
            tracing::error!(%error, "demo upstreams stopped");
        }
    });
    demo
}

/// The upstream clients for `config`: its URLs, or an embedded demo on a free
/// loopback port.
pub async fn wire(config: &Config) -> anyhow::Result<Wiring> {
    let settings = HttpSettings {
        connect_timeout: config.upstreams.connect_timeout,
        timeout: config.upstreams.timeout,
        pool_max_idle_per_host: config.upstreams.pool_max_idle_per_host,
    };
    let (bases, embedded_demo): (HashMap<Service, Url>, _) = match config.service_urls() {
        Some(urls) => (urls.into_iter().collect(), None),
        None => {
            let listener = TcpListener::bind("127.0.0.1:0")
                .await
                .context("binding a port for the embedded demo upstreams")?;
            let addr = listener.local_addr()?;
            spawn_demo(
                listener,
                DemoConfig {
                    seed: config.demo.seed,
                    latency: config.demo.latency,
                },
            );
            let base: Url = format!("http://{addr}").parse()?;
            let bases = Service::ALL.iter().map(|&s| (s, service_url(&base, s))).collect();
            (bases, Some(addr))
        }
    };
    let upstreams = Upstreams::new(bases, &settings).context("building the upstream HTTP client")?;
    Ok(Wiring {
        upstreams,
        embedded_demo,
    })
}

/// Runs the gateway on `listener` until `shutdown` resolves.
pub async fn run(
    config: &Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let wiring = wire(config).await?;
    let demo_user = wiring.embedded_demo.map(|addr| {
        tracing::info!(
            %addr,
            seed = config.demo.seed,
            "no upstream URL configured: serving from embedded demo upstreams (set upstreams.base_url to use real ones)"
        );
        UserId(config.demo.graphiql_user)
    });
    let state = AppState::new(config, wiring.upstreams, demo_user);
    let addr = listener.local_addr()?;
    tracing::info!("GraphQL at http://{addr}/graphql (GraphiQL in a browser)");
    let router = server::router(state, config.server.max_body_bytes);
    server::serve_with(listener, router, shutdown, config.server.header_read_timeout)
        .await
        .context("serving HTTP")
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing the requests in flight");
}
