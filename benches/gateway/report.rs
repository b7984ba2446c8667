//! The report the benchmark prints: markdown, ready to paste into
//! docs/performance.md, headed by the machine, date, commit and command; the main
//! table of the `core` scenarios, then a section per other scenario (each with its
//! own table), the notes and the failures.

use std::{fmt::Write as _, process::Command, time::Duration};

use crate::load::Outcome;

/// Where and when the figures were taken.
pub struct Machine {
    /// `nproc`.
    pub cores: String,
    /// `model name` of `/proc/cpuinfo`.
    pub cpu: String,
    /// Now, UTC.
    pub date: String,
    /// `git rev-parse --short HEAD`, marked when the tree has changes.
    pub commit: String,
    /// The 1-minute load average (`/proc/loadavg`) when the run started: above the
    /// core count, other work shared the machine and wall-clock figures suffer.
    pub load_at_start: String,
}

impl Machine {
    /// Reads the machine's description; a part that cannot be read says `unknown`.
    pub fn describe() -> Machine {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|info| {
                info.lines().find_map(|l| {
                    l.strip_prefix("model name")
                        .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
                })
            })
            .unwrap_or_else(|| "unknown".to_owned());
        let date = time::OffsetDateTime::now_utc()
            .format(time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute] UTC"
            ))
            .unwrap_or_else(|_| "unknown".to_owned());
        let mut commit = output("git", &["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "unknown".to_owned());
        if output("git", &["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty()) {
            commit.push_str(" (with uncommitted changes)");
        }
        Machine {
            cores: output("nproc", &[]).unwrap_or_else(|| "unknown".to_owned()),
            cpu,
            date,
            commit,
            load_at_start: load_average(),
        }
    }
}

/// The 1-minute load average, or `unknown`.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "unknown".to_owned())
}

/// A program's trimmed standard output, run in the crate's directory, if it succeeded.
fn output(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// One line of the table.
pub struct Row {
    /// The operation (and its variant, e.g. `first: 50`).
    pub operation: String,
    /// What was measured, how.
    pub scenario: String,
    /// The figures, or `FAILED ...`.
    pub result: String,
    /// The floor and the target from issue 7, for comparison (`—` for none).
    pub reference: String,
}

/// A failed run, for the list under the table.
pub struct FailedRun {
    /// `operation, scenario`.
    pub run: String,
    /// Failed queries.
    pub failed: u64,
    /// Queries sent.
    pub sent: u64,
    /// The first few messages.
    pub messages: Vec<String>,
}

/// One figure measured alternately on the baseline gateway and the current one
/// (`BENCH_BASELINE`), round by round.
pub struct Comparison {
    /// The operation.
    pub operation: String,
    /// What was measured, how.
    pub scenario: String,
    /// The figure and its unit, e.g. `gateway CPU, ms/query`.
    pub figure: &'static str,
    /// The baseline's value in each round.
    pub baseline: Vec<f64>,
    /// The current gateway's value in each round.
    pub current: Vec<f64>,
}

/// The whole report.
pub struct Report {
    /// The header.
    pub machine: Machine,
    /// The command that produced it.
    pub command: String,
    /// Lines of the table, in the order measured.
    pub rows: Vec<Row>,
    /// Runs with failed queries.
    pub failed_runs: Vec<FailedRun>,
    /// Remarks printed under the table.
    pub notes: Vec<String>,
    /// With `BENCH_BASELINE`: what the baseline is, heading [`Report::comparisons`].
    pub baseline: Option<String>,
    /// With `BENCH_BASELINE`: the figures of the baseline against the current gateway.
    pub comparisons: Vec<Comparison>,
    /// The other scenarios' sections (`curve`, `transport`, ...), markdown, each
    /// headed by its own `####` title, in the order run.
    pub sections: Vec<String>,
}

impl Report {
    /// An empty report for `machine`, produced by `command`.
    pub fn new(machine: Machine, command: String) -> Report {
        Report {
            machine,
            command,
            rows: Vec::new(),
            failed_runs: Vec::new(),
            notes: Vec::new(),
            baseline: None,
            comparisons: Vec::new(),
            sections: Vec::new(),
        }
    }

    /// Adds a row.
    pub fn row(&mut self, operation: &str, scenario: String, result: String, reference: &str) {
        self.rows.push(Row {
            operation: operation.to_owned(),
            scenario,
            result,
            reference: reference.to_owned(),
        });
    }

    /// Adds a row for an upstream-call count: the count, or `FAILED` with the query's
    /// error (and the query goes to the failure list).
    pub fn calls_row(&mut self, operation: &str, calls: Result<u64, String>, reference: &str) {
        let scenario = "upstream calls, 1 query, L = 0 ms".to_owned();
        let result = match calls {
            Ok(n) => n.to_string(),
            Err(message) => {
                self.failed_runs.push(FailedRun {
                    run: format!("{operation}, {scenario}"),
                    failed: 1,
                    sent: 1,
                    messages: vec![message],
                });
                "**FAILED**: the query failed".to_owned()
            }
        };
        self.row(operation, scenario, result, reference);
    }

    /// Adds a row for a load run: `figures` if every query succeeded, otherwise
    /// `FAILED` with the counts (and the run goes to the failure list).
    pub fn load_row(&mut self, operation: &str, scenario: String, outcome: &Outcome, figures: String, reference: &str) {
        let result = if self.check_run(format!("{operation}, {scenario}"), outcome) {
            figures
        } else {
            format!(
                "**FAILED**: {} of {} queries; of the rest: {figures}",
                outcome.all_failed(),
                outcome.sent()
            )
        };
        self.row(operation, scenario, result, reference);
    }

    /// Whether every query of `outcome` succeeded; if not, the run, named `run`,
    /// goes to the failure list (and the benchmark will exit non-zero).
    pub fn check_run(&mut self, run: String, outcome: &Outcome) -> bool {
        if outcome.all_failed() == 0 {
            return true;
        }
        self.failed_runs.push(FailedRun {
            run,
            failed: outcome.all_failed(),
            sent: outcome.sent(),
            messages: outcome.failures.clone(),
        });
        false
    }

    /// The queries cell of a scenario's own table: the measured queries, or
    /// `FAILED` with how many failed of how many sent, and how many of those in
    /// the warm-up (whose failures do not touch the measured figures). The run
    /// goes to the failure list under the name `run` if any query failed.
    pub fn queries_cell(&mut self, run: String, outcome: &Outcome) -> String {
        if self.check_run(run, outcome) {
            return (outcome.ok + outcome.failed).to_string();
        }
        format!(
            "**FAILED**: {} of {} ({} in the warm-up)",
            outcome.all_failed(),
            outcome.sent(),
            outcome.warmup_failed
        )
    }

    /// Whether any query failed.
    pub fn failed(&self) -> bool {
        !self.failed_runs.is_empty()
    }

    /// The report as markdown.
    pub fn render(&self) -> String {
        let m = &self.machine;
        let mut out = String::new();
        let _ = writeln!(out, "### Benchmark: `{}`\n", self.command);
        let _ = writeln!(
            out,
            "{} cores (`nproc`), {}; {}; commit `{}`; load average {} at the start, {} at the end \
             (other work on the machine disturbs the wall-clock figures, less the CPU per query). The load \
             generator, the gateway and the demo upstreams run as three processes on this same machine and share \
             its cores. The gateway's entity cache is {}; its coalescing of identical calls in flight is {}. \
             c = concurrent clients, L = latency of every upstream.\n",
            m.cores,
            m.cpu,
            m.date,
            m.commit,
            m.load_at_start,
            load_average(),
            if crate::procs::cache_enabled() {
                "on (`BENCH_CACHE=1`)"
            } else {
                "off"
            },
            if crate::procs::coalesce_enabled() {
                "on (`BENCH_COALESCE=1`)"
            } else {
                "off"
            }
        );
        if !self.rows.is_empty() {
            let _ = writeln!(out, "| Operation | Scenario | Result | Floor / target (issue 7) |");
            let _ = writeln!(out, "|---|---|---|---|");
        }
        for row in &self.rows {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                cell(&row.operation),
                cell(&row.scenario),
                cell(&row.result),
                cell(&row.reference)
            );
        }
        if let Some(baseline) = &self.baseline {
            let _ = writeln!(out, "\n#### Current against the baseline\n\n{baseline}\n");
            let _ = writeln!(
                out,
                "| Operation | Scenario | Figure | Baseline, per round | Current, per round | Median baseline | Median current | Current / baseline |"
            );
            let _ = writeln!(out, "|---|---|---|---|---|---|---|---|");
            for c in &self.comparisons {
                let (baseline, current) = (median(&c.baseline), median(&c.current));
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {} | {baseline:.2} | {current:.2} | **{:.3}** ({:+.1} %) |",
                    cell(&c.operation),
                    cell(&c.scenario),
                    c.figure,
                    rounds(&c.baseline),
                    rounds(&c.current),
                    current / baseline,
                    (current / baseline - 1.0) * 100.0
                );
            }
        }
        for section in &self.sections {
            let _ = writeln!(out, "\n{}", section.trim_end());
        }
        for note in &self.notes {
            let _ = writeln!(out, "\n{note}");
        }
        if !self.failed_runs.is_empty() {
            let _ = writeln!(out, "\n**Failed queries** (the first few messages of each run):");
            for run in &self.failed_runs {
                let _ = writeln!(out, "\n- {}: {} of {} failed", run.run, run.failed, run.sent);
                for message in &run.messages {
                    let _ = writeln!(out, "  - `{}`", message.replace('`', "'"));
                }
            }
        }
        out
    }
}

/// Text made safe for a table cell.
pub fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// The median of `values` (the mean of the middle two for an even count; NaN for none).
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// Each round's value, two decimals, in order.
fn rounds(values: &[f64]) -> String {
    values.iter().map(|v| format!("{v:.2}")).collect::<Vec<_>>().join(", ")
}

/// A duration in milliseconds, one decimal.
pub fn ms(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1000.0)
}

/// `p50 x ms, p99 y ms` of an outcome.
pub fn percentiles(outcome: &Outcome) -> String {
    format!(
        "p50 {}, p99 {}",
        ms(outcome.percentile(0.5)),
        ms(outcome.percentile(0.99))
    )
}

/// The tail of a run's latency, for the progress output: where a p99 comes from.
pub fn tail(outcome: &Outcome) -> String {
    [0.5, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999, 1.0]
        .iter()
        .map(|&q| format!("p{} {}", q * 100.0, ms(outcome.percentile(q))))
        .collect::<Vec<_>>()
        .join(", ")
}

/// KiB as MiB, one decimal.
pub fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}
