//! The demo clock that placed orders move on (calls 17-19): it starts at the wall
//! clock's time when the demo starts and runs continuously at a speed of 0 to 1,000
//! (0 stops it). Changing the speed changes how fast it runs from that moment on;
//! it never jumps.
//!
//! Internally an anchor (a monotonic instant and the demo time then) plus the speed:
//! `now = anchor.demo + (Instant::now() - anchor.wall) * speed`, re-anchored at every
//! change of speed.

use std::sync::{Mutex, PoisonError};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

pub use crate::contract::MAX_CLOCK_SPEED;

/// Why a speed is not acceptable, if it is not.
pub(crate) fn speed_problem(speed: f64) -> Option<String> {
    (!(0.0..=MAX_CLOCK_SPEED).contains(&speed)).then(|| format!("speed must be a number from 0 to {MAX_CLOCK_SPEED}"))
}

#[derive(Debug, Clone, Copy)]
struct Anchor {
    wall: Instant,
    demo_ns: i128,
    speed: f64,
}

impl Anchor {
    fn demo_ns_at(&self, wall: Instant) -> i128 {
        let elapsed = wall.saturating_duration_since(self.wall).as_nanos() as f64;
        self.demo_ns + (elapsed * self.speed) as i128
    }
}

/// The running clock, behind a briefly held lock.
#[derive(Debug)]
pub(crate) struct DemoClock(Mutex<Anchor>);

impl DemoClock {
    /// A clock at the wall clock's time, running at `speed` (clamped to 0..=1,000).
    pub(crate) fn new(speed: f64) -> DemoClock {
        let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        DemoClock(Mutex::new(Anchor {
            wall: Instant::now(),
            demo_ns: since_epoch.as_nanos() as i128,
            speed: clamp(speed),
        }))
    }

    fn with<R>(&self, f: impl FnOnce(&mut Anchor) -> R) -> R {
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// The demo time now, in Unix milliseconds.
    pub(crate) fn now_ms(&self) -> i64 {
        let ns = self.with(|a| a.demo_ns_at(Instant::now()));
        i64::try_from(ns.div_euclid(1_000_000)).unwrap_or(i64::MAX)
    }

    /// How fast it runs now.
    pub(crate) fn speed(&self) -> f64 {
        self.with(|a| a.speed)
    }

    /// Runs at `speed` (clamped to 0..=1,000) from now on, continuing from the demo
    /// time it shows now.
    pub(crate) fn set_speed(&self, speed: f64) {
        self.with(|a| {
            let wall = Instant::now();
            *a = Anchor {
                wall,
                demo_ns: a.demo_ns_at(wall),
                speed: clamp(speed),
            };
        });
    }
}

fn clamp(speed: f64) -> f64 {
    if speed.is_nan() {
        1.0
    } else {
        speed.clamp(0.0, MAX_CLOCK_SPEED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_starts_at_the_wall_clock_and_never_jumps() {
        let wall_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis() as i64;
        let clock = DemoClock::new(0.0);
        let start = clock.now_ms();
        assert!((start - wall_ms).abs() < 5_000, "{start} vs {wall_ms}");
        assert_eq!(clock.now_ms(), start, "speed 0 stops it");
        clock.set_speed(1_000.0);
        let fast = clock.now_ms();
        assert!(fast >= start);
        clock.set_speed(0.0);
        let stopped = clock.now_ms();
        assert!(stopped >= fast);
        assert_eq!(clock.now_ms(), stopped);
        assert_eq!(clock.speed(), 0.0);
    }

    #[test]
    fn speeds_outside_the_range_are_refused_or_clamped() {
        for bad in [-1.0, 1_000.5, f64::NAN, f64::INFINITY] {
            assert!(speed_problem(bad).is_some(), "{bad}");
        }
        assert!(speed_problem(0.0).is_none() && speed_problem(1_000.0).is_none());
        assert_eq!(DemoClock::new(5_000.0).speed(), MAX_CLOCK_SPEED);
    }
}
