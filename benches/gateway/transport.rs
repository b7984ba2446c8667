//! Scenario `transport` (issue 16): what the transport costs per `HomeScreen`.
//!
//! 1. *HTTP/2 against HTTP/1.1 to the upstreams, over TLS.* Two demos serve TLS
//!    with a certificate signed by a CA made for the run: one offers `h2` and
//!    `http/1.1` by ALPN (and picks `h2`), one only `http/1.1`
//!    (`--tls-http1-only`). A gateway that trusts the CA (`upstreams.tls.ca_file`)
//!    is started for each run alone and sends `HomeScreen` at c = 32 and at c = 64
//!    (`BENCH_THROUGHPUT_REQUESTS` after `BENCH_THROUGHPUT_WARMUP`); per run: the
//!    gateway's and the demo's CPU per query, p50, p99 and the gateway's peak RSS
//!    since it started. The protocols alternate, `BENCH_TRANSPORT_ROUNDS` rounds,
//!    and a second table gives each figure's median per protocol.
//! 2. *Response compression.* `HomeScreen` at c = `BENCH_COMPRESSION_CONCURRENCY`
//!    (4) for `BENCH_COMPRESSION_SECONDS` with `Accept-Encoding` set to one
//!    encoding (`identity`, then each encoding at each level of
//!    `BENCH_COMPRESSION_LEVELS`), each on a gateway started for it with that level
//!    configured (`server.compression.<encoding>_level`): the body bytes per answer
//!    as they crossed the wire (the load generator's reqwest does not decompress)
//!    and the gateway's CPU per query, against identity's. Not at c = 32: the
//!    slowest levels (br 11, zstd 19: tens of milliseconds or more per answer)
//!    would hold both workers long enough for the other queries' upstream calls to
//!    time out, and answers with errors are shorter.
//!
//! Entity cache and coalescing are off throughout, whatever `BENCH_CACHE` and
//! `BENCH_COALESCE` say; every demo is started for the scenario, at L = 0.

use std::{fmt::Write as _, ops::RangeInclusive, path::Path, time::Duration};

use anyhow::{Context as _, bail};
use delivery_gateway::config::CompressionConfig;

use crate::{
    Settings,
    load::{Operation, Outcome, Target, closed_loop, closed_loop_for},
    procs,
    report::{self, Report, median},
    stack::{self, Bench, CpuPerQuery, Demo, DemoTransport, TlsFilesForRun},
};

/// Concurrency of the first protocol run (the `core` scenarios' c = 32).
const CONCURRENCY: usize = 32;
/// Concurrency of the protocol run whose peak RSS matters (issue 16: "at c = 64").
const PEAK_CONCURRENCY: usize = 64;
/// The encodings the gateway offers, with the variable of each one's level and the
/// levels the gateway accepts (`server.compression.*_level`).
const ENCODINGS: [(&str, &str, RangeInclusive<u32>); 3] = [
    ("gzip", "GATEWAY_SERVER__COMPRESSION__GZIP_LEVEL", 1..=9),
    ("br", "GATEWAY_SERVER__COMPRESSION__BR_LEVEL", 0..=11),
    ("zstd", "GATEWAY_SERVER__COMPRESSION__ZSTD_LEVEL", 1..=19),
];
/// `BENCH_COMPRESSION_LEVELS` by default: the levels of docs/production.md's table
/// (each encoding's fastest, the gateway's defaults, tower-http's and the slowest).
const DEFAULT_LEVELS: &str = "gzip=1,3,6,9;br=0,1,4,6,11;zstd=1,3,6,19";

/// The knobs of this scenario (see the benchmark's module docs).
struct TransportSettings {
    /// `BENCH_TRANSPORT_ROUNDS`.
    rounds: u64,
    /// `BENCH_COMPRESSION_SECONDS`.
    compression_seconds: u64,
    /// `BENCH_COMPRESSION_CONCURRENCY`.
    compression_concurrency: usize,
    /// `BENCH_COMPRESSION_LEVELS`: (encoding, level), in the order run.
    levels: Vec<(&'static str, u32)>,
}

impl TransportSettings {
    /// Reads the variables; a malformed one is an error. Under `BENCH_QUICK` the
    /// levels are the gateway's defaults only.
    fn from_env(quick: bool) -> anyhow::Result<TransportSettings> {
        let defaults = CompressionConfig::default();
        let levels = match std::env::var("BENCH_COMPRESSION_LEVELS") {
            Ok(text) => parse_levels(&text)?,
            Err(_) if quick => vec![
                ("gzip", defaults.gzip_level),
                ("br", defaults.br_level),
                ("zstd", defaults.zstd_level),
            ],
            Err(_) => parse_levels(DEFAULT_LEVELS)?,
        };
        Ok(TransportSettings {
            rounds: stack::count("BENCH_TRANSPORT_ROUNDS", 2, 1, quick)?.max(1),
            compression_seconds: stack::count("BENCH_COMPRESSION_SECONDS", 5, 1, quick)?.max(1),
            compression_concurrency: stack::count("BENCH_COMPRESSION_CONCURRENCY", 4, 4, quick)?.max(1) as usize,
            levels,
        })
    }
}

/// `gzip=1,6;br=4;zstd=3` as (encoding, level) pairs, in that order.
fn parse_levels(text: &str) -> anyhow::Result<Vec<(&'static str, u32)>> {
    let mut levels = Vec::new();
    for group in text.split(';').map(str::trim).filter(|g| !g.is_empty()) {
        let Some((name, list)) = group.split_once('=') else {
            bail!("BENCH_COMPRESSION_LEVELS: `{group}` is not `<encoding>=<level>,...`");
        };
        let Some((encoding, _, range)) = ENCODINGS.iter().find(|(e, ..)| *e == name.trim()) else {
            bail!("BENCH_COMPRESSION_LEVELS: unknown encoding `{name}` (gzip, br, zstd)");
        };
        for level in list.split(',').map(str::trim).filter(|l| !l.is_empty()) {
            match level.parse() {
                Ok(level) if range.contains(&level) => levels.push((*encoding, level)),
                _ => bail!(
                    "BENCH_COMPRESSION_LEVELS: `{level}` is not a {encoding} level ({} to {})",
                    range.start(),
                    range.end()
                ),
            }
        }
    }
    Ok(levels)
}

/// Checks that the scenario's knobs parse, without running anything.
pub fn check_knobs(quick: bool) -> anyhow::Result<()> {
    TransportSettings::from_env(quick)
        .map(drop)
        .context("the transport scenario's knobs")
}

/// Runs both parts and adds their sections to `report`.
pub async fn run(settings: &Settings, bench: &Bench, report: &mut Report, home: &Operation) -> anyhow::Result<()> {
    let own = TransportSettings::from_env(bench.quick)?;
    protocols(settings, &own, bench, report, home).await?;
    compression(&own, bench, report, home).await
}

/// What one protocol run measured.
struct ProtocolRun {
    /// `HTTP/2` or `HTTP/1.1`: what the demo picked for a client offering both.
    protocol: String,
    /// Concurrent clients.
    concurrency: usize,
    /// CPU per query.
    cpu: CpuPerQuery,
    /// p50 in milliseconds.
    p50_ms: f64,
    /// The gateway's peak RSS since it started, in KiB.
    peak_rss_kib: u64,
}

/// One figure of a [`ProtocolRun`], for the table of medians.
type Figure = fn(&ProtocolRun) -> f64;

/// Part 1: HTTP/2 against HTTP/1.1 over TLS.
async fn protocols(
    settings: &Settings,
    own: &TransportSettings,
    bench: &Bench,
    report: &mut Report,
    home: &Operation,
) -> anyhow::Result<()> {
    let load_at_start = report::load_average();
    let tls = TlsFilesForRun::new()?;
    let h2 = stack::start_demo(
        bench,
        "tls-demo-h2",
        DemoTransport::Tls {
            files: &tls,
            http1_only: false,
        },
    )
    .await?;
    let h1 = stack::start_demo(
        bench,
        "tls-demo-h1",
        DemoTransport::Tls {
            files: &tls,
            http1_only: true,
        },
    )
    .await?;
    // Each demo must speak what it is there to measure, or the medians mix them.
    for (demo, expected) in [(&h2, reqwest::Version::HTTP_2), (&h1, reqwest::Version::HTTP_11)] {
        anyhow::ensure!(
            demo.version == expected,
            "the demo at {} answered a client offering h2 and http/1.1 in {}, not {}",
            demo.url,
            stack::version_name(demo.version),
            stack::version_name(expected)
        );
    }
    let ca_file = tls.ca_file.to_str().context("the CA's path is not UTF-8")?.to_owned();
    let mut env = stack::composition_only();
    env.push(("GATEWAY_UPSTREAMS__TLS__CA_FILE", ca_file));

    let (requests, warmup) = (settings.throughput_requests, settings.throughput_warmup);
    let mut table = String::new();
    let mut runs = Vec::new();
    for round in 1..=own.rounds {
        for demo in [&h2, &h1] {
            for concurrency in [CONCURRENCY, PEAK_CONCURRENCY] {
                let (outcome, measured) =
                    protocol_run(bench, demo, &env, home, concurrency, (requests, warmup)).await?;
                let name = format!(
                    "HomeScreen, upstreams over TLS, {}, c = {concurrency}, round {round}",
                    measured.protocol
                );
                let queries = report.queries_cell(name, &outcome);
                let _ = writeln!(
                    table,
                    "| {} | {round}/{} | {concurrency} | {queries} | {:.0} | {} | {} | **{:.2}** | {:.2} | {} |",
                    measured.protocol,
                    own.rounds,
                    outcome.rate(),
                    report::ms(outcome.percentile(0.5)),
                    report::ms(outcome.percentile(0.99)),
                    measured.cpu.gateway,
                    measured.cpu.demo,
                    report::mib(measured.peak_rss_kib),
                );
                runs.push(measured);
            }
        }
    }
    let (h2_name, h1_name) = (stack::version_name(h2.version), stack::version_name(h1.version));
    drop((h2, h1));

    let mut section = String::new();
    let _ = writeln!(
        section,
        "#### Upstreams over TLS: HTTP/2 against HTTP/1.1 (scenario `transport`, issue 16)\n\n\
         `HomeScreen` through a gateway whose upstreams are the demo over TLS (a CA made for the run, trusted by \
         `upstreams.tls.ca_file`); one demo offers `h2` and `http/1.1` by ALPN (it answered a client offering both \
         in {h2_name}), the other only `http/1.1` (`--tls-http1-only`; it answered in {h1_name}). Each run on a \
         gateway started for it alone, {requests} queries after {warmup} of warm-up, entity cache and coalescing \
         off, L = 0; peak RSS is the gateway's since it started. Load average {load_at_start} at the start, {} at \
         the end.\n",
        report::load_average()
    );
    let _ = writeln!(
        section,
        "| upstream protocol | round | c | queries | queries/s | p50 | p99 | gateway CPU, ms/query | demo CPU, \
         ms/query | gateway peak RSS |"
    );
    let _ = writeln!(section, "|---|---|---|---|---|---|---|---|---|---|");
    section.push_str(&table);
    let _ = writeln!(
        section,
        "\nMedians over the rounds:\n\n\
         | figure | c | {h2_name} | {h1_name} | {h1_name} / {h2_name} |\n|---|---|---|---|---|"
    );
    let figures: [(&str, Figure); 4] = [
        ("gateway CPU, ms/query", |r| r.cpu.gateway),
        ("demo CPU, ms/query", |r| r.cpu.demo),
        ("p50, ms", |r| r.p50_ms),
        ("gateway peak RSS, MiB", |r| r.peak_rss_kib as f64 / 1024.0),
    ];
    for concurrency in [CONCURRENCY, PEAK_CONCURRENCY] {
        for (figure, value) in figures {
            let of = |protocol: &str| {
                let values: Vec<f64> = runs
                    .iter()
                    .filter(|r| r.protocol == protocol && r.concurrency == concurrency)
                    .map(value)
                    .collect();
                median(&values)
            };
            let (on_h2, on_h1) = (of(&h2_name), of(&h1_name));
            let _ = writeln!(
                section,
                "| {figure} | {concurrency} | {on_h2:.2} | {on_h1:.2} | {:.2} |",
                on_h1 / on_h2
            );
        }
    }
    report.sections.push(section);
    Ok(())
}

/// One protocol run: a gateway started for it, pointed at `demo`, `HomeScreen` at
/// `concurrency`, (`requests`, `warmup`) queries.
async fn protocol_run(
    bench: &Bench,
    demo: &Demo,
    env: &[(&str, String)],
    home: &Operation,
    concurrency: usize,
    (requests, warmup): (u64, u64),
) -> anyhow::Result<(Outcome, ProtocolRun)> {
    let protocol = stack::version_name(demo.version);
    eprintln!("HomeScreen (transport): upstreams over TLS in {protocol}, c = {concurrency}, {requests} queries");
    let (gateway, addr) =
        stack::start_gateway(&bench.client, "tls-gateway", Path::new(procs::BINARY), &demo.url, env).await?;
    let target = Target::new(bench.client.clone(), format!("http://{addr}/graphql"));
    let warm = closed_loop(&target, home, concurrency, warmup).await;
    let measured = closed_loop(&target, home, concurrency, requests);
    let (outcome, cpu) = stack::with_cpu(bench, [gateway.pid(), demo.child.pid()], measured).await?;
    let peak_rss_kib = procs::peak_rss_kib(gateway.pid()).map_err(anyhow::Error::msg)?;
    let outcome = outcome.after_warmup(warm);
    let p50_ms = outcome.percentile(0.5).as_secs_f64() * 1000.0;
    Ok((
        outcome,
        ProtocolRun {
            protocol,
            concurrency,
            cpu,
            p50_ms,
            peak_rss_kib,
        },
    ))
}

/// Part 2: bytes and gateway CPU per `HomeScreen` for each encoding and level.
async fn compression(
    own: &TransportSettings,
    bench: &Bench,
    report: &mut Report,
    home: &Operation,
) -> anyhow::Result<()> {
    let load_at_start = report::load_average();
    let defaults = CompressionConfig::default();
    let default_level = |encoding: &str| match encoding {
        "gzip" => defaults.gzip_level,
        "br" => defaults.br_level,
        _ => defaults.zstd_level,
    };
    let demo = stack::start_demo(bench, "compression-demo", DemoTransport::Plain).await?;
    let (seconds, concurrency) = (own.compression_seconds, own.compression_concurrency);
    let runs = [("identity", None)]
        .into_iter()
        .chain(own.levels.iter().map(|&(encoding, level)| (encoding, Some(level))));
    let mut identity: Option<(f64, f64)> = None;
    let mut table = String::new();
    for (encoding, level) in runs {
        let mut env = stack::composition_only();
        if let Some(level) = level {
            let key = ENCODINGS.iter().find(|(e, ..)| *e == encoding).map(|(_, key, _)| *key);
            env.extend(key.map(|key| (key, level.to_string())));
        }
        let level_text = match level {
            Some(level) if level == default_level(encoding) => format!("{level} (default)"),
            Some(level) => level.to_string(),
            None => "—".to_owned(),
        };
        eprintln!(
            "HomeScreen (transport): Accept-Encoding: {encoding}, level {level_text}, {seconds} s at c = {concurrency}"
        );
        let (gateway, addr) = stack::start_gateway(
            &bench.client,
            "compression-gateway",
            Path::new(procs::BINARY),
            &demo.url,
            &env,
        )
        .await?;
        let target = Target::new(bench.client.clone(), format!("http://{addr}/graphql"));
        let operation = home.clone().accepting(encoding);
        // One query per client: every connection open, the document cache warm.
        let warm = closed_loop(&target, &operation, concurrency, concurrency as u64).await;
        let measured = closed_loop_for(&target, &operation, concurrency, Duration::from_secs(seconds));
        let (outcome, cpu) = stack::with_cpu(bench, [gateway.pid(), demo.child.pid()], measured).await?;
        let mut outcome = outcome.after_warmup(warm);
        // Answers the load generator could not read (br, zstd) but the gateway
        // counted as carrying errors are failures too.
        let with_errors = stack::answers_with_errors(&bench.client, addr)
            .await?
            .saturating_sub(outcome.all_failed());
        drop(gateway);
        if with_errors > 0 {
            let message =
                format!("{with_errors} answer(s) in {encoding} that the gateway counted with errors (its `/metrics`)");
            outcome.failed_elsewhere(with_errors, message);
        }
        let queries = report.queries_cell(
            format!("HomeScreen, Accept-Encoding: {encoding}, level {level_text}"),
            &outcome,
        );
        let bytes = outcome.mean_body_bytes();
        let (identity_bytes, identity_cpu) = *identity.get_or_insert((bytes, cpu.gateway));
        let _ = writeln!(
            table,
            "| {encoding} | {level_text} | {queries} | {bytes:.0} | {:.1} % | **{:.2}** | {:+.2} | {:.0} | {} |",
            bytes / identity_bytes * 100.0,
            cpu.gateway,
            cpu.gateway - identity_cpu,
            outcome.rate(),
            report::ms(outcome.percentile(0.5)),
        );
    }
    drop(demo);

    let mut section = String::new();
    let _ = writeln!(
        section,
        "#### Response compression (scenario `transport`, issue 16)\n\n\
         `HomeScreen` at c = {concurrency} for {seconds} s per row (after one query per client), `Accept-Encoding` \
         naming one encoding, each row on a gateway started for it with that level \
         (`server.compression.<encoding>_level`), entity cache and coalescing off, L = 0. Bytes are the mean body \
         of an answer as it crossed the wire (headers excluded; the load generator does not decompress). Identity \
         and gzip answers are checked in full (gzip inflated), zstd ones for zstd's frame magic, br ones for a \
         body. Load average {load_at_start} at the start, {} at the end.\n",
        report::load_average()
    );
    let _ = writeln!(
        section,
        "| encoding | level | queries | bytes per answer | of identity | gateway CPU, ms/query | over identity, ms \
         | queries/s | p50 |"
    );
    let _ = writeln!(section, "|---|---|---|---|---|---|---|---|---|");
    section.push_str(&table);
    report.sections.push(section);
    Ok(())
}
