//! Scenario 7 (issue 17, item 6): 10,000 open `orderUpdated` subscriptions in one
//! gateway process, L = 0 (`BENCH_SCENARIOS=subscriptions` runs it alone).
//!
//! # Shape
//!
//! 100 WebSocket connections (`graphql-transport-ws`) of 100 subscriptions each,
//! 1,000 placed orders, each followed by 10 subscribers. A connection signs in once
//! (`connection_init`) and a subscriber may follow only its token's orders, so a
//! connection is one user: 100 connections are 100 users with 10 orders each (all
//! ten subscribers of an order on its owner's connection). The gateway polls once
//! per (user, order), so this is 1,000 polls, as with 1,000 users of one order each;
//! that shape needs 1,000 connections (`BENCH_SUBS_CONNECTIONS=1000
//! BENCH_SUBS_PER_CONNECTION=10`).
//!
//! # Method
//!
//! 1. The soft open-files limit (`RLIMIT_NOFILE`) of the benchmark is raised, if it
//!    is below what the scenario needs, with `setrlimit` (to at most the hard
//!    limit): the demo and the gateway, started after it, inherit it.
//! 2. A demo (`demo-upstreams`, the default seed) and a gateway of their own; the
//!    gateway reads a configuration file that sets `subscriptions.poll_interval`,
//!    `max_per_connection`, `max_connections_per_user` and `max_open` to what the
//!    scenario needs (the report names the values).
//! 3. The orders are placed with call 18 straight on the demo (an open restaurant
//!    that delivers to the user's first address, computed from the demo's data
//!    functions as the tests do); tokens are minted as the tests and the `token`
//!    command mint them (`Authenticator::mint`, the gateway's configuration).
//! 4. The demo clock is run at 1,000 until every order is `ON_THE_WAY` (by
//!    reading `GET /_admin/clock`, no timer), then at `BENCH_SUBS_CLOCK_SPEED`
//!    (default 1): from then on each order's courier moves every 5 s of demo time,
//!    slower than the poll interval, so that each change makes an event of its own.
//! 5. The connections open and sign in; a second later they subscribe, order
//!    after order, evenly over one poll interval (an order's subscribers together,
//!    the connections' orders interleaved): the polls' phases then spread over the
//!    interval as those of subscribers arriving at random would, where subscribing
//!    all at once would make every poll fall in the same few milliseconds and every
//!    delay the same. Once every subscription has had its first event (the order's
//!    state when it subscribed), the steady window starts: for
//!    `BENCH_SUBS_WINDOW_SECONDS` the benchmark only receives events. The window
//!    must end before the first order is `DELIVERED` (which completes its
//!    subscriptions); the benchmark checks this before it starts.
//! 6. Around the window: the demo's `/_admin/stats` (the calls to call 17, and all
//!    calls), the CPU time of the three processes (`/proc/<pid>/stat`); after it,
//!    the gateway's peak RSS (`VmHWM`, since it started: setup included).
//!
//! # The delay from the upstream's change to the client's event
//!
//! A placed order changes at exact instants of the demo clock (placement + 20 s,
//! 60 s, then every 5 s until 180 s), and `tracking.updatedAt` is that instant, to
//! the millisecond: the demo computes the state from the clock at the time of the
//! call, so the new state is visible to a call 17 from that instant on. The demo
//! clock is mapped onto this process's monotonic clock after its last change of
//! speed: of 16 `GET /_admin/clock` readings, the one with the shortest round trip,
//! its demo time taken at the middle of that round trip (error: half a round trip,
//! well under a millisecond on loopback, plus the reading's millisecond
//! truncation divided by the speed). An event's delay is its arrival (read from the
//! socket, before parsing) minus the mapped instant of its `updatedAt`. The first
//! event of each subscription is the state at subscription, not a change, and is
//! not counted; nor are events outside the window. An event whose `updatedAt`
//! skips over a change of the schedule (two changes between two polls) counts the
//! skipped changes, which the report shows: with changes 5 s apart and a 2 s poll,
//! there should be none.
//!
//! # Knobs (environment variables)
//!
//! | variable | default (quick) | what |
//! |---|---|---|
//! | `BENCH_SUBS_CONNECTIONS` | 100 (10) | WebSocket connections, one user each |
//! | `BENCH_SUBS_PER_CONNECTION` | 100 (100) | subscriptions on each connection |
//! | `BENCH_SUBS_PER_ORDER` | 10 (10) | subscribers of each order (divides the above) |
//! | `BENCH_SUBS_WINDOW_SECONDS` | 60 (10) | length of the steady window |
//! | `BENCH_SUBS_POLL_MS` | 2000 (2000) | the gateway's `subscriptions.poll_interval` |
//! | `BENCH_SUBS_CLOCK_SPEED` | 1 (1) | the demo clock's speed during the window (0 < S ≤ 1,000; above 2.5 the courier moves more often than a 2 s poll) |
//!
//! The defaults took 64 s on two cores (2026-12-06), the window and about 4 s of
//! setup; `BENCH_QUICK=1` (1,000 subscriptions, a 10 s window) took 13 s.

mod clock;
mod delays;
mod files;
mod knobs;
mod orders;
mod socket;

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail, ensure};
use delivery_gateway::demo::data::{DELIVERED_AFTER_MS, ON_THE_WAY_AFTER_MS};
use tokio::{
    sync::{mpsc, watch},
    task::JoinSet,
};

use crate::{
    admin::DemoAdmin,
    cpu_times,
    procs::{self, Child},
    report::{FailedRun, Report, mib},
};

use self::{clock::DemoClock, delays::Delays, knobs::Knobs};

/// The route of call 17 in the demo's `/_admin/stats`.
const CALL_17: &str = "orders GET /orders/{orderId}";
/// Open files the benchmark allows for besides a file per connection and poll.
const SPARE_FILES: u64 = 1024;
/// When the first subscription is sent, after the connections start opening.
const CONNECT_LEAD: Duration = Duration::from_secs(1);
/// How long the subscriptions may take to open, all together.
const OPEN_TIMEOUT: Duration = Duration::from_secs(120);

/// Runs scenario 7 and adds its rows and notes to `report`. `quick`: the smoke
/// counts of `BENCH_QUICK`.
pub async fn run(report: &mut Report, quick: bool) -> anyhow::Result<()> {
    let knobs = Knobs::from_env(quick)?;
    // Before any child starts: they inherit it.
    let files = files::raise_open_files(knobs.connections as u64 + knobs.orders() as u64 + SPARE_FILES)?;
    delivery_gateway::tls::install_provider();
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .context("building the HTTP client")?;
    let processes = Processes::start(&knobs, &client).await?;
    let measured = measure(&knobs, &client, &processes).await?;
    drop(processes);
    add_rows(report, &knobs, &measured, files);
    Ok(())
}

/// The scenario's demo and gateway, killed when dropped.
struct Processes {
    /// The demo upstreams.
    demo: Child,
    /// The gateway.
    gateway: Child,
    /// The gateway's configuration file.
    config_file: PathBuf,
}

impl Processes {
    /// Starts a demo with the default seed and a gateway with the subscription
    /// limits of `knobs`, and waits until both answer.
    async fn start(knobs: &Knobs, client: &reqwest::Client) -> anyhow::Result<Processes> {
        let binary = Path::new(procs::BINARY);
        let seed = delivery_gateway::demo::data::DEFAULT_SEED.to_string();
        let demo_addr = procs::free_loopback_addr()?;
        let demo_listen = demo_addr.to_string();
        let mut demo = Child::spawn(
            "subscriptions-demo",
            binary,
            demo_addr,
            &["demo-upstreams", "--listen", &demo_listen, "--seed", &seed],
        )?;
        demo.wait_ready(client, "/_admin/stats")
            .await
            .map_err(anyhow::Error::msg)?;
        let config_file = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bench-subscriptions.toml");
        std::fs::write(&config_file, knobs.gateway_config())
            .with_context(|| format!("writing {}", config_file.display()))?;
        let gateway_addr = procs::free_loopback_addr()?;
        let args = [
            "serve".to_owned(),
            "--config".to_owned(),
            config_file.to_string_lossy().into_owned(),
            "--listen".to_owned(),
            gateway_addr.to_string(),
            "--upstreams".to_owned(),
            format!("http://{demo_addr}"),
        ];
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut gateway = Child::spawn("subscriptions-gateway", binary, gateway_addr, &args)?;
        gateway
            .wait_ready(client, "/health")
            .await
            .map_err(anyhow::Error::msg)?;
        eprintln!(
            "subscriptions: demo on {demo_addr}, gateway on {gateway_addr} (pid {}); {} subscriptions on {} \
             connections",
            gateway.pid(),
            knobs.subscriptions(),
            knobs.connections
        );
        Ok(Processes {
            demo,
            gateway,
            config_file,
        })
    }

    /// `http://<demo>`.
    fn demo_url(&self) -> String {
        format!("http://{}", self.demo.addr)
    }
}

/// What the scenario measured.
struct Measured {
    /// The window's length, in seconds.
    seconds: f64,
    /// Calls to call 17 in the window.
    polls: u64,
    /// Upstream calls of any kind in the window.
    all_calls: u64,
    /// CPU of the gateway, the demo and the load generator, in ms per second.
    cpu: [f64; 3],
    /// The gateway's peak RSS since it started, in KiB.
    peak_rss_kib: u64,
    /// From the first subscribe to the last subscription's first event.
    opened_in: Duration,
    /// The events' delays in the window.
    delays: Delays,
}

/// Places the orders, opens the subscriptions and measures the steady window.
async fn measure(knobs: &Knobs, client: &reqwest::Client, processes: &Processes) -> anyhow::Result<Measured> {
    let (ticks_per_second, _) = procs::clock_ticks_per_second();
    let demo_url = processes.demo_url();
    let users = orders::users(knobs.connections)?;
    let tokens = orders::tokens(&processes.config_file, &users)?;
    let placed = orders::place(client, &demo_url, &users, knobs.orders_per_user()).await?;
    let placed_at = || placed.iter().flatten().map(|o| o.placed_ms);
    let (first_placed, last_placed) = (placed_at().min(), placed_at().max());
    let (Some(first_placed), Some(last_placed)) = (first_placed, last_placed) else {
        bail!("no orders were placed");
    };
    eprintln!("subscriptions: {} orders placed", knobs.orders());

    // Every order on its way, then the clock at its speed, mapped onto ours.
    let clock = DemoClock::new(client.clone(), demo_url.clone());
    clock
        .fast_forward(last_placed + ON_THE_WAY_AFTER_MS, knobs.clock_speed)
        .await?;
    let map = clock.map().await?;
    let delivered = map.instant_of(first_placed + DELIVERED_AFTER_MS);

    // Subscribe: order after order, evenly over one poll interval from a moment
    // after the connections have opened, so that the polls' phases spread as
    // those of subscribers arriving at random would; an order's subscribers arrive
    // together, the connections' orders interleaved.
    let url = format!("ws://{}/graphql", processes.gateway.addr);
    let (ready_tx, mut ready_rx) = mpsc::channel(knobs.connections);
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    let opening = Instant::now() + CONNECT_LEAD;
    let spacing = knobs.poll_interval / knobs.orders() as u32;
    for (c, (token, orders)) in tokens.into_iter().zip(placed).enumerate() {
        let plan = socket::Plan {
            url: url.clone(),
            token,
            orders,
            per_order: knobs.per_order,
            first_at: opening + spacing * c as u32,
            every: spacing * knobs.connections as u32,
            map,
        };
        connections.spawn(socket::follow(plan, ready_tx.clone(), stop_rx.clone()));
    }
    drop(ready_tx);
    let deadline = tokio::time::Instant::from_std(opening + OPEN_TIMEOUT);
    for _ in 0..knobs.connections {
        match tokio::time::timeout_at(deadline, ready_rx.recv()).await {
            Ok(Some(Ok(()))) => {}
            Ok(Some(Err(message))) => bail!("a connection failed while subscribing: {message}"),
            Ok(None) => bail!("a connection ended while subscribing"),
            Err(_) => bail!("the subscriptions did not all open within {OPEN_TIMEOUT:?}"),
        }
    }
    let opened_in = opening.elapsed();
    eprintln!(
        "subscriptions: all {} open, the last first event {:.1} s after the first subscribe; steady window of {} s",
        knobs.subscriptions(),
        opened_in.as_secs_f64(),
        knobs.window.as_secs()
    );

    // The steady window.
    let admin = DemoAdmin::new(client.clone(), demo_url);
    let start = Instant::now();
    ensure!(
        start + knobs.window < delivered,
        "the window would outlast the orders: the first is delivered {:.0} s from now; shorten \
         BENCH_SUBS_WINDOW_SECONDS or lower BENCH_SUBS_CLOCK_SPEED",
        delivered.saturating_duration_since(start).as_secs_f64()
    );
    let pids = [processes.gateway.pid(), processes.demo.pid(), std::process::id()];
    let stats_before = admin.stats().await?;
    let cpu_before = cpu_times(pids)?;
    // The window's length is what is measured; nothing waits on it.
    tokio::time::sleep(knobs.window).await;
    let stats_after = admin.stats().await?;
    let cpu_after = cpu_times(pids)?;
    let end = Instant::now();
    let seconds = end.duration_since(start).as_secs_f64();
    let peak_rss_kib = procs::peak_rss_kib(processes.gateway.pid()).map_err(anyhow::Error::msg)?;
    stop_tx.send_replace(true);
    let mut recorded = Vec::new();
    while let Some(done) = connections.join_next().await {
        recorded.push(done.context("a connection task panicked")?);
    }
    eprintln!(
        "subscriptions: delay p99 in each whole 5 s of the window, ms: {}",
        delays::p99_by_slice(&recorded, start, end, Duration::from_secs(5))
    );
    let calls = |stats: &crate::admin::Stats| stats.calls.get(CALL_17).copied().unwrap_or(0);
    Ok(Measured {
        seconds,
        polls: calls(&stats_after).saturating_sub(calls(&stats_before)),
        all_calls: stats_after.total().saturating_sub(stats_before.total()),
        cpu: [0, 1, 2].map(|i| cpu_after[i].ms_since(cpu_before[i], ticks_per_second) / seconds),
        peak_rss_kib,
        opened_in,
        delays: Delays::of(&recorded, start, end),
    })
}

/// Adds the scenario's rows, notes and failures to `report`; `files` says what
/// became of the open-files limit.
fn add_rows(report: &mut Report, knobs: &Knobs, m: &Measured, files: String) {
    let shape = format!(
        "{} subscriptions: {} WebSocket connections × {}, {} users, {} orders × {} subscribers; L = 0 ms, poll \
         interval {} ms, demo clock ×{}, steady window {:.0} s",
        knobs.subscriptions(),
        knobs.connections,
        knobs.per_connection,
        knobs.connections,
        knobs.orders(),
        knobs.per_order,
        knobs.poll_interval.as_millis(),
        knobs.clock_speed,
        m.seconds
    );
    let interval_ms = knobs.poll_interval.as_millis();
    report.row(
        "orderUpdated",
        format!("{shape}: upstream calls to call 17"),
        format!(
            "**{:.1} calls/s** ({} in {:.1} s); every upstream call: {:.1}/s",
            m.polls as f64 / m.seconds,
            m.polls,
            m.seconds,
            m.all_calls as f64 / m.seconds
        ),
        &format!(
            "≤ orders / poll interval = {:.0} calls/s (issue 17)",
            knobs.call_bound()
        ),
    );
    report.row(
        "orderUpdated",
        format!("{shape}: delay from the upstream's change to the client's event"),
        m.delays.describe(),
        &format!("p99 ≤ poll interval + 100 ms = {} ms (issue 17)", interval_ms + 100),
    );
    let [gateway_cpu, demo_cpu, client_cpu] = m.cpu;
    report.row(
        "orderUpdated",
        format!("{shape}: gateway resources"),
        format!(
            "**gateway CPU {gateway_cpu:.0} ms/s** ({:.1} % of a core); **gateway peak RSS {}** (since it \
             started, opening included); every first event {:.1} s after the first subscribe (subscribing spread \
             over one poll interval); CPU of the demo {demo_cpu:.0}, of the load generator {client_cpu:.0} ms/s",
            gateway_cpu / 10.0,
            mib(m.peak_rss_kib),
            m.opened_in.as_secs_f64()
        ),
        "—",
    );
    report.notes.push(format!(
        "Subscriptions (scenario 7): {files} The gateway read `[subscriptions]` `poll_interval = \"{interval_ms}ms\"`, \
         `max_per_connection = {}`, `max_connections_per_user = 1`, `max_open = {}` (defaults 20, 5, 10,000). A \
         connection signs in as one user and follows that user's orders, so {} connections are {} users with {} \
         each. The delay is an event's arrival minus its `updatedAt` (the demo clock's exact instant of the \
         change) mapped onto the benchmark's clock; see `benches/gateway/subscriptions.rs`. CPU is `utime + stime` \
         over the window, per second of it.",
        knobs.per_connection,
        knobs.subscriptions(),
        knobs.connections,
        knobs.connections,
        match knobs.orders_per_user() {
            1 => "one order".to_owned(),
            n => format!("{n} orders"),
        }
    ));
    let failures = m.delays.failures();
    if !failures.is_empty() {
        report.failed_runs.push(FailedRun {
            run: format!("orderUpdated, {shape}"),
            failed: m.delays.failed,
            sent: knobs.subscriptions() as u64,
            messages: failures,
        });
    }
}
