//! The demo clock that placed orders move on (`GET` / `PUT /_admin/clock`): run it
//! ahead, set its speed, and map its time onto this process's monotonic clock, so
//! that an order's `updatedAt` (a demo instant) becomes an [`Instant`] here.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use serde::Deserialize;
use serde_json::json;

/// Readings of the clock taken to map it; the one with the shortest round trip wins.
const MAP_READINGS: usize = 16;
/// How long running the clock ahead may take (at speed 1,000, a minute of demo
/// time is 60 ms).
const FAST_FORWARD_TIMEOUT: Duration = Duration::from_secs(30);

/// The admin API of the demo's clock.
pub struct DemoClock {
    /// The benchmark's client.
    client: reqwest::Client,
    /// `http://<demo>`.
    base: String,
}

/// What `GET /_admin/clock` answers.
#[derive(Deserialize)]
struct Reading {
    /// The demo time, RFC 3339 with milliseconds (truncated).
    now: String,
    /// How fast the clock runs.
    speed: f64,
}

/// One reading and when it was taken here.
struct Taken {
    /// When the request was sent.
    sent: Instant,
    /// Its round trip.
    round_trip: Duration,
    /// The demo time it answered, Unix milliseconds.
    demo_ms: i64,
    /// The speed it answered.
    speed: f64,
}

impl DemoClock {
    /// The clock of the demo at `base` (`http://host:port`).
    pub fn new(client: reqwest::Client, base: String) -> DemoClock {
        DemoClock { client, base }
    }

    /// `PUT /_admin/clock {"speed": speed}`.
    async fn set_speed(&self, speed: f64) -> anyhow::Result<()> {
        let response = self
            .client
            .put(format!("{}/_admin/clock", self.base))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(json!({ "speed": speed }).to_string())
            .send()
            .await?;
        let status = response.status();
        ensure!(
            status.is_success(),
            "PUT /_admin/clock answered {status}: {}",
            response.text().await.unwrap_or_default()
        );
        Ok(())
    }

    /// `GET /_admin/clock`, timed.
    async fn read(&self) -> anyhow::Result<Taken> {
        let sent = Instant::now();
        let response = self.client.get(format!("{}/_admin/clock", self.base)).send().await?;
        ensure!(
            response.status().is_success(),
            "GET /_admin/clock answered {}",
            response.status()
        );
        let body = response.bytes().await?;
        let round_trip = sent.elapsed();
        let reading: Reading = serde_json::from_slice(&body).context("reading GET /_admin/clock")?;
        let demo_ms = unix_ms(&reading.now).with_context(|| format!("GET /_admin/clock: now {:?}", reading.now))?;
        Ok(Taken {
            sent,
            round_trip,
            demo_ms,
            speed: reading.speed,
        })
    }

    /// Runs the clock at its fastest until it shows `to` (Unix milliseconds) or
    /// later, then at `speed`. Overshoots by about one reading's round trip times
    /// 1,000.
    pub async fn fast_forward(&self, to: i64, speed: f64) -> anyhow::Result<()> {
        self.set_speed(delivery_gateway::demo::MAX_CLOCK_SPEED).await?;
        let started = Instant::now();
        while self.read().await?.demo_ms < to {
            if started.elapsed() > FAST_FORWARD_TIMEOUT {
                bail!("the demo clock did not reach {to} within {FAST_FORWARD_TIMEOUT:?} at its fastest");
            }
        }
        self.set_speed(speed).await
    }

    /// Maps the clock as it runs now onto this process's clock.
    pub async fn map(&self) -> anyhow::Result<ClockMap> {
        let mut best: Option<Taken> = None;
        for _ in 0..MAP_READINGS {
            let taken = self.read().await?;
            if best.as_ref().is_none_or(|b| taken.round_trip < b.round_trip) {
                best = Some(taken);
            }
        }
        let best = best.context("no clock reading")?;
        ensure!(best.speed > 0.0, "the demo clock is stopped");
        Ok(ClockMap {
            at: best.sent + best.round_trip / 2,
            // The reading is truncated to the millisecond: the middle of it.
            demo_ms: best.demo_ms as f64 + 0.5,
            speed: best.speed,
        })
    }
}

/// The demo clock as seen from here: it showed `demo_ms` at `at` and runs at
/// `speed`.
#[derive(Clone, Copy)]
pub struct ClockMap {
    /// An instant of this process.
    at: Instant,
    /// The demo time then, Unix milliseconds.
    demo_ms: f64,
    /// Demo milliseconds per millisecond here.
    speed: f64,
}

impl ClockMap {
    /// Milliseconds here from `at` to the demo instant `demo_ms` (negative before).
    fn offset_ms(&self, demo_ms: i64) -> f64 {
        (demo_ms as f64 - self.demo_ms) / self.speed
    }

    /// The instant here at which the demo clock shows `demo_ms`.
    pub fn instant_of(&self, demo_ms: i64) -> Instant {
        let offset = self.offset_ms(demo_ms);
        let span = Duration::from_secs_f64(offset.abs() / 1000.0);
        if offset >= 0.0 {
            self.at + span
        } else {
            self.at.checked_sub(span).unwrap_or(self.at)
        }
    }

    /// Milliseconds from the demo instant `demo_ms` to `arrived`, an instant here.
    pub fn delay_ms(&self, arrived: Instant, demo_ms: i64) -> f64 {
        let since_at = match arrived.checked_duration_since(self.at) {
            Some(after) => after.as_secs_f64() * 1000.0,
            None => -(self.at.duration_since(arrived).as_secs_f64() * 1000.0),
        };
        since_at - self.offset_ms(demo_ms)
    }
}

/// An RFC 3339 time as Unix milliseconds.
pub fn unix_ms(text: &str) -> Option<i64> {
    let time = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(time.unix_timestamp_nanos() / 1_000_000).ok()
}
