//! Scenario `curve` (issue 19): CPU per query across the load curve.
//!
//! Production does not run at saturation, where the `core` scenarios measure the
//! CPU per query: an autoscaler keeps replicas at half their capacity or less, and
//! at light load the runtime's and the HTTP stack's fixed cost per wake-up weighs
//! more. So each operation (`HomeScreen`, `Nearby`) runs at fixed open-loop rates
//! (`BENCH_CURVE_RATES`, by default 25, 50, 100 and 300 queries/s) and then at
//! saturation (closed loop, c = 32), each point `BENCH_CURVE_SECONDS` long after a
//! warm-up of `BENCH_CURVE_WARMUP` seconds at the same load. Per point: the
//! gateway's and the demo's CPU per query (`/proc/<pid>/stat` over the measured
//! window, from the first query's start to the last answer, divided by the
//! completed queries), p50 and p99 (open loop: from each query's scheduled start),
//! the rate achieved, and each figure's ratio to the saturated one, with issue 19's
//! targets for `HomeScreen` (at most 1.5 times at 50 queries/s, 1.25 at 300).
//!
//! The scenario starts its own demo upstreams (L = 0) and a gateway per operation,
//! entity cache and coalescing off whatever `BENCH_CACHE` and `BENCH_COALESCE` say,
//! so that it measures the same thing run alone (`BENCH_SCENARIOS=curve`) or after
//! the others.

use std::{fmt::Write as _, path::Path, time::Duration};

use anyhow::{Context as _, bail};

use crate::{
    load::{Operation, Outcome, Target, closed_loop_for, open_loop},
    procs,
    report::{self, Report, cell},
    stack::{self, Bench, CpuPerQuery, DemoTransport},
};

/// Concurrency of the saturated point (the `core` scenarios' c = 32).
const SATURATION_CONCURRENCY: usize = 32;

/// Issue 19's targets: at this rate, the gateway's CPU per `HomeScreen` at most this
/// many times the saturated figure.
const HOME_TARGETS: [(f64, f64); 2] = [(50.0, 1.5), (300.0, 1.25)];

/// The knobs of this scenario (see the benchmark's module docs).
struct CurveSettings {
    /// `BENCH_CURVE_RATES`: the open-loop rates, queries/s, in the order run.
    rates: Vec<f64>,
    /// `BENCH_CURVE_SECONDS`: length of each measured point.
    seconds: u64,
    /// `BENCH_CURVE_WARMUP`: length of the warm-up before each point.
    warmup_seconds: u64,
}

impl CurveSettings {
    /// Reads the `BENCH_CURVE_*` variables; a malformed one is an error.
    fn from_env(quick: bool) -> anyhow::Result<CurveSettings> {
        let rates = match std::env::var("BENCH_CURVE_RATES") {
            Ok(list) => list
                .split(',')
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .map(|r| match r.parse::<f64>() {
                    Ok(rate) if rate > 0.0 && rate.is_finite() => Ok(rate),
                    _ => bail!("BENCH_CURVE_RATES: `{r}` is not a positive rate (queries/s)"),
                })
                .collect::<anyhow::Result<Vec<f64>>>()?,
            Err(_) => vec![25.0, 50.0, 100.0, 300.0],
        };
        Ok(CurveSettings {
            rates,
            seconds: stack::count("BENCH_CURVE_SECONDS", 15, 3, quick)?.max(1),
            warmup_seconds: stack::count("BENCH_CURVE_WARMUP", 3, 1, quick)?,
        })
    }
}

/// The load of one point.
#[derive(Clone, Copy)]
enum Load {
    /// Open loop at this many queries/s.
    Rate(f64),
    /// Closed loop at [`SATURATION_CONCURRENCY`].
    Saturation,
}

/// One measured point of the curve.
struct Point {
    /// Its load.
    load: Load,
    /// What the load generator saw (warm-up counted as such).
    outcome: Outcome,
    /// CPU per query over the measured window.
    cpu: CpuPerQuery,
}

/// Runs the curve of each of `operations` and adds its section to `report`.
pub async fn run(bench: &Bench, report: &mut Report, operations: &[Operation]) -> anyhow::Result<()> {
    let settings = CurveSettings::from_env(bench.quick)?;
    let load_at_start = report::load_average();
    let demo = stack::start_demo(bench, "curve-demo", DemoTransport::Plain).await?;
    let mut table = String::new();
    for operation in operations {
        let (gateway, addr) = stack::start_gateway(
            &bench.client,
            "curve-gateway",
            Path::new(procs::BINARY),
            &demo.url,
            &stack::composition_only(),
        )
        .await?;
        let target = Target::new(bench.client.clone(), format!("http://{addr}/graphql"));
        let pids = [gateway.pid(), demo.child.pid()];
        let loads = settings
            .rates
            .iter()
            .map(|&rate| Load::Rate(rate))
            .chain([Load::Saturation]);
        let mut points = Vec::new();
        for load in loads {
            let point = measure(bench, &settings, &target, operation, pids, load).await?;
            points.push(point);
        }
        drop(gateway);
        rows(&mut table, report, &operation.name, &points);
    }
    drop(demo);

    let mut section = String::new();
    let _ = writeln!(
        section,
        "#### Load curve (scenario `curve`, issue 19)\n\n\
         Each operation at fixed rates, open loop (latency from each query's scheduled start), then at \
         saturation (closed loop, c = {SATURATION_CONCURRENCY}); each point {} s after {} s of warm-up at the \
         same load, on a gateway started for the operation (entity cache and coalescing off) and demo upstreams \
         started for the scenario (L = 0). CPU per query: each process's `utime + stime` from the first query's \
         start to the last answer, divided by the queries answered; the ratios are to the saturated point of the \
         same operation. Load average {load_at_start} at the start of the scenario, {} at its end.\n",
        settings.seconds,
        settings.warmup_seconds,
        report::load_average()
    );
    let _ = writeln!(
        section,
        "| Operation | load | queries | achieved | p50 | p99 | gateway CPU, ms/query | demo CPU, ms/query | \
         load generator CPU, ms/query | gateway / saturated | demo / saturated | target (issue 19) |"
    );
    let _ = writeln!(section, "|---|---|---|---|---|---|---|---|---|---|---|---|");
    section.push_str(&table);
    report.sections.push(section);
    Ok(())
}

/// Warms `target` up at `load`, then measures one point at it.
async fn measure(
    bench: &Bench,
    settings: &CurveSettings,
    target: &Target,
    operation: &Operation,
    pids: [u32; 2],
    load: Load,
) -> anyhow::Result<Point> {
    let (warmup, seconds) = (settings.warmup_seconds, settings.seconds);
    let (warm, (outcome, cpu)) = match load {
        Load::Rate(rate) => {
            let requests = |seconds: u64| (rate * seconds as f64).round() as u64;
            eprintln!(
                "{} (curve): open loop at {rate} queries/s, {warmup} s warm-up, {seconds} s measured",
                operation.name
            );
            let warm = open_loop(target, operation, rate, requests(warmup)).await;
            let measured = open_loop(target, operation, rate, requests(seconds).max(1));
            (warm, stack::with_cpu(bench, pids, measured).await?)
        }
        Load::Saturation => {
            eprintln!(
                "{} (curve): saturation, c = {SATURATION_CONCURRENCY}, {warmup} s warm-up, {seconds} s measured",
                operation.name
            );
            let c = SATURATION_CONCURRENCY;
            let warm = closed_loop_for(target, operation, c, Duration::from_secs(warmup)).await;
            let measured = closed_loop_for(target, operation, c, Duration::from_secs(seconds));
            (warm, stack::with_cpu(bench, pids, measured).await?)
        }
    };
    Ok(Point {
        load,
        outcome: outcome.after_warmup(warm),
        cpu,
    })
}

/// Adds the rows of `operation`'s `points` (the saturated one last) to `table`, and
/// any failed point to `report`'s failures.
fn rows(table: &mut String, report: &mut Report, operation: &str, points: &[Point]) {
    let saturated_point = points.iter().find(|p| matches!(p.load, Load::Saturation));
    let saturated = saturated_point.map(|p| p.cpu);
    let saturated_succeeded = saturated_point.is_some_and(|p| p.outcome.failed == 0);
    for point in points {
        let load = match point.load {
            Load::Rate(rate) => format!("{rate} queries/s"),
            Load::Saturation => format!("saturation, c = {SATURATION_CONCURRENCY}"),
        };
        let outcome = &point.outcome;
        let queries = report.queries_cell(format!("{operation}, load curve, {load}"), outcome);
        // A failed query costs what it cost until it failed: a point with measured
        // failures (its own or the saturated one's) says nothing of a target.
        let comparable = outcome.failed == 0 && saturated_succeeded;
        let ratio = |figure: fn(&CpuPerQuery) -> f64| {
            saturated.map_or("—".to_owned(), |s| format!("{:.2}", figure(&point.cpu) / figure(&s)))
        };
        let target = match (operation, point.load, saturated) {
            ("HomeScreen", Load::Rate(rate), Some(s)) => HOME_TARGETS
                .iter()
                .find(|(at, _)| (*at - rate).abs() < 1e-9)
                .map_or("—".to_owned(), |&(_, most)| {
                    let met = point.cpu.gateway / s.gateway <= most;
                    let verdict = match (comparable, met) {
                        (false, _) => "queries failed: not comparable",
                        (true, true) => "met",
                        (true, false) => "**not met**",
                    };
                    format!("≤ {most} ({verdict})")
                }),
            _ => "—".to_owned(),
        };
        let _ = writeln!(
            table,
            "| {} | {load} | {queries} | {:.1} queries/s | {} | {} | **{:.2}** | {:.2} | {:.2} | {} | {} | {target} |",
            cell(operation),
            outcome.rate(),
            report::ms(outcome.percentile(0.5)),
            report::ms(outcome.percentile(0.99)),
            point.cpu.gateway,
            point.cpu.demo,
            point.cpu.client,
            ratio(|c| c.gateway),
            ratio(|c| c.demo),
        );
    }
}

/// Checks that `BENCH_CURVE_*` parse, without running anything: the benchmark calls
/// it before its first scenario so that a typo fails at once, not after minutes.
pub fn check_knobs(quick: bool) -> anyhow::Result<()> {
    CurveSettings::from_env(quick)
        .map(drop)
        .context("the load curve's knobs")
}
