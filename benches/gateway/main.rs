//! End-to-end benchmark of the gateway (issue 7): `cargo bench --bench gateway`.
//!
//! Starts the demo upstreams and the release gateway as child processes on free
//! loopback ports, drives the three acceptance operations (`HomeScreen`, `Nearby`,
//! `Restaurant`, from `schema/operations/`) through them, and prints markdown tables
//! for docs/performance.md. The scenarios, each selectable by its name in
//! `BENCH_SCENARIOS` (all of them by default):
//!
//! - `core` (1-6 below): one table;
//! - `curve` ([`curve`], issue 19): `HomeScreen` and `Nearby` at fixed open-loop
//!   rates and at saturation, CPU per query of the gateway and of the demo, p50 and
//!   p99 at each, and the ratio of each to the saturated figure;
//! - `transport` ([`transport`], issue 16): HTTP/2 against HTTP/1.1 to the
//!   upstreams over TLS (CPU per query, p50, peak RSS at c = 32 and 64), and the
//!   bytes and CPU per `HomeScreen` of each response encoding and level;
//! - `subscriptions` ([`subscriptions`], issue 17): 10,000 open `orderUpdated`
//!   subscriptions on a gateway of their own (its knobs are in that module).
//!
//! `curve`, `transport` and `subscriptions` start processes of their own (with the entity cache and
//! coalescing off whatever `BENCH_CACHE` and `BENCH_COALESCE` say), so each measures
//! the same run alone or after the others. `core`:
//!
//! 1. upstream calls per query (`/_admin/stats` after `/_admin/reset`, one query),
//!    `HomeScreen` with `first` = 5, 20, 50, 100, then `Nearby` and `Restaurant`;
//! 2. latency at concurrency 1 with every upstream at 20 ms, against the floor;
//! 3. `HomeScreen` at 20 ms upstreams: the maximum rate at concurrency 64, then the
//!    "no cliff" run, open loop at half that rate;
//! 4. at concurrency 32 and 0 ms upstreams: queries/s, latency, the gateway's CPU per
//!    query (`/proc/<pid>/stat`) and peak RSS (`VmHWM`); `HomeScreen` also at 64;
//! 5. `HomeScreen` at 64 once more on a gateway started for it alone, whose peak RSS
//!    holds nothing the earlier scenarios left behind (idle upstream connections,
//!    memory the allocator keeps);
//! 6. only with `BENCH_BASELINE`: the runs of 4 (each operation at c = 32, `HomeScreen`
//!    at 64) against an older build of the gateway and this one alternately, baseline
//!    then current, round after round (A B A B A B), each run on a gateway started for
//!    it alone (so the peak RSS at 64 is a fresh gateway's) and the same demo
//!    upstreams (always this build's); a second table gives the gateway CPU per query
//!    (and the peak RSS at 64) of every round, the median of each build and the ratio
//!    current / baseline. Interleaving spreads the drift of a shared machine over
//!    both builds alike.
//!
//! Every response is checked (status 200, `data`, no `errors`) once its last byte has
//! arrived, which is where its latency ends; a failed query marks
//! its row `FAILED`, is listed under the table, and makes the benchmark exit non-zero.
//! The load generator runs on one thread of this process, on the same machine as the
//! gateway and the demo, and the report says so.
//!
//! # Knobs (environment variables)
//!
//! | variable | default (quick) | what |
//! |---|---|---|
//! | `BENCH_QUICK=1` | off | a smoke run: the quick counts below, about a minute (9 s for `core` alone) |
//! | `BENCH_SCENARIOS` | `core,curve,transport,subscriptions` | comma-separated scenarios to run (see above) |
//! | `BENCH_ONLY` | `home,nearby,restaurant` | comma-separated operations to run (`curve` runs `home` and `nearby` of them) |
//! | `BENCH_LATENCY_REQUESTS` | 300 (10) | measured queries per operation at c = 1, L = 20 ms |
//! | `BENCH_LATENCY_WARMUP` | 20 (2) | warm-up queries before each of those |
//! | `BENCH_THROUGHPUT_REQUESTS` | 5000 (100) | measured queries per run at c = 32 / 64, L = 0 (also of `transport`'s HTTP/2 and HTTP/1.1 runs) |
//! | `BENCH_THROUGHPUT_WARMUP` | 300 (20) | warm-up queries before each of those |
//! | `BENCH_MAX_REQUESTS` | 2000 (100) | queries of the maximum-rate run (`HomeScreen`, c = 64, L = 20 ms) |
//! | `BENCH_OPEN_SECONDS` | 10 (2) | length of the open-loop run at half that rate |
//! | `BENCH_CACHE=1` | off | run the gateway with its entity cache (off by default: repeated identical queries would be answered from it, and the figures would no longer measure composition) |
//! | `BENCH_COALESCE=1` | off | run the gateway with single-flight coalescing (off by default: the benchmark's identical concurrent queries would share their upstream calls, which real users' different queries mostly cannot, and the CPU per query would no longer be one query's) |
//! | `BENCH_BASELINE` | unset | path to an older `delivery-gateway` binary (e.g. a release build of an old commit): adds scenario 6, this build against that one. It must accept the `GATEWAY_*` variables the benchmark sets (`log.level`, `cache.enabled`, `cache.coalesce`), `serve --listen --upstreams`, and this build's demo upstreams and tokens |
//! | `BENCH_BASELINE_ROUNDS` | 3 (3) | rounds of scenario 6; each round runs every measurement once on each build |
//! | `BENCH_CURVE_RATES` | `25,50,100,300` | `curve`: the open-loop rates, queries/s, run in this order and followed by saturation (closed loop, c = 32) |
//! | `BENCH_CURVE_SECONDS` | 15 (3) | `curve`: seconds measured at each rate and at saturation |
//! | `BENCH_CURVE_WARMUP` | 3 (1) | `curve`: seconds of warm-up at the same load before each of those |
//! | `BENCH_TRANSPORT_ROUNDS` | 2 (1) | `transport`: rounds of HTTP/2 then HTTP/1.1, each at c = 32 and 64 on gateways started for the run |
//! | `BENCH_COMPRESSION_LEVELS` | `gzip=1,3,6,9;br=0,1,4,6,11;zstd=1,3,6,19` (the gateway's defaults: `gzip=1;br=4;zstd=3`) | `transport`: the encodings and levels measured, after identity |
//! | `BENCH_COMPRESSION_SECONDS` | 5 (1) | `transport`: seconds of `HomeScreen` per encoding and level |
//! | `BENCH_COMPRESSION_CONCURRENCY` | 4 (4) | `transport`: concurrent clients of those runs |
//!
//! With the defaults `core` takes about two and a half minutes on two cores against
//! the gateway as first measured (a faster gateway finishes sooner), `curve` about
//! three (two operations, five points of 18 s), `transport` about seven (411 s on a
//! machine shared with other builds, most of it the eight runs of 5,300 queries),
//! `subscriptions` about a minute (64 s measured); `BENCH_BASELINE` adds about two
//! minutes at three rounds. Every query has a 30 s
//! timeout and every count is finite, so a run is bounded in time. Only loopback
//! addresses are used. Under `cargo test --benches` (no `--bench` argument) the
//! binary does nothing.

mod admin;
mod curve;
mod load;
mod procs;
mod report;
mod stack;
mod subscriptions;
mod transport;

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::ExitCode,
    time::Instant,
};

use anyhow::{Context as _, bail};
use serde_json::{Value, json};

use crate::{
    admin::DemoAdmin,
    load::{Operation, Target, closed_loop, open_loop},
    procs::{Child, CpuTime},
    report::{Comparison, Machine, Report, mib, percentiles},
    stack::Bench,
};

/// The acceptance operations, as the repository holds them.
const HOME: &str = include_str!("../../schema/operations/home.graphql");
/// See [`HOME`].
const HOME_VARIABLES: &str = include_str!("../../schema/operations/home.variables.json");
/// See [`HOME`].
const NEARBY: &str = include_str!("../../schema/operations/nearby.graphql");
/// See [`HOME`].
const RESTAURANT: &str = include_str!("../../schema/operations/restaurant.graphql");

/// The signed-in user of `HomeScreen`.
const USER: &str = "42";
/// The restaurant of `Restaurant`.
const RESTAURANT_ID: &str = "17";
/// Upstream latency of the latency and "no cliff" scenarios, in milliseconds.
const LATENCY_MS: u64 = 20;
/// The scenarios `BENCH_SCENARIOS` can name, in the order they run: `core` is
/// 1-6 of the module docs, the others have a module each.
const SCENARIOS: [&str; 4] = ["core", "curve", "transport", "subscriptions"];

/// The knobs, read once from the environment (see the module docs).
struct Settings {
    /// `BENCH_QUICK`.
    quick: bool,
    /// `BENCH_SCENARIOS`: the scenarios to run, names of [`SCENARIOS`].
    scenarios: Vec<String>,
    /// `BENCH_ONLY`: run `HomeScreen`.
    home: bool,
    /// `BENCH_ONLY`: run `Nearby`.
    nearby: bool,
    /// `BENCH_ONLY`: run `Restaurant`.
    restaurant: bool,
    /// `BENCH_LATENCY_REQUESTS`.
    latency_requests: u64,
    /// `BENCH_LATENCY_WARMUP`.
    latency_warmup: u64,
    /// `BENCH_THROUGHPUT_REQUESTS`.
    throughput_requests: u64,
    /// `BENCH_THROUGHPUT_WARMUP`.
    throughput_warmup: u64,
    /// `BENCH_MAX_REQUESTS`.
    max_requests: u64,
    /// `BENCH_OPEN_SECONDS`.
    open_seconds: f64,
    /// `BENCH_BASELINE`: the older binary to compare with, if any.
    baseline: Option<PathBuf>,
    /// `BENCH_BASELINE_ROUNDS`.
    baseline_rounds: u64,
}

impl Settings {
    /// Reads the `BENCH_*` variables; a malformed one is an error, not a default.
    fn from_env() -> anyhow::Result<Settings> {
        let quick = std::env::var("BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
        let count = |name: &str, full: u64, smoke: u64| -> anyhow::Result<u64> {
            match std::env::var(name) {
                Ok(v) => v.trim().parse().with_context(|| format!("{name}={v} is not a count")),
                Err(_) => Ok(if quick { smoke } else { full }),
            }
        };
        let only = std::env::var("BENCH_ONLY").unwrap_or_else(|_| "home,nearby,restaurant".to_owned());
        let only: Vec<String> = only
            .split(',')
            .map(|s| s.trim().to_lowercase())
            .filter(|s| !s.is_empty())
            .collect();
        if let Some(unknown) = only
            .iter()
            .find(|o| !["home", "nearby", "restaurant"].contains(&o.as_str()))
        {
            bail!("BENCH_ONLY: unknown operation `{unknown}` (home, nearby, restaurant)");
        }
        let scenarios: Vec<String> = std::env::var("BENCH_SCENARIOS")
            .unwrap_or_else(|_| SCENARIOS.join(","))
            .split(',')
            .map(|s| s.trim().to_lowercase())
            .filter(|s| !s.is_empty())
            .collect();
        if let Some(unknown) = scenarios.iter().find(|s| !SCENARIOS.contains(&s.as_str())) {
            bail!(
                "BENCH_SCENARIOS: unknown scenario `{unknown}` ({})",
                SCENARIOS.join(", ")
            );
        }
        curve::check_knobs(quick)?;
        transport::check_knobs(quick)?;
        let open_seconds = count("BENCH_OPEN_SECONDS", 10, 2)? as f64;
        let baseline = match std::env::var_os("BENCH_BASELINE") {
            Some(path) if !path.is_empty() => {
                let path = PathBuf::from(path);
                if !path.is_file() {
                    bail!("BENCH_BASELINE={}: no such file", path.display());
                }
                Some(path)
            }
            _ => None,
        };
        Ok(Settings {
            quick,
            scenarios,
            home: only.iter().any(|o| o == "home"),
            nearby: only.iter().any(|o| o == "nearby"),
            restaurant: only.iter().any(|o| o == "restaurant"),
            latency_requests: count("BENCH_LATENCY_REQUESTS", 300, 10)?.max(1),
            latency_warmup: count("BENCH_LATENCY_WARMUP", 20, 2)?,
            throughput_requests: count("BENCH_THROUGHPUT_REQUESTS", 5000, 100)?.max(1),
            throughput_warmup: count("BENCH_THROUGHPUT_WARMUP", 300, 20)?,
            max_requests: count("BENCH_MAX_REQUESTS", 2000, 100)?.max(1),
            open_seconds: open_seconds.max(1.0),
            baseline,
            baseline_rounds: count("BENCH_BASELINE_ROUNDS", 3, 3)?.max(1),
        })
    }

    /// Whether `BENCH_SCENARIOS` names `scenario`.
    fn runs(&self, scenario: &str) -> bool {
        self.scenarios.iter().any(|s| s == scenario)
    }

    /// The command line that reproduces this run.
    fn command(&self) -> String {
        let mut vars: Vec<String> = std::env::vars()
            .filter(|(k, _)| k.starts_with("BENCH_"))
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        vars.sort();
        vars.push("cargo bench --bench gateway".to_owned());
        vars.join(" ")
    }
}

/// One acceptance operation with what the report says about it.
struct Subject {
    /// What to send.
    operation: Operation,
    /// Floor and target at c = 1, L = 20 ms.
    latency_reference: &'static str,
    /// Floor and target of the calls per query.
    calls_reference: &'static str,
    /// Target at c = 32, L = 0.
    throughput_reference: &'static str,
}

fn main() -> ExitCode {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not, and must not
    // start a three-minute benchmark.
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("gateway benchmark: run it with `cargo bench --bench gateway`");
        return ExitCode::SUCCESS;
    }
    let started = Instant::now();
    let result = Settings::from_env().and_then(|settings| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the load generator's runtime")?
            .block_on(run(&settings))
    });
    match result {
        Ok(mut report) => {
            report
                .notes
                .push(format!("Run time: {:.0} s.", started.elapsed().as_secs_f64()));
            print_report(&report.render());
            if report.failed() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(error) => {
            eprintln!("gateway benchmark failed: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// The one thing this benchmark writes to standard output.
#[allow(clippy::print_stdout)]
fn print_report(text: &str) {
    println!("\n{text}");
}

/// Runs the scenarios `BENCH_SCENARIOS` names and returns the report. The children
/// are killed when this returns or unwinds.
async fn run(settings: &Settings) -> anyhow::Result<Report> {
    // reqwest's TLS has no default provider: the process installs the gateway's.
    delivery_gateway::tls::install_provider();
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .context("building the HTTP client")?;
    let mut report = Report::new(Machine::describe(), settings.command());
    let (ticks_per_second, ticks_read) = procs::clock_ticks_per_second();
    if !ticks_read {
        report
            .notes
            .push("`getconf CLK_TCK` could not be read; CPU figures assume 100 ticks/s.".to_owned());
    }
    let bench = Bench {
        client,
        ticks_per_second,
        quick: settings.quick,
    };
    if settings.runs("core") {
        run_core(settings, &bench, &mut report).await?;
    }
    if settings.runs("curve") || settings.runs("transport") {
        let token = procs::run_once(&["token", "--user", USER]).map_err(anyhow::Error::msg)?;
        let home = home_screen(&token)?;
        if settings.runs("curve") {
            let operations: Vec<Operation> = [(settings.home, &home), (settings.nearby, &nearby())]
                .into_iter()
                .filter(|(on, _)| *on)
                .map(|(_, operation)| operation.clone())
                .collect();
            curve::run(&bench, &mut report, &operations).await?;
        }
        if settings.runs("transport") {
            transport::run(settings, &bench, &mut report, &home).await?;
        }
    }
    if settings.runs("subscriptions") {
        subscriptions::run(&mut report, settings.quick).await?;
    }
    if settings.quick {
        report
            .notes
            .push("`BENCH_QUICK=1`: a smoke run, too few queries for the figures to mean much.".to_owned());
    }
    Ok(report)
}

/// `HomeScreen` with the variables of `schema/operations/`, signed in with `token`.
fn home_screen(token: &str) -> anyhow::Result<Operation> {
    let variables: Value = serde_json::from_str(HOME_VARIABLES).context("home.variables.json")?;
    Ok(Operation::new("HomeScreen", HOME, variables, Some(token)))
}

/// `Nearby` around Berlin's centre, 20 restaurants.
fn nearby() -> Operation {
    Operation::new(
        "Nearby",
        NEARBY,
        json!({"location": {"lat": 52.52, "lng": 13.405}, "first": 20}),
        None,
    )
}

/// Scenarios 1-6 (`core`): their processes, their rows of the main table, their notes.
async fn run_core(settings: &Settings, bench: &Bench, report: &mut Report) -> anyhow::Result<()> {
    let (client, ticks_per_second) = (&bench.client, bench.ticks_per_second);
    let demo_addr = procs::free_loopback_addr()?;
    let mut demo = Child::spawn(
        "demo",
        Path::new(procs::BINARY),
        demo_addr,
        &["demo-upstreams", "--listen", &demo_addr.to_string()],
    )?;
    demo.wait_ready(client, "/_admin/stats")
        .await
        .map_err(anyhow::Error::msg)?;
    let demo_url = format!("http://{demo_addr}");
    let (mut gateway, gateway_addr) = start_gateway(client, Build::current(), &demo_url).await?;
    eprintln!(
        "demo upstreams on {demo_addr}, gateway on {gateway_addr} (pid {})",
        gateway.pid()
    );

    let token = procs::run_once(&["token", "--user", USER]).map_err(anyhow::Error::msg)?;
    let admin = DemoAdmin::new(client.clone(), demo_url.clone());
    let target = Target::new(client.clone(), format!("http://{gateway_addr}/graphql"));
    let home_variables: Value = serde_json::from_str(HOME_VARIABLES).context("home.variables.json")?;
    let home_with_first = |first: u64| {
        let mut variables = home_variables.clone();
        variables["first"] = json!(first);
        Operation::new(format!("HomeScreen (first: {first})"), HOME, variables, Some(&token))
    };
    let home = Subject {
        operation: home_screen(&token)?,
        latency_reference: "floor 80 ms (4 waves × 20 ms); target p50 ≤ 81 ms, p99 ≤ 85 ms",
        calls_reference: "17",
        throughput_reference: "CPU ≤ 1.6 ms/query",
    };
    let nearby = Subject {
        operation: nearby(),
        latency_reference: "floor 60 ms (3 waves × 20 ms); target p50 ≤ 61 ms",
        calls_reference: "8",
        throughput_reference: "CPU ≤ 0.4 ms/query",
    };
    let restaurant = Subject {
        operation: Operation::new("Restaurant", RESTAURANT, json!({ "id": RESTAURANT_ID }), None),
        latency_reference: "floor 40 ms (2 waves × 20 ms), 20 ms with look-ahead (1 wave); target p50 ≤ 21 ms",
        calls_reference: "4",
        throughput_reference: "—",
    };
    let subjects: Vec<&Subject> = [
        (settings.home, &home),
        (settings.nearby, &nearby),
        (settings.restaurant, &restaurant),
    ]
    .into_iter()
    .filter_map(|(on, subject)| on.then_some(subject))
    .collect();

    // 1. Upstream calls per query, on a fresh gateway, before any load.
    if settings.home {
        for first in [5, 20, 50, 100] {
            let reference = if first <= 50 {
                "17"
            } else {
                "18 (menus batch at most 50)"
            };
            let calls = upstream_calls(&admin, &target, &home_with_first(first)).await?;
            report.calls_row(&format!("HomeScreen, first: {first}"), calls, reference);
        }
    }
    for subject in subjects.iter().filter(|s| s.operation.name != "HomeScreen") {
        let calls = upstream_calls(&admin, &target, &subject.operation).await?;
        report.calls_row(&subject.operation.name, calls, subject.calls_reference);
    }

    // 2. Latency at concurrency 1, every upstream at 20 ms.
    admin.reset().await?;
    admin.set_latency(LATENCY_MS).await?;
    for subject in &subjects {
        eprintln!(
            "{}: c = 1, L = {LATENCY_MS} ms, {} queries",
            subject.operation.name, settings.latency_requests
        );
        let warm = closed_loop(&target, &subject.operation, 1, settings.latency_warmup).await;
        let outcome = closed_loop(&target, &subject.operation, 1, settings.latency_requests)
            .await
            .after_warmup(warm);
        report.load_row(
            &subject.operation.name,
            format!(
                "latency, c = 1, L = {LATENCY_MS} ms, {} queries",
                settings.latency_requests
            ),
            &outcome,
            percentiles(&outcome),
            subject.latency_reference,
        );
    }

    // 3. HomeScreen's maximum rate at 20 ms upstreams, then half of it, open loop.
    if settings.home {
        let op = &home.operation;
        eprintln!(
            "HomeScreen: c = 64, L = {LATENCY_MS} ms, {} queries",
            settings.max_requests
        );
        let warm = closed_loop(&target, op, 64, settings.throughput_warmup).await;
        let max = closed_loop(&target, op, 64, settings.max_requests)
            .await
            .after_warmup(warm);
        let max_rate = max.rate();
        report.load_row(
            "HomeScreen",
            format!(
                "maximum rate, c = 64, L = {LATENCY_MS} ms, {} queries",
                settings.max_requests
            ),
            &max,
            format!("{max_rate:.0} queries/s; {}", percentiles(&max)),
            "—",
        );
        let rate = max_rate / 2.0;
        let requests = ((rate * settings.open_seconds).round() as u64).max(1);
        eprintln!("HomeScreen: open loop at {rate:.0} queries/s, L = {LATENCY_MS} ms, {requests} queries");
        let open = open_loop(&target, op, rate, requests).await;
        eprintln!("  tail: {}", report::tail(&open));
        report.load_row(
            "HomeScreen",
            format!(
                "no cliff: open loop at {rate:.0} queries/s (half the maximum), L = {LATENCY_MS} ms, {requests} queries"
            ),
            &open,
            format!("{}; achieved {:.0} queries/s", percentiles(&open), open.rate()),
            "p99 < 100 ms",
        );
    }

    // 4. Throughput, CPU and memory at 0 ms upstreams.
    admin.reset().await?;
    let mut runs: Vec<(&Subject, usize)> = subjects.iter().map(|s| (*s, 32)).collect();
    if settings.home {
        runs.push((&home, 64));
    }
    let mut peak_is_lifetime = false;
    for &(subject, concurrency) in &runs {
        peak_is_lifetime |= !procs::reset_peak_rss(gateway.pid());
        let run = Throughput {
            subject,
            concurrency,
            gateway: String::new(),
        };
        run.measure(report, &target, [gateway.pid(), demo.pid()], settings, ticks_per_second)
            .await?;
    }

    // 5. HomeScreen at 64 again, on a gateway that has served nothing else: its
    //    peak RSS without the idle connections and freed memory that the runs
    //    above left in the first gateway.
    if settings.home {
        drop(gateway);
        let (fresh, fresh_addr) = start_gateway(client, Build::current(), &demo_url).await?;
        gateway = fresh;
        let fresh_target = Target::new(client.clone(), format!("http://{fresh_addr}/graphql"));
        let run = Throughput {
            subject: &home,
            concurrency: 64,
            gateway: ", fresh gateway".to_owned(),
        };
        run.measure(
            report,
            &fresh_target,
            [gateway.pid(), demo.pid()],
            settings,
            ticks_per_second,
        )
        .await?;
    }

    // 6. The CPU runs of 4 against the baseline and this build, alternately.
    drop(gateway);
    if let Some(baseline) = &settings.baseline {
        let demo = (demo_url.as_str(), demo.pid());
        compare_with_baseline(report, client, demo, baseline, &runs, settings, ticks_per_second).await?;
    }

    report.notes.push(
        "In the main table, CPU is each process's `utime + stime` (`/proc/<pid>/stat`) over the measured queries \
         (warm-up excluded), divided by their number. Peak RSS is the gateway's `VmHWM` (`/proc/<pid>/status`)."
            .to_owned(),
    );
    report.notes.push(if peak_is_lifetime {
        "The kernel refused to reset the peak RSS (`/proc/<pid>/clear_refs`): each peak RSS figure is the gateway's \
         peak since it started."
            .to_owned()
    } else {
        "The peak RSS was reset (`5` into `/proc/<pid>/clear_refs`) before each throughput run's warm-up, so each \
         figure is that run's peak (the fresh gateway's: its peak since it started)."
            .to_owned()
    });
    drop(demo);
    Ok(())
}

/// Scenario 6: every run of `runs` (an operation and a concurrency) `rounds` times
/// on the `baseline` binary and on this build, alternately, each on a gateway
/// started for it alone, its upstreams the demo at `demo` (URL and pid). Each run
/// adds its row to the main table; each figure, round by round, goes to
/// [`Report::comparisons`].
async fn compare_with_baseline(
    report: &mut Report,
    client: &reqwest::Client,
    (demo_url, demo_pid): (&str, u32),
    baseline: &Path,
    runs: &[(&Subject, usize)],
    settings: &Settings,
    ticks_per_second: u64,
) -> anyhow::Result<()> {
    let rounds = settings.baseline_rounds;
    let builds = [
        Build {
            name: "baseline",
            label: "baseline",
            binary: baseline,
        },
        Build::current(),
    ];
    report.baseline = Some(format!(
        "Baseline: `{}`; current: this build (the commit above). {rounds} rounds of baseline then current, \
         each run on a gateway started for it alone (its peak RSS is its peak since it started), the same demo \
         upstreams (this build's) throughout; each run is a row marked `round` in the table above.",
        baseline.display()
    ));
    for &(subject, concurrency) in runs {
        // Per build (baseline, current): what each round measured.
        let mut figures: [Vec<Measured>; 2] = [Vec::new(), Vec::new()];
        for round in 1..=rounds {
            for (build, figures) in builds.iter().zip(&mut figures) {
                let (gateway, addr) = start_gateway(client, *build, demo_url).await?;
                let target = Target::new(client.clone(), format!("http://{addr}/graphql"));
                let run = Throughput {
                    subject,
                    concurrency,
                    gateway: format!(", fresh {} gateway, round {round}/{rounds}", build.label),
                };
                let measured = run
                    .measure(report, &target, [gateway.pid(), demo_pid], settings, ticks_per_second)
                    .await?;
                figures.push(measured);
            }
        }
        let [on_baseline, on_current] = &figures;
        let comparison = |figure, value: fn(&Measured) -> f64| Comparison {
            operation: subject.operation.name.clone(),
            scenario: format!("c = {concurrency}, L = 0 ms, {} queries", settings.throughput_requests),
            figure,
            baseline: on_baseline.iter().map(value).collect(),
            current: on_current.iter().map(value).collect(),
        };
        report
            .comparisons
            .push(comparison("gateway CPU, ms/query", |m| m.gateway_cpu_ms));
        if concurrency == 64 {
            report
                .comparisons
                .push(comparison("gateway peak RSS, MiB", |m| m.peak_rss_kib as f64 / 1024.0));
        }
    }
    Ok(())
}

/// A gateway binary to start.
#[derive(Clone, Copy)]
struct Build<'a> {
    /// The process's name in messages and in its log's (`bench-<name>.log`).
    name: &'static str,
    /// `current` or `baseline`, for the report.
    label: &'static str,
    /// The executable.
    binary: &'a Path,
}

impl Build<'static> {
    /// The binary `cargo bench` built beside this benchmark.
    fn current() -> Build<'static> {
        Build {
            name: "gateway",
            label: "current",
            binary: Path::new(procs::BINARY),
        }
    }
}

/// Starts a gateway from `build` on a free loopback port, its upstreams the demo at
/// `demo_url`, and waits until it answers `/health`; returns it and its address.
async fn start_gateway(
    client: &reqwest::Client,
    build: Build<'_>,
    demo_url: &str,
) -> anyhow::Result<(Child, SocketAddr)> {
    stack::start_gateway(client, build.name, build.binary, demo_url, &[]).await
}

/// One throughput run at L = 0: queries/s, latency, CPU per query of the three
/// processes and the gateway's peak RSS.
struct Throughput<'a> {
    /// What to send.
    subject: &'a Subject,
    /// Concurrent clients.
    concurrency: usize,
    /// What the scenario says of the gateway: empty for the one that served the
    /// earlier scenarios, `, fresh gateway` for one started for this run alone, ...
    gateway: String,
}

/// What a [`Throughput`] run measured, besides the row it adds.
struct Measured {
    /// The gateway's CPU per measured query, in milliseconds.
    gateway_cpu_ms: f64,
    /// The gateway's peak RSS (see [`procs::peak_rss_kib`]), in KiB.
    peak_rss_kib: u64,
}

impl Throughput<'_> {
    /// Runs the warm-up and the measured queries against `target`, whose gateway and
    /// demo are `pids`, adds the row to `report`, and returns the gateway's figures.
    async fn measure(
        &self,
        report: &mut Report,
        target: &Target,
        [gateway, demo]: [u32; 2],
        settings: &Settings,
        ticks_per_second: u64,
    ) -> anyhow::Result<Measured> {
        let (op, concurrency) = (&self.subject.operation, self.concurrency);
        let requests = settings.throughput_requests;
        let which = &self.gateway;
        eprintln!("{}: c = {concurrency}, L = 0 ms{which}, {requests} queries", op.name);
        let warm = closed_loop(target, op, concurrency, settings.throughput_warmup).await;
        let pids = [gateway, demo, std::process::id()];
        let before = cpu_times(pids)?;
        let outcome = closed_loop(target, op, concurrency, requests).await;
        let after = cpu_times(pids)?;
        let peak = procs::peak_rss_kib(gateway).map_err(anyhow::Error::msg)?;
        let outcome = outcome.after_warmup(warm);
        let queries = (outcome.ok + outcome.failed) as f64;
        let [gateway_cpu, demo_cpu, client_cpu] =
            [0, 1, 2].map(|i| after[i].ms_since(before[i], ticks_per_second) / queries);
        let reference = if concurrency == 64 {
            "peak RSS ≤ 64 MB"
        } else {
            self.subject.throughput_reference
        };
        report.load_row(
            &op.name,
            format!("throughput, c = {concurrency}, L = 0 ms{which}, {requests} queries"),
            &outcome,
            format!(
                "{:.0} queries/s; {}; **gateway CPU {gateway_cpu:.2} ms/query**; gateway peak RSS {} \
                 (CPU of the demo {demo_cpu:.2}, of the load generator {client_cpu:.2} ms/query)",
                outcome.rate(),
                percentiles(&outcome),
                mib(peak)
            ),
            reference,
        );
        Ok(Measured {
            gateway_cpu_ms: gateway_cpu,
            peak_rss_kib: peak,
        })
    }
}

/// CPU time charged so far to each of `pids`.
fn cpu_times<const N: usize>(pids: [u32; N]) -> anyhow::Result<[CpuTime; N]> {
    let mut times = [CpuTime::default(); N];
    for (time, pid) in times.iter_mut().zip(pids) {
        *time = CpuTime::of(pid).map_err(anyhow::Error::msg)?;
    }
    Ok(times)
}

/// Upstream calls `operation` makes: reset the demo's counters, send it once, read
/// them. `Err` with the message if the query failed (the count would mean nothing).
async fn upstream_calls(
    admin: &DemoAdmin,
    target: &Target,
    operation: &Operation,
) -> anyhow::Result<Result<u64, String>> {
    admin.reset().await?;
    if let Err(message) = target.query(operation).await.and_then(|answer| answer.check()) {
        return Ok(Err(message));
    }
    let stats = admin.stats().await?;
    eprintln!(
        "{}: {} upstream calls ({})",
        operation.name,
        stats.total(),
        stats.breakdown()
    );
    Ok(Ok(stats.total()))
}
