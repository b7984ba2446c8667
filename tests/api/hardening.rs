//! Hardening of start-up and shipped defaults: the environment Kubernetes gives a pod,
//! standard tokens and key sets, a quiet start, GraphiQL against real upstreams, and
//! production mode as the image runs it.
//!
//! Some tests run the built binary with an environment of their own
//! (`Command::env_clear`), so the test process's environment is never changed.

use std::{
    io::{BufRead, BufReader},
    process::{Command, ExitStatus, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use serde_json::Value;

/// What Kubernetes puts in every pod's environment for a Service named `gateway`.
const KUBERNETES_ENV: [(&str, &str); 8] = [
    ("GATEWAY_PORT", "tcp://10.96.0.17:4000"),
    ("GATEWAY_PORT_4000_TCP", "tcp://10.96.0.17:4000"),
    ("GATEWAY_PORT_4000_TCP_ADDR", "10.96.0.17"),
    ("GATEWAY_PORT_4000_TCP_PORT", "4000"),
    ("GATEWAY_PORT_4000_TCP_PROTO", "tcp"),
    ("GATEWAY_SERVICE_HOST", "10.96.0.17"),
    ("GATEWAY_SERVICE_PORT", "4000"),
    ("GATEWAY_SERVICE_PORT_HTTP", "4000"),
];

/// How a run of the binary ended.
#[derive(Debug)]
enum Run {
    /// It logged that it serves GraphQL (and was then stopped). Its log lines up to
    /// then, parsed from JSON.
    Started(Vec<Value>),
    /// It exited by itself, with this status and standard error.
    Exited(ExitStatus, String),
}

/// Runs `delivery-gateway <args>` with only `env` (and JSON logs) in its environment,
/// until it logs "GraphQL at" or exits.
fn run_binary(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_delivery-gateway"))
        .args(args)
        .env_clear()
        .env("GATEWAY_LOG__FORMAT", "json")
        .env("RUST_LOG", "info")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting the gateway binary");
    let stderr = child.stderr.take().unwrap();
    let (lines, received) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match received.recv_timeout(left) {
            Ok(line) => {
                let started = line.contains("GraphQL at");
                seen.push(line);
                if started {
                    child.kill().unwrap();
                    child.wait().unwrap();
                    let log = seen
                        .iter()
                        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not a JSON log line: {l}")))
                        .collect();
                    return Run::Started(log);
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = child.wait().unwrap();
                return Run::Exited(status, seen.join("\n"));
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                child.kill().unwrap();
                child.wait().unwrap();
                panic!(
                    "the gateway neither started nor exited within 30 s:\n{}",
                    seen.join("\n")
                );
            }
        }
    }
}

fn started(run: Run) -> Vec<Value> {
    match run {
        Run::Started(log) => log,
        Run::Exited(status, stderr) => panic!("the gateway exited ({status}):\n{stderr}"),
    }
}

// --- item 11: environment overrides that survive Kubernetes ------------------------

#[test]
fn the_gateway_starts_among_kubernetes_service_variables_and_warns_once_listing_them() {
    let mut env = KUBERNETES_ENV.to_vec();
    env.push(("GATEWAY_DEMO__LATENCY", "0ms"));
    let log = started(run_binary(&["serve", "--listen", "127.0.0.1:0"], &env));

    let warnings: Vec<&Value> = log.iter().filter(|l| l["level"] == "WARN").collect();
    assert_eq!(warnings.len(), 1, "{log:#?}");
    let listed = warnings[0]["variables"].as_str().unwrap();
    for (name, _) in KUBERNETES_ENV {
        assert!(listed.contains(name), "{name} is not listed: {listed}");
    }
    assert!(!listed.contains("10.96.0.17"), "a value is logged: {listed}");
    assert!(!listed.contains("GATEWAY_DEMO__LATENCY"), "{listed}");
}
