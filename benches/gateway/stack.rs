//! The processes a scenario runs against, started for it alone: the demo upstreams
//! (plain HTTP/1.1, or TLS with a certificate authority made for the run) and
//! gateways pointed at them, with what the benchmark needs of each (its pid for
//! `/proc`, its address). Also what every scenario shares: the client, the clock's
//! ticks, the CPU charged to the processes over a run.

use std::{future::Future, net::SocketAddr, path::PathBuf};

use anyhow::Context as _;
use delivery_gateway::config::TlsFiles;

use crate::{
    load::Outcome,
    procs::{self, Child, CpuTime},
};

/// What every scenario shares.
pub struct Bench {
    /// The benchmark's one HTTP client (plain HTTP; no decompression).
    pub client: reqwest::Client,
    /// Clock ticks per second of `/proc/<pid>/stat`.
    pub ticks_per_second: u64,
    /// `BENCH_QUICK`.
    pub quick: bool,
}

/// A certificate authority made for the run and a certificate it signed for
/// `127.0.0.1` and `localhost`, written as PEM files under the bench's temporary
/// directory: the demo serves with the certificate, the gateway trusts the CA
/// (`upstreams.tls.ca_file`).
pub struct TlsFilesForRun {
    /// The CA's certificate.
    pub ca_file: PathBuf,
    /// The demo's certificate.
    cert_file: PathBuf,
    /// Its key.
    key_file: PathBuf,
    /// A client that trusts the CA (HTTP/2 offered by ALPN): for the demo's
    /// readiness and to see which protocol it picks.
    pub client: reqwest::Client,
}

impl TlsFilesForRun {
    /// Makes the CA and the certificate and writes them.
    pub fn new() -> anyhow::Result<TlsFilesForRun> {
        let ca = delivery_gateway::tls::TestCa::new("gateway benchmark CA").context("making the benchmark's CA")?;
        let leaf = ca
            .server(&["127.0.0.1", "localhost"])
            .context("making the demo's certificate")?;
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        let write = |name: &str, pem: &str| -> anyhow::Result<PathBuf> {
            let path = dir.join(name);
            std::fs::write(&path, pem).with_context(|| format!("writing {}", path.display()))?;
            Ok(path)
        };
        let ca_file = write("bench-ca.pem", &ca.cert_pem)?;
        let files = TlsFiles {
            ca_file: Some(ca_file.clone()),
            ..TlsFiles::default()
        };
        let client = delivery_gateway::tls::client_builder(reqwest::Client::builder().no_proxy(), &files)
            .context("a client trusting the benchmark's CA")?
            .build()
            .context("building the TLS client")?;
        Ok(TlsFilesForRun {
            ca_file,
            cert_file: write("bench-demo-cert.pem", &leaf.cert_pem)?,
            key_file: write("bench-demo-key.pem", &leaf.key_pem)?,
            client,
        })
    }
}

/// How a demo serves.
pub enum DemoTransport<'a> {
    /// Plain HTTP/1.1, the demo's default.
    Plain,
    /// TLS with `files`' certificate; HTTP/2 or HTTP/1.1 by ALPN, or HTTP/1.1 alone
    /// (`--tls-http1-only`).
    Tls {
        /// The certificate, and the client that trusts it.
        files: &'a TlsFilesForRun,
        /// Offer only HTTP/1.1.
        http1_only: bool,
    },
}

/// A running demo.
pub struct Demo {
    /// The process.
    pub child: Child,
    /// `http://127.0.0.1:<port>` or `https://...`: the gateway's `--upstreams`.
    pub url: String,
    /// The HTTP version it answered the readiness probe with (HTTP/2 when it picked
    /// `h2` by ALPN).
    pub version: reqwest::Version,
}

/// Starts the demo upstreams (L = 0) on a free loopback port, serving as
/// `transport` says, and waits until its admin API answers.
pub async fn start_demo(bench: &Bench, name: &'static str, transport: DemoTransport<'_>) -> anyhow::Result<Demo> {
    let addr = procs::free_loopback_addr()?;
    let listen = addr.to_string();
    let mut args = vec!["demo-upstreams", "--listen", &listen];
    let (scheme, client) = match &transport {
        DemoTransport::Plain => ("http", &bench.client),
        DemoTransport::Tls { files, http1_only } => {
            let cert = files
                .cert_file
                .to_str()
                .context("the certificate's path is not UTF-8")?;
            let key = files.key_file.to_str().context("the key's path is not UTF-8")?;
            args.extend(["--tls-cert", cert, "--tls-key", key]);
            if *http1_only {
                args.push("--tls-http1-only");
            }
            ("https", &files.client)
        }
    };
    let mut child = Child::spawn(name, std::path::Path::new(procs::BINARY), addr, &args)?;
    let url = format!("{scheme}://{addr}");
    child
        .wait_ready_at(client, &format!("{url}/_admin/stats"))
        .await
        .map_err(anyhow::Error::msg)?;
    let version = client
        .get(format!("{url}/_admin/stats"))
        .send()
        .await
        .with_context(|| format!("probing {url}"))?
        .version();
    Ok(Demo { child, url, version })
}

/// Starts `binary` as a gateway named `name` on a free loopback port, its upstreams
/// at `upstreams`, with `env` on top of the benchmark's variables, and waits until
/// it answers `/health`; returns it and its address.
pub async fn start_gateway(
    client: &reqwest::Client,
    name: &'static str,
    binary: &std::path::Path,
    upstreams: &str,
    env: &[(&str, String)],
) -> anyhow::Result<(Child, SocketAddr)> {
    let addr = procs::free_loopback_addr()?;
    let mut gateway = Child::spawn_with_env(
        name,
        binary,
        addr,
        &["serve", "--listen", &addr.to_string(), "--upstreams", upstreams],
        env,
    )?;
    gateway
        .wait_ready(client, "/health")
        .await
        .map_err(anyhow::Error::msg)?;
    Ok((gateway, addr))
}

/// The gateway's environment for the figures of issue 19 and 16, whatever
/// `BENCH_CACHE` and `BENCH_COALESCE` say: entity cache and coalescing off, so that
/// every query makes its own seventeen calls.
pub fn composition_only() -> Vec<(&'static str, String)> {
    vec![
        ("GATEWAY_CACHE__ENABLED", "false".to_owned()),
        ("GATEWAY_CACHE__COALESCE", "false".to_owned()),
    ]
}

/// CPU charged per completed query to the gateway, the demo and the load generator
/// over one run, in milliseconds.
#[derive(Clone, Copy)]
pub struct CpuPerQuery {
    /// The gateway's.
    pub gateway: f64,
    /// The demo upstreams'.
    pub demo: f64,
    /// This process's (the load generator).
    pub client: f64,
}

/// Runs `run` and returns its outcome with the CPU that the gateway (`gateway`),
/// the demo (`demo`) and this process were charged from just before it started to
/// just after its last answer, divided by its measured queries (failures included).
pub async fn with_cpu(
    bench: &Bench,
    [gateway, demo]: [u32; 2],
    run: impl Future<Output = Outcome>,
) -> anyhow::Result<(Outcome, CpuPerQuery)> {
    let pids = [gateway, demo, std::process::id()];
    let before = crate::cpu_times(pids)?;
    let outcome = run.await;
    let after = crate::cpu_times(pids)?;
    let queries = (outcome.ok + outcome.failed).max(1) as f64;
    let per_query = |i: usize| CpuTime::ms_since(after[i], before[i], bench.ticks_per_second) / queries;
    let cpu = CpuPerQuery {
        gateway: per_query(0),
        demo: per_query(1),
        client: per_query(2),
    };
    Ok((outcome, cpu))
}

/// Answers the gateway at `addr` has counted with GraphQL errors since it started
/// (`gateway_graphql_requests_total` of its `/metrics` whose `outcome` is not
/// `ok`: `partial`, `error`, `rejected`), for answers the benchmark cannot read
/// (br, zstd).
pub async fn answers_with_errors(client: &reqwest::Client, addr: SocketAddr) -> anyhow::Result<u64> {
    let url = format!("http://{addr}/metrics");
    let response = client.get(&url).send().await.with_context(|| format!("GET {url}"))?;
    anyhow::ensure!(
        response.status().is_success(),
        "GET {url} answered {}",
        response.status()
    );
    let text = response.text().await.with_context(|| format!("reading {url}"))?;
    let mut counted = false;
    let mut not_ok = 0;
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("gateway_graphql_requests_total{") else {
            continue;
        };
        let (labels, value) = rest.rsplit_once("} ").context("a malformed line of /metrics")?;
        counted = true;
        if !labels.split(',').any(|label| label == "outcome=\"ok\"") {
            let value: f64 = value.trim().parse().context("a malformed value in /metrics")?;
            not_ok += value as u64;
        }
    }
    anyhow::ensure!(counted, "{url} has no gateway_graphql_requests_total");
    Ok(not_ok)
}

/// `HTTP/2` or `HTTP/1.1` (or what reqwest calls another version).
pub fn version_name(version: reqwest::Version) -> String {
    match version {
        reqwest::Version::HTTP_2 => "HTTP/2".to_owned(),
        reqwest::Version::HTTP_11 => "HTTP/1.1".to_owned(),
        other => format!("{other:?}"),
    }
}

/// A count from the environment variable `name`: `full` when unset, `smoke` when
/// unset under `BENCH_QUICK`; a malformed value is an error, not a default.
pub fn count(name: &str, full: u64, smoke: u64, quick: bool) -> anyhow::Result<u64> {
    match std::env::var(name) {
        Ok(v) => v.trim().parse().with_context(|| format!("{name}={v} is not a count")),
        Err(_) => Ok(if quick { smoke } else { full }),
    }
}
