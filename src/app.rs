//! Start-up: turn a [`Config`] into a running gateway, starting the embedded demo
//! upstreams when no upstream URL is configured.

use std::{collections::HashMap, future::Future, net::SocketAddr, sync::Arc};

use anyhow::Context as _;
use tokio::net::TcpListener;
use url::Url;

use crate::{
    config::{Config, Mode, service_url},
    demo::{self, Demo, DemoConfig},
    server::{self, AppState, DemoOrder, DemoPage},
    upstream::{
        Caching, GuardSettings, HttpSettings, Service, ServiceSettings, Upstreams, UserId,
        cache::{CacheCounters, CacheSettings, EntityCache, RedisStore},
    },
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
    if let Some(path) = &config.persisted_queries.manifest {
        server::persisted::Manifest::load(path).map_err(|message| crate::config::ConfigError::Invalid {
            key: "persisted_queries.manifest".to_owned(),
            message,
        })?;
    }
    let (bases, embedded_demo): (HashMap<Service, Url>, _) = match config.service_urls() {
        Some(urls) => (urls.into_iter().collect(), None),
        // `Config::validate` refuses this too; kept here for callers that skip it.
        None if config.server.mode == Mode::Production => {
            anyhow::bail!(
                "production mode never starts the embedded demo: set upstreams.base_url (GATEWAY_UPSTREAMS__BASE_URL)"
            )
        }
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
                    clock_speed: config.demo.clock_speed,
                },
            );
            let base: Url = format!("http://{addr}").parse()?;
            let bases = Service::ALL.iter().map(|&s| (s, service_url(&base, s))).collect();
            (bases, Some(addr))
        }
    };
    let counters = Arc::new(CacheCounters::default());
    let redis = redis_store(config, &counters)?;
    let cache = config
        .cache
        .enabled
        .then(|| EntityCache::new(cache_settings(config), redis.clone(), counters.clone()));

    let caching = Caching {
        cache,
        coalesce: config.cache.coalesce,
        counters,
        redis,
    };
    let upstreams = Upstreams::new(service_settings(config, bases), http_settings(config), caching)
        .context("building the upstream HTTP clients")?;
    label_operations(config, &upstreams);
    Ok(Wiring {
        upstreams,
        embedded_demo,
    })
}

/// Gives the configured operation names, and the persisted-query manifest's,
/// metric labels of their own; every other name is counted as `other`.
fn label_operations(config: &Config, upstreams: &Upstreams) {
    let metrics = upstreams.metrics();
    metrics.label_operations(&config.telemetry.operation_labels);
    if let Some(path) = &config.persisted_queries.manifest {
        match crate::telemetry::Metrics::manifest_operation_names(path) {
            Ok(names) => metrics.label_operations(names),
            Err(error) => tracing::warn!(%error, "persisted_queries.manifest: its operations get no metric labels"),
        }
    }
}

/// The Redis tier, when `cache.redis_url` is set. It connects on first use, so a
/// Redis that is down at start only means a memory-only start.
fn redis_store(config: &Config, counters: &Arc<CacheCounters>) -> anyhow::Result<Option<Arc<RedisStore>>> {
    let Some(url) = &config.cache.redis_url else {
        return Ok(None);
    };
    let store = RedisStore::new(
        url,
        &config.cache.redis_tls,
        config.cache.redis_prefix.clone(),
        config.cache.redis_timeout,
        counters.clone(),
    )
    .context("cache.redis_url")?
    .with_read_timeout(config.cache.redis_read_timeout);
    Ok(Some(Arc::new(store)))
}

fn cache_settings(config: &Config) -> CacheSettings {
    let c = &config.cache;
    CacheSettings {
        enabled: c.enabled,
        max_bytes: c.max_bytes,
        stale_window: c.stale_window,
        ttl: c
            .ttl
            .iter()
            .filter_map(|(name, ttl)| Some((Service::from_name(name)?, **ttl)))
            .collect(),
        coalesce: c.coalesce,
    }
}

fn http_settings(config: &Config) -> HttpSettings {
    let u = &config.upstreams;
    HttpSettings {
        tls: u.tls.clone(),
        pool_max_idle_per_host: u.pool_max_idle_per_host,
        max_response_bytes: u.max_response_bytes,
        max_attempts: u.retry.max_attempts,
        base_backoff: u.retry.base_backoff,
        max_backoff: u.retry.max_backoff,
    }
}

/// Each service's settings: the `upstreams` defaults and its overrides.
fn service_settings(config: &Config, bases: HashMap<Service, Url>) -> HashMap<Service, ServiceSettings> {
    let u = &config.upstreams;
    bases
        .into_iter()
        .map(|(service, base)| {
            let over = u.overrides.get(service.name()).cloned().unwrap_or_default();
            let guard = GuardSettings {
                max_concurrency: over.max_concurrency.unwrap_or(u.max_concurrency),
                queue_timeout: u.queue_timeout,
                required_success_rate: u.breaker.required_success_rate,
                min_calls: u.breaker.min_calls,
                window: u.breaker.window,
                open_for: u.breaker.open_for,
                retry_ratio: u.retry.budget_ratio,
                min_retries_per_second: u.retry.min_per_second,
                budget_window: u.retry.budget_window,
            };
            let settings = ServiceSettings {
                base,
                connect_timeout: over.connect_timeout.unwrap_or(u.connect_timeout),
                timeout: over.timeout.unwrap_or(u.timeout),
                guard,
            };
            (service, settings)
        })
        .collect()
}

/// Runs the gateway on `listener` until `shutdown` resolves; `/metrics` on
/// `telemetry.metrics_listen` when it is set (bound here).
pub async fn run(
    config: &Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let metrics_listener = match (config.telemetry.metrics, config.telemetry.metrics_listen) {
        (true, Some(addr)) => Some(
            TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding {addr} (telemetry.metrics_listen)"))?,
        ),
        _ => None,
    };
    run_with(config, listener, metrics_listener, shutdown).await
}

/// What GraphiQL offers on the embedded demo for `user`: its token and, from the
/// demo's data (`demo.seed`), an order it can place from the page's ready tabs.
pub fn demo_page(config: &Config, user: UserId) -> DemoPage {
    let order = crate::demo::data::sample_order(config.demo.seed, user.0).map(|o| DemoOrder {
        restaurant: o.restaurant,
        address: o.address,
        dish: o.dish,
    });
    DemoPage { user, order }
}

/// [`run`], with the listener of the metrics port already bound (`None`: the
/// public router serves `/metrics`, unless `telemetry.metrics_listen` is set).
pub async fn run_with(
    config: &Config,
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let wiring = wire(config).await?;
    // GraphiQL gets a demo user's token only on the embedded demo, which only
    // development runs (`wire`): a page that hands out tokens signed with a real
    // secret hands out accounts.
    let demo_user = wiring.embedded_demo.map(|addr| {
        tracing::info!(
            %addr,
            seed = config.demo.seed,
            "no upstream URL configured: serving from embedded demo upstreams (set upstreams.base_url to use real ones)"
        );
        demo_page(config, UserId(config.demo.graphiql_user))
    });
    let state = AppState::new(config, wiring.upstreams, demo_user);
    let addr = listener.local_addr()?;
    tracing::info!("GraphQL at http://{addr}/graphql (GraphiQL in a browser)");
    // The metrics port has no requests worth draining: it stops with the gateway.
    let metrics_port = metrics_listener.map(|metrics_listener| {
        if let Ok(addr) = metrics_listener.local_addr() {
            tracing::info!("metrics at http://{addr}/metrics (telemetry.metrics_listen)");
        }
        let router = server::metrics_router(state.clone());
        AbortOnDrop(tokio::spawn(server::serve(
            metrics_listener,
            router,
            std::future::pending(),
        )))
    });
    if config.server.mode == Mode::Production && config.telemetry.metrics && metrics_port.is_none() {
        tracing::warn!("/metrics is served on the public listener: set telemetry.metrics_listen to an admin address");
    }
    let router = server::router(state.clone(), config.server.max_body_bytes, config.server.max_in_flight);
    let (stopping, stopped) = tokio::sync::oneshot::channel::<()>();
    let drain = config.server.drain_delay;
    // The drain window: readiness turns 503 at once, new connections are still
    // accepted for `server.drain_delay` (balancers take a few probes to notice; every
    // answer says `Connection: close` meanwhile), then the listener closes and the
    // requests in flight get `server.shutdown_grace`.
    let signal = async move {
        shutdown.await;
        state.begin_shutdown();
        tracing::info!(
            ?drain,
            "draining: /health/ready answers 503; still accepting connections"
        );
        tokio::time::sleep(drain).await;
        tracing::info!("drain window over: no new connections; finishing the requests in flight");
        let _ = stopping.send(());
    };
    let serving = server::serve_with(listener, router, signal, config.server.header_read_timeout);
    let grace = config.server.shutdown_grace;
    tokio::select! {
        result = serving => result.context("serving HTTP"),
        () = async {
            let _ = stopped.await;
            tokio::time::sleep(grace).await;
        } => {
            tracing::warn!(?grace, "shutdown grace period over: exiting with requests still in flight");
            Ok(())
        }
    }
}

/// Aborts a task when dropped.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
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
    tracing::info!("shutdown signal received");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_manifest_that_does_not_read_stops_the_start_naming_its_key() {
        let mut config = Config::default();
        config.upstreams.base_url = Some("http://127.0.0.1:9".parse().unwrap());
        config.persisted_queries.manifest = Some("/nonexistent/manifest.json".into());
        assert!(config.validate().is_ok());

        let error = wire(&config).await.err().expect("refused").to_string();

        assert!(error.contains("persisted_queries.manifest"), "{error}");
    }
}
