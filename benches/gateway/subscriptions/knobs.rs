//! The scenario's knobs, read once from the `BENCH_SUBS_*` variables, and what
//! follows from them: the counts and the gateway's configuration.

use std::time::Duration;

use anyhow::{Context as _, ensure};

/// The scenario's knobs (see the module docs).
pub struct Knobs {
    /// `BENCH_SUBS_CONNECTIONS`: connections, one user each.
    pub connections: usize,
    /// `BENCH_SUBS_PER_CONNECTION`.
    pub per_connection: usize,
    /// `BENCH_SUBS_PER_ORDER`.
    pub per_order: usize,
    /// `BENCH_SUBS_WINDOW_SECONDS`.
    pub window: Duration,
    /// `BENCH_SUBS_POLL_MS`.
    pub poll_interval: Duration,
    /// `BENCH_SUBS_CLOCK_SPEED`.
    pub clock_speed: f64,
}

impl Knobs {
    /// Reads the `BENCH_SUBS_*` variables; a malformed one is an error.
    pub fn from_env(quick: bool) -> anyhow::Result<Knobs> {
        fn read<T: std::str::FromStr>(name: &str, full: T, smoke: T, quick: bool) -> anyhow::Result<T> {
            match std::env::var(name) {
                Ok(v) => v
                    .trim()
                    .parse()
                    .ok()
                    .with_context(|| format!("{name}={v} is not a number")),
                Err(_) => Ok(if quick { smoke } else { full }),
            }
        }
        let knobs = Knobs {
            connections: read("BENCH_SUBS_CONNECTIONS", 100, 10, quick)?,
            per_connection: read("BENCH_SUBS_PER_CONNECTION", 100, 100, quick)?,
            per_order: read("BENCH_SUBS_PER_ORDER", 10, 10, quick)?,
            window: Duration::from_secs(read("BENCH_SUBS_WINDOW_SECONDS", 60, 10, quick)?),
            poll_interval: Duration::from_millis(read("BENCH_SUBS_POLL_MS", 2000, 2000, quick)?),
            clock_speed: read("BENCH_SUBS_CLOCK_SPEED", 1.0, 1.0, quick)?,
        };
        ensure!(
            knobs.connections > 0 && knobs.per_connection > 0 && knobs.per_order > 0,
            "BENCH_SUBS_CONNECTIONS, _PER_CONNECTION and _PER_ORDER must be positive"
        );
        ensure!(
            knobs.per_connection.is_multiple_of(knobs.per_order),
            "BENCH_SUBS_PER_ORDER ({}) must divide BENCH_SUBS_PER_CONNECTION ({}): a connection is one user, \
             who follows only their own orders",
            knobs.per_order,
            knobs.per_connection
        );
        ensure!(!knobs.window.is_zero(), "BENCH_SUBS_WINDOW_SECONDS must be positive");
        ensure!(
            knobs.poll_interval >= Duration::from_millis(10),
            "BENCH_SUBS_POLL_MS must be at least 10 (the gateway's minimum)"
        );
        ensure!(
            knobs.clock_speed > 0.0 && knobs.clock_speed <= delivery_gateway::demo::MAX_CLOCK_SPEED,
            "BENCH_SUBS_CLOCK_SPEED must be above 0 and at most 1000"
        );
        Ok(knobs)
    }

    /// Subscriptions in all.
    pub fn subscriptions(&self) -> usize {
        self.connections * self.per_connection
    }

    /// Orders of each user.
    pub fn orders_per_user(&self) -> usize {
        self.per_connection / self.per_order
    }

    /// Orders in all: one poll each.
    pub fn orders(&self) -> usize {
        self.connections * self.orders_per_user()
    }

    /// The upper bound on calls to call 17 per second: one per order and interval.
    pub fn call_bound(&self) -> f64 {
        self.orders() as f64 / self.poll_interval.as_secs_f64()
    }

    /// The gateway's configuration: the subscription limits this scenario needs.
    pub fn gateway_config(&self) -> String {
        format!(
            "[subscriptions]\npoll_interval = \"{}ms\"\nmax_per_connection = {}\nmax_connections_per_user = 1\n\
             max_open = {}\n",
            self.poll_interval.as_millis(),
            self.per_connection,
            self.subscriptions()
        )
    }
}
