//! The processes under test: the demo upstreams and the gateway, each a child process
//! of the release binary on a free loopback port, and what `/proc` says about them.
//!
//! A [`Child`] kills its process when dropped, so a panicking benchmark leaves nothing
//! behind. Readiness is found by polling an HTTP endpoint a bounded number of times;
//! nothing here sleeps to "give a process time".

use std::{
    fs::File,
    net::{Ipv4Addr, SocketAddr, TcpListener},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Duration,
};

/// The release binary that `cargo bench` built beside this target.
pub const BINARY: &str = env!("CARGO_BIN_EXE_delivery-gateway");

/// How often, and how many times, readiness is polled (at most 20 s in all).
const READY_ATTEMPTS: u32 = 400;
/// The pause between two readiness polls.
const READY_INTERVAL: Duration = Duration::from_millis(50);

/// Proxy variables that would send the children's loopback traffic elsewhere.
const PROXY_VARS: [&str; 6] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// A child process that is killed (and reaped) when this value is dropped.
pub struct Child {
    /// What it is, for messages.
    name: &'static str,
    /// The process.
    process: std::process::Child,
    /// Where its standard error goes.
    pub log: PathBuf,
    /// The loopback address it listens on.
    pub addr: SocketAddr,
}

/// Whether the gateway runs with its entity cache (`BENCH_CACHE=1`); off by default.
pub fn cache_enabled() -> bool {
    std::env::var("BENCH_CACHE").is_ok_and(|v| v == "1")
}

/// Whether the gateway coalesces identical upstream calls in flight
/// (`BENCH_COALESCE=1`); off by default.
pub fn coalesce_enabled() -> bool {
    std::env::var("BENCH_COALESCE").is_ok_and(|v| v == "1")
}

impl Child {
    /// Starts `binary` (usually [`BINARY`]) with `args`, logging at `warn` to
    /// `bench-<name>.log` under the bench's temporary directory. `addr` is the
    /// address passed in `args`.
    pub fn spawn(name: &'static str, binary: &Path, addr: SocketAddr, args: &[&str]) -> std::io::Result<Child> {
        Child::spawn_with_env(name, binary, addr, args, &[])
    }

    /// [`Child::spawn`] with `env` set after the benchmark's own variables (so a
    /// `GATEWAY_*` given here overrides the cache and coalescing settings).
    pub fn spawn_with_env(
        name: &'static str,
        binary: &Path,
        addr: SocketAddr,
        args: &[&str],
        env: &[(&str, String)],
    ) -> std::io::Result<Child> {
        let log = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("bench-{name}.log"));
        let mut command = Command::new(binary);
        command
            .args(args)
            .env("GATEWAY_LOG__LEVEL", "warn")
            // The entity cache would answer repeated queries without the upstreams,
            // and coalescing would let the benchmark's identical concurrent queries
            // (one user, one page) share their calls (measured with `wrk -c32`: 2.8
            // calls per HomeScreen instead of 17): both off unless asked for, so that every query makes its own
            // calls and the figures measure composition.
            .env("GATEWAY_CACHE__ENABLED", cache_enabled().to_string())
            .env("GATEWAY_CACHE__COALESCE", coalesce_enabled().to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&log)?);
        for var in PROXY_VARS {
            command.env_remove(var);
        }
        for (key, value) in env {
            command.env(key, value);
        }
        let process = command
            .spawn()
            .map_err(|e| std::io::Error::new(e.kind(), format!("starting {}: {e}", binary.display())))?;
        Ok(Child {
            name,
            process,
            log,
            addr,
        })
    }

    /// The process id, for `/proc`.
    pub fn pid(&self) -> u32 {
        self.process.id()
    }

    /// Polls `GET http://<addr><path>` until it answers 200, failing if the process
    /// exits or does not become ready within [`READY_ATTEMPTS`] polls.
    pub async fn wait_ready(&mut self, client: &reqwest::Client, path: &str) -> Result<(), String> {
        self.wait_ready_at(client, &format!("http://{}{path}", self.addr)).await
    }

    /// [`Child::wait_ready`] on a whole URL (`https://...` for a TLS listener, with a
    /// `client` that trusts its certificate).
    pub async fn wait_ready_at(&mut self, client: &reqwest::Client, url: &str) -> Result<(), String> {
        for _ in 0..READY_ATTEMPTS {
            if let Some(status) = self.process.try_wait().map_err(|e| e.to_string())? {
                return Err(format!(
                    "{} exited with {status}; see {}",
                    self.name,
                    self.log.display()
                ));
            }
            match client.get(url).timeout(Duration::from_secs(1)).send().await {
                Ok(response) if response.status() == reqwest::StatusCode::OK => return Ok(()),
                _ => tokio::time::sleep(READY_INTERVAL).await,
            }
        }
        Err(format!(
            "{} did not answer 200 on {url} after {READY_ATTEMPTS} polls; see {}",
            self.name,
            self.log.display()
        ))
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// A loopback address with a port the system just handed out and released.
///
/// Another process could take the port before the child binds it; the child then
/// fails to start and [`Child::wait_ready`] says so.
pub fn free_loopback_addr() -> std::io::Result<SocketAddr> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()
}

/// Runs the binary once with `args` and returns its standard output, trimmed.
pub fn run_once(args: &[&str]) -> Result<String, String> {
    let output = Command::new(BINARY)
        .args(args)
        .env("GATEWAY_LOG__LEVEL", "warn")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("running {BINARY}: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "`delivery-gateway {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// CPU time the kernel has charged to a process, all its threads, user plus system.
#[derive(Clone, Copy, Default)]
pub struct CpuTime {
    /// Clock ticks (`utime + stime` of `/proc/<pid>/stat`).
    ticks: u64,
}

impl CpuTime {
    /// Reads `/proc/<pid>/stat`.
    pub fn of(pid: u32) -> Result<CpuTime, String> {
        let stat =
            std::fs::read_to_string(format!("/proc/{pid}/stat")).map_err(|e| format!("/proc/{pid}/stat: {e}"))?;
        // The command name (field 2) may hold spaces and parentheses: count fields
        // from after its closing parenthesis, where field 3 (`state`) starts.
        let rest = &stat[stat.rfind(')').ok_or("/proc/<pid>/stat without `)`")? + 1..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // utime and stime are fields 14 and 15, so 11 and 12 after `state`.
        let field = |i: usize| -> Result<u64, String> {
            fields
                .get(i)
                .and_then(|f| f.parse().ok())
                .ok_or_else(|| format!("/proc/{pid}/stat: no field {}", i + 3))
        };
        Ok(CpuTime {
            ticks: field(11)? + field(12)?,
        })
    }

    /// Milliseconds of CPU from `earlier` to `self`, given the clock's ticks per second.
    pub fn ms_since(self, earlier: CpuTime, ticks_per_second: u64) -> f64 {
        self.ticks.saturating_sub(earlier.ticks) as f64 * 1000.0 / ticks_per_second as f64
    }
}

/// Clock ticks per second (`getconf CLK_TCK`), and whether it was read (`false`: the
/// usual 100 is assumed).
pub fn clock_ticks_per_second() -> (u64, bool) {
    let read = Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<u64>().ok())
        .filter(|&t| t > 0);
    match read {
        Some(ticks) => (ticks, true),
        None => (100, false),
    }
}

/// The peak resident set size (`VmHWM` of `/proc/<pid>/status`), in KiB.
pub fn peak_rss_kib(pid: u32) -> Result<u64, String> {
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).map_err(|e| format!("/proc/{pid}/status: {e}"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| format!("/proc/{pid}/status: no VmHWM"))
}

/// Resets the peak RSS of a process to its current RSS (`5` into
/// `/proc/<pid>/clear_refs`, Linux 4.0+), so that the next [`peak_rss_kib`] covers
/// only what follows. `false` if the kernel refused: the peak then spans the
/// process's whole life.
pub fn reset_peak_rss(pid: u32) -> bool {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}
