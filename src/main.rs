//! The `delivery-gateway` command: parse the command line, load the configuration,
//! start logging, run a subcommand. Everything else lives in the library.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use delivery_gateway::{
    app,
    auth::Authenticator,
    config::{self, Config},
    demo::DemoConfig,
    graphql, telemetry,
    upstream::UserId,
};
use tokio::net::TcpListener;
use url::Url;

/// mimalloc: a GraphQL answer is thousands of small, short-lived allocations (a
/// future and a map per object); the README's Performance section has the figures.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A GraphQL composition server: one query in place of the app's sixteen REST calls.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// TOML configuration file (keys as in the README; `GATEWAY_*` variables override it).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway (the default). With no upstream URL configured it starts
    /// the demo upstreams in-process.
    Serve(ServeArgs),
    /// Run the demo upstream services alone.
    DemoUpstreams {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:4001")]
        listen: SocketAddr,
        /// Latency added to every call, in milliseconds.
        #[arg(long, default_value_t = 0)]
        latency_ms: u64,
        /// Seed of the generated data.
        #[arg(long)]
        seed: Option<u64>,
        /// Speed of the demo clock placed orders move on (0 to 1000; 0 stops it).
        #[arg(long, default_value_t = 1.0, value_parser = clock_speed)]
        clock_speed: f64,
        /// Serve TLS (HTTP/2 or HTTP/1.1 by ALPN) with this PEM certificate chain
        /// (with `--tls-key`). Plain HTTP/1.1 without it.
        #[arg(long, value_name = "FILE", requires = "tls_key", conflicts_with = "tls_self_signed")]
        tls_cert: Option<PathBuf>,
        /// The PEM private key of `--tls-cert`.
        #[arg(long, value_name = "FILE", requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// Serve TLS with a certificate made at start for localhost, 127.0.0.1 and
        /// ::1, signed by a CA made at start; its certificate is written to a file
        /// whose path is printed (trust it with `upstreams.tls.ca_file`).
        #[arg(long)]
        tls_self_signed: bool,
        /// With TLS, offer only HTTP/1.1 by ALPN (to compare with HTTP/2).
        #[arg(long)]
        tls_http1_only: bool,
    },
    /// Print the schema (SDL).
    Schema,
    /// Exit 0 when the gateway at `--addr` answers `--path` with 200 (a container
    /// health check: the image has no curl).
    Health {
        /// The gateway's address.
        #[arg(long, default_value = "127.0.0.1:4000")]
        addr: SocketAddr,
        /// The path asked for.
        #[arg(long, default_value = "/health/live")]
        path: String,
    },
    /// Print a bearer token for a user that the configuration accepts.
    Token {
        /// The user's id.
        #[arg(long)]
        user: u64,
    },
}

#[derive(clap::Args, Default)]
struct ServeArgs {
    /// Address to listen on (overrides `server.listen`).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// One base URL for all thirteen services, each under `/<service>`, as the
    /// demo serves them (overrides `upstreams.base_url`).
    #[arg(long, value_name = "URL")]
    upstreams: Option<Url>,
}

/// `--clock-speed`: a number from 0 to 1000.
fn clock_speed(raw: &str) -> Result<f64, String> {
    let speed: f64 = raw.parse().map_err(|_| format!("{raw:?} is not a number"))?;
    if (0.0..=delivery_gateway::demo::MAX_CLOCK_SPEED).contains(&speed) {
        Ok(speed)
    } else {
        Err("must be between 0 and 1000".to_owned())
    }
}

fn main() -> anyhow::Result<()> {
    // One rustls crypto provider (ring) for every TLS connection of the process.
    delivery_gateway::tls::install_provider();
    let cli = Cli::parse();
    // Validated per command, after the command line's overrides (`--upstreams`
    // can supply what production mode requires).
    let loaded = Config::read(cli.config.as_deref(), config::process_env())?;
    let mut config = loaded.config.clone();
    match cli.command.unwrap_or(Command::Serve(ServeArgs::default())) {
        Command::Serve(args) => {
            if let Some(listen) = args.listen {
                config.server.listen = listen;
            }
            if let Some(url) = args.upstreams {
                config.upstreams.base_url = Some(url);
            }
            config.validate()?;
            // Kept until main returns: dropping it flushes the spans not yet exported.
            let _telemetry = telemetry::init_with(&config.log, &config.telemetry);
            loaded.warn_ignored();
            runtime_with(config.server.worker_threads)?.block_on(async {
                let listener = TcpListener::bind(config.server.listen)
                    .await
                    .with_context(|| format!("binding {} (server.listen)", config.server.listen))?;
                app::run(&config, listener, app::shutdown_signal()).await
            })
        }
        Command::DemoUpstreams {
            listen,
            latency_ms,
            seed,
            clock_speed,
            tls_cert,
            tls_key,
            tls_self_signed,
            tls_http1_only,
        } => {
            // It serves the demo alone: of the configuration it reads only
            // `log` and `demo.seed` (the image's production settings do not apply).
            config.validate_log()?;
            telemetry::init(&config.log);
            loaded.warn_ignored();
            let demo_config = DemoConfig {
                seed: seed.unwrap_or(config.demo.seed),
                latency: Duration::from_millis(latency_ms),
                clock_speed,
            };
            let tls = match (tls_cert, tls_key) {
                (Some(cert), Some(key)) => {
                    Some(delivery_gateway::demo::tls::config_from_files(&cert, &key).context("--tls-cert, --tls-key")?)
                }
                _ if tls_self_signed => {
                    let (tls, ca_pem) = delivery_gateway::demo::tls::self_signed().context("--tls-self-signed")?;
                    let path = std::env::temp_dir().join(format!("demo-upstreams-ca-{}.pem", std::process::id()));
                    std::fs::write(&path, ca_pem).with_context(|| format!("writing {}", path.display()))?;
                    print(&format!("demo CA certificate: {}\n", path.display()));
                    Some(tls)
                }
                _ => None,
            };
            let tls = tls.map(|tls| {
                if !tls_http1_only {
                    return tls;
                }
                let mut config = (*tls).clone();
                config.alpn_protocols = vec![b"http/1.1".to_vec()];
                std::sync::Arc::new(config)
            });
            runtime()?.block_on(async {
                let listener = TcpListener::bind(listen)
                    .await
                    .with_context(|| format!("binding {listen} (--listen)"))?;
                let scheme = if tls.is_some() { "https" } else { "http" };
                tracing::info!(%listen, scheme, seed = demo_config.seed, latency_ms, clock_speed, "demo upstreams listening");
                let demo = delivery_gateway::demo::Demo::new(demo_config);
                let served = match tls {
                    Some(tls) => {
                        delivery_gateway::demo::tls::serve_tls(listener, demo, tls, app::shutdown_signal()).await
                    }
                    None => delivery_gateway::demo::serve(listener, demo, app::shutdown_signal()).await,
                };
                served.context("serving the demo upstreams")
            })
        }
        Command::Schema => {
            print(&graphql::sdl());
            Ok(())
        }
        Command::Health { addr, path } => health(addr, &path),
        Command::Token { user } => {
            config.validate()?;
            anyhow::ensure!(user > 0, "--user must be a positive user id");
            let auth = Authenticator::new(&config.auth);
            anyhow::ensure!(
                auth.can_mint(),
                "auth.algorithm {:?} verifies with a public key: tokens come from your identity provider",
                config.auth.algorithm
            );
            print(&format!("{}\n", auth.mint(UserId(user))));
            Ok(())
        }
    }
}

/// `GET path` on `addr` over plain HTTP/1.0, within 2 s: Ok on a 200.
fn health(addr: SocketAddr, path: &str) -> anyhow::Result<()> {
    use std::io::{Read as _, Write as _};
    let timeout = Duration::from_secs(2);
    let mut stream =
        std::net::TcpStream::connect_timeout(&addr, timeout).with_context(|| format!("connecting to {addr}"))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).context("reading the status line")?;
    anyhow::ensure!(
        head.starts_with(b"HTTP/1.") && &head[9..12] == b"200",
        "{addr}{path} answered {:?}",
        String::from_utf8_lossy(&head)
    );
    Ok(())
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    runtime_with(0)
}

/// A multi-threaded runtime with `workers` threads, or tokio's default (one per
/// CPU, or `TOKIO_WORKER_THREADS`) for 0 (`server.worker_threads`).
fn runtime_with(workers: usize) -> anyhow::Result<tokio::runtime::Runtime> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if workers > 0 {
        builder.worker_threads(workers);
    }
    builder.enable_all().build().context("starting the async runtime")
}

#[allow(clippy::print_stdout)]
fn print(text: &str) {
    print!("{text}");
}
