//! How many GraphQL requests execute at once: a limit that follows the CPU.
//!
//! Past the limit a request waits for a turn (within its deadline) instead of
//! starting at once. A gateway whose workers are all busy gains nothing from
//! starting more requests: each waits longer for the CPU, and meanwhile holds its
//! upstream connections, answers and field futures. Measured on 2 cores at 64
//! concurrent `HomeScreen`s (docs/performance.md, "Requests executing at once"),
//! 64 executing at once peaked at 82-89 MiB; 16 at once at 45 MiB, with no less
//! throughput. A fixed limit that low would starve a gateway whose upstreams are
//! slow, where requests spend their time waiting on the network (at 20 ms per
//! upstream, 16 at once serve 188 `HomeScreen`s a second against 387), hence:
//!
//! - `server.max_executing = 0` (the default): every [`WINDOW`] the limit is
//!   adjusted from the async runtime's own measure of its workers' busy time
//!   ([`step`]): down by an eighth while they were busy all but a few per cent of
//!   the window, up by a quarter while they had time to spare and a request had
//!   to wait; never below `server.min_executing` (`0`: 8 per worker thread) nor
//!   above `server.max_in_flight`;
//! - a number: that many at once, fixed.
//!
//! The limit only ever holds back requests that have passed load shedding
//! ([`super::admission`]): those waiting for a turn are within
//! `server.max_in_flight`.

use std::{
    sync::{
        Arc, Weak,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use tokio::sync::Semaphore;

/// How often the adaptive limit is adjusted.
pub const WINDOW: Duration = Duration::from_millis(100);

/// The workers' busy share of a window at and above which they count as
/// saturated: the limit shrinks.
const SATURATED: f64 = 0.95;

/// The workers' busy share below which they have time to spare: the limit grows
/// if a request waited.
const SPARE: f64 = 0.85;

/// The adaptive limit's floor per worker thread when `server.min_executing` is `0`.
const FLOOR_PER_WORKER: usize = 8;

/// The limit on requests executing at once, shared by every request.
pub struct Limiter {
    permits: Semaphore,
    /// The current limit.
    limit: AtomicUsize,
    /// Permits to take back as requests finish: the limit shrank below the
    /// number in use.
    debt: AtomicUsize,
    /// A request had to wait for a turn since the last adjustment.
    waited: AtomicBool,
    floor: usize,
    ceiling: usize,
}

/// A request's turn: its permit is given back when dropped, unless the limit
/// shrank meanwhile and it pays off a permit owed.
pub struct Turn(Arc<Limiter>);

impl Drop for Turn {
    fn drop(&mut self) {
        let limiter = &self.0;
        let repaid = limiter
            .debt
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |debt| debt.checked_sub(1))
            .is_ok();
        if !repaid {
            limiter.permits.add_permits(1);
        }
    }
}

impl Limiter {
    /// A limit of `limit` at once, adjusted between `floor` and `ceiling` by
    /// [`Limiter::adapt`] if that is called.
    fn new(limit: usize, floor: usize, ceiling: usize) -> Arc<Self> {
        Arc::new(Self {
            permits: Semaphore::new(limit),
            limit: AtomicUsize::new(limit),
            debt: AtomicUsize::new(0),
            waited: AtomicBool::new(false),
            floor,
            ceiling,
        })
    }

    /// The limiter for `server.max_executing` (`max`), `server.min_executing`
    /// (`min`) and `server.max_in_flight` (`ceiling`) on a runtime of `workers`
    /// threads; an adaptive one starts at its floor. `None`: no limit below the
    /// ceiling to keep.
    pub fn from_settings(max: usize, min: usize, ceiling: usize, workers: usize) -> Option<Arc<Self>> {
        match max {
            0 => {
                let floor = if min == 0 {
                    FLOOR_PER_WORKER * workers.max(1)
                } else {
                    min
                };
                let floor = floor.min(ceiling);
                (floor < ceiling).then(|| Self::new(floor, floor, ceiling))
            }
            fixed => (fixed < ceiling).then(|| Self::new(fixed, fixed, fixed)),
        }
    }

    /// The current limit.
    pub fn limit(&self) -> usize {
        self.limit.load(Ordering::Acquire)
    }

    /// Waits for a turn, at most `patience`; `None` when none came in time.
    pub async fn turn(self: &Arc<Self>, patience: Duration) -> Option<Turn> {
        let permit = match self.permits.try_acquire() {
            Ok(permit) => permit,
            Err(_) => {
                self.waited.store(true, Ordering::Release);
                tokio::time::timeout(patience, self.permits.acquire())
                    .await
                    .ok()?
                    .ok()?
            }
        };
        // The turn gives it back (or pays a debt with it) when dropped.
        permit.forget();
        Some(Turn(self.clone()))
    }

    /// Sets the limit to `new`: more permits at once, or fewer as they come back.
    fn resize(&self, new: usize) {
        let old = self.limit.swap(new, Ordering::AcqRel);
        if new > old {
            let grow = new - old;
            // Permits still owed are cancelled before new ones are made.
            let owed = self
                .debt
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |debt| Some(debt - debt.min(grow)))
                .unwrap_or_else(|debt| debt);
            self.permits.add_permits(grow - owed.min(grow));
        } else if new < old {
            let shrink = old - new;
            let forgotten = self.permits.forget_permits(shrink);
            self.debt.fetch_add(shrink - forgotten, Ordering::AcqRel);
        }
    }

    /// Adjusts the limit every [`WINDOW`] from the busy time of the current
    /// runtime's workers, until the limiter is dropped.
    pub fn adapt(self: &Arc<Self>) {
        if self.floor == self.ceiling {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!("no async runtime: the executing limit stays at its floor");
            return;
        };
        let limiter = Arc::downgrade(self);
        let metrics = runtime.metrics();
        runtime.spawn(async move {
            let busy_total = |metrics: &tokio::runtime::RuntimeMetrics| -> Duration {
                (0..metrics.num_workers())
                    .map(|worker| metrics.worker_total_busy_duration(worker))
                    .sum()
            };
            let mut ticks = tokio::time::interval(WINDOW);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticks.tick().await;
            let (mut then, mut busy_then) = (tokio::time::Instant::now(), busy_total(&metrics));
            loop {
                ticks.tick().await;
                let Some(limiter) = Weak::upgrade(&limiter) else {
                    return;
                };
                let (now, busy_now) = (tokio::time::Instant::now(), busy_total(&metrics));
                let capacity = (now - then).as_secs_f64() * metrics.num_workers().max(1) as f64;
                let busy = (busy_now.saturating_sub(busy_then)).as_secs_f64() / capacity.max(f64::EPSILON);
                (then, busy_then) = (now, busy_now);
                let waited = limiter.waited.swap(false, Ordering::AcqRel);
                let limit = limiter.limit();
                let next = step(limit, busy, waited, limiter.floor, limiter.ceiling);
                if next != limit {
                    tracing::trace!(limit, next, busy, waited, "executing limit");
                    limiter.resize(next);
                }
            }
        });
    }
}

/// The next limit, from the current one, the workers' busy share of the last
/// window (`0.0..=1.0`) and whether a request had to wait in it.
pub fn step(limit: usize, busy: f64, waited: bool, floor: usize, ceiling: usize) -> usize {
    if busy >= SATURATED {
        limit.saturating_sub((limit / 8).max(1))
    } else if waited && busy < SPARE {
        limit.saturating_add((limit / 4).max(1))
    } else {
        limit
    }
    .clamp(floor, ceiling)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_shrinks_while_saturated_and_grows_while_requests_wait_on_spare_time() {
        assert_eq!(step(64, 0.99, true, 16, 1024), 56);
        assert_eq!(step(17, 0.99, false, 16, 1024), 16);
        assert_eq!(step(16, 1.0, true, 16, 1024), 16, "never below the floor");
        assert_eq!(step(16, 0.5, true, 16, 1024), 20);
        assert_eq!(step(1000, 0.5, true, 16, 1024), 1024, "never above the ceiling");
        assert_eq!(step(40, 0.5, false, 16, 1024), 40, "nobody waited: no reason to grow");
        assert_eq!(step(40, 0.9, true, 16, 1024), 40, "between spare and saturated: held");
    }

    #[test]
    fn settings_give_a_floor_per_worker_a_fixed_limit_or_none() {
        let adaptive = Limiter::from_settings(0, 0, 1024, 2).unwrap();
        assert_eq!((adaptive.limit(), adaptive.floor, adaptive.ceiling), (16, 16, 1024));
        let fixed = Limiter::from_settings(32, 0, 1024, 2).unwrap();
        assert_eq!((fixed.limit(), fixed.floor, fixed.ceiling), (32, 32, 32));
        assert!(
            Limiter::from_settings(0, 0, 16, 2).is_none(),
            "the floor reaches the ceiling"
        );
        assert!(Limiter::from_settings(2048, 0, 1024, 2).is_none());
    }

    #[tokio::test]
    async fn a_shrunk_limit_takes_permits_back_as_turns_end() {
        let limiter = Limiter::new(4, 1, 8);
        let turns: Vec<_> = futures_util::future::join_all((0..4).map(|_| limiter.turn(Duration::ZERO))).await;
        assert!(turns.iter().all(Option::is_some));
        assert!(limiter.turn(Duration::ZERO).await.is_none(), "four at once");
        limiter.resize(2);
        drop(turns);
        let held: Vec<_> = futures_util::future::join_all((0..2).map(|_| limiter.turn(Duration::ZERO))).await;
        assert!(held.iter().all(Option::is_some));
        assert!(
            limiter.turn(Duration::ZERO).await.is_none(),
            "two at once after shrinking"
        );
        limiter.resize(3);
        assert!(limiter.turn(Duration::ZERO).await.is_some(), "three once it grew again");
        assert!(
            limiter.waited.load(Ordering::Acquire),
            "a turn refused counts as a wait"
        );
    }

    #[tokio::test]
    async fn growing_while_permits_are_owed_cancels_the_debt_first() {
        let limiter = Limiter::new(4, 1, 8);
        let turns: Vec<_> = futures_util::future::join_all((0..4).map(|_| limiter.turn(Duration::ZERO))).await;
        limiter.resize(2);
        limiter.resize(3);
        assert_eq!(
            limiter.debt.load(Ordering::Acquire),
            1,
            "one of the two owed is cancelled"
        );
        drop(turns);
        let held: Vec<_> = futures_util::future::join_all((0..3).map(|_| limiter.turn(Duration::ZERO))).await;
        assert!(held.iter().all(Option::is_some), "three at once");
        assert!(limiter.turn(Duration::ZERO).await.is_none(), "not four");
    }
}
