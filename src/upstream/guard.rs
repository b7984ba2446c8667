//! What stands between the gateway and one upstream service: a circuit breaker, a
//! bulkhead (a cap on calls in flight) and a retry budget.
//!
//! - The breaker (the `failsafe` crate) opens when the success rate over a window
//!   drops below the configured rate; calls then fail fast with `CIRCUIT_OPEN`
//!   until the open period ends, when calls are let through again (half-open) and
//!   the first success closes it.
//! - The bulkhead is a semaphore: past `max_concurrency` calls in flight, a call
//!   waits at most `queue_timeout`, then fails with `UPSTREAM_BUSY`.
//! - The retry budget (tower's `TpsBudget`) lets retries be at most a share of
//!   calls over a window, plus a small floor.
//! - A retry is taken only while the service's recent calls mostly succeed
//!   ([`Guard::worth_retrying`]: over the breaker's window, no more failures than
//!   successes, or a single failure). A service that fails every call is plainly down: retrying it
//!   only multiplies the load on it (10 queries against a `users` answering 503
//!   to everything made 89 calls where 30 were needed), while a service that
//!   fails now and then is worth a second try.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicU8, Ordering},
    },
    time::{Duration, Instant},
};

use failsafe::{
    StateMachine,
    backoff::{self, Constant},
    failure_policy::{self, SuccessRateOverTimeWindow},
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower::retry::budget::{Budget, TpsBudget};

use super::Service;

/// How one service is protected.
#[derive(Debug, Clone)]
pub struct GuardSettings {
    /// Calls in flight at most.
    pub max_concurrency: usize,
    /// How long a call waits for a place past `max_concurrency`.
    pub queue_timeout: Duration,
    /// The breaker opens below this share of successful calls (0 to 1).
    pub required_success_rate: f64,
    /// ... once at least this many calls were made within `window`.
    pub min_calls: u32,
    /// The window the success rate is measured over (whole seconds, at least 1 s:
    /// the breaker counts it in seconds).
    pub window: Duration,
    /// How long the breaker stays open before letting calls through again.
    pub open_for: Duration,
    /// Retries allowed as a share of calls (0 to 1), over `budget_window`.
    pub retry_ratio: f32,
    /// Retries allowed per second whatever the traffic.
    pub min_retries_per_second: u32,
    /// The window of the retry budget.
    pub budget_window: Duration,
}

/// The breaker's state, for readiness reports and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls go through.
    Closed,
    /// Calls fail fast.
    Open,
    /// Calls go through on trial; the first success closes, a failure reopens.
    HalfOpen,
}

/// Logs the breaker's transitions and remembers its state.
struct Watch {
    service: Service,
    state: Arc<AtomicU8>,
}

impl failsafe::Instrument for Watch {
    fn on_call_rejected(&self) {}

    fn on_open(&self) {
        self.state.store(1, Ordering::Relaxed);
        tracing::warn!(service = self.service.name(), "circuit breaker opened: failing fast");
    }

    fn on_half_open(&self) {
        self.state.store(2, Ordering::Relaxed);
        tracing::info!(
            service = self.service.name(),
            "circuit breaker half-open: trying calls again"
        );
    }

    fn on_closed(&self) {
        // failsafe also calls this when the breaker is built: log transitions only.
        if self.state.swap(0, Ordering::Relaxed) != 0 {
            tracing::info!(service = self.service.name(), "circuit breaker closed");
        }
    }
}

type Breaker = StateMachine<SuccessRateOverTimeWindow<Constant>, Watch>;

/// Outcomes of a service's recent calls, counted per second over a window.
struct Recent {
    started: Instant,
    seconds: Mutex<Vec<Second>>,
}

/// One second's outcomes.
#[derive(Debug, Clone, Copy, Default)]
struct Second {
    /// Which second since `started` this slot counts (slots are reused).
    at: u64,
    succeeded: u32,
    failed: u32,
}

impl Recent {
    fn new(window: Duration) -> Self {
        let slots = window.as_secs().clamp(1, 3600) as usize;
        Self {
            started: Instant::now(),
            seconds: Mutex::new(vec![Second::default(); slots]),
        }
    }

    fn record(&self, healthy: bool, now: Instant) {
        let at = now.saturating_duration_since(self.started).as_secs();
        let mut seconds = self.seconds.lock().unwrap_or_else(|p| p.into_inner());
        let len = seconds.len() as u64;
        let slot = &mut seconds[(at % len) as usize];
        if slot.at != at {
            *slot = Second {
                at,
                ..Second::default()
            };
        }
        if healthy {
            slot.succeeded = slot.succeeded.saturating_add(1);
        } else {
            slot.failed = slot.failed.saturating_add(1);
        }
    }

    /// Successes and failures within the window before `now`.
    fn totals(&self, now: Instant) -> (u64, u64) {
        let at = now.saturating_duration_since(self.started).as_secs();
        let seconds = self.seconds.lock().unwrap_or_else(|p| p.into_inner());
        let len = seconds.len() as u64;
        seconds
            .iter()
            .filter(|s| s.at <= at && at - s.at < len && (s.succeeded, s.failed) != (0, 0))
            .fold((0, 0), |(ok, failed), s| {
                (ok + u64::from(s.succeeded), failed + u64::from(s.failed))
            })
    }
}

/// The protections of one service. Shared by every request.
pub struct Guard {
    breaker: Breaker,
    recent: Recent,
    state: Arc<AtomicU8>,
    bulkhead: Arc<Semaphore>,
    queue_timeout: Duration,
    budget: TpsBudget,
}

/// Why a guard refused a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The breaker is open.
    CircuitOpen,
    /// Too many calls in flight, and no place freed up in time.
    Busy,
}

impl Guard {
    /// A guard for `service`.
    pub fn new(service: Service, settings: &GuardSettings) -> Self {
        let state = Arc::new(AtomicU8::new(0));
        let policy = failure_policy::success_rate_over_time_window(
            settings.required_success_rate.clamp(0.0, 1.0),
            settings.min_calls,
            settings.window.max(Duration::from_secs(1)),
            backoff::constant(settings.open_for),
        );
        let watch = Watch {
            service,
            state: state.clone(),
        };
        Self {
            breaker: StateMachine::new(policy, watch),
            recent: Recent::new(settings.window),
            state,
            bulkhead: Arc::new(Semaphore::new(settings.max_concurrency.max(1))),
            queue_timeout: settings.queue_timeout,
            budget: TpsBudget::new(
                settings.budget_window,
                settings.min_retries_per_second,
                settings.retry_ratio.clamp(0.0, 1000.0),
            ),
        }
    }

    /// The breaker's state now.
    pub fn breaker_state(&self) -> BreakerState {
        match self.state.load(Ordering::Relaxed) {
            1 => BreakerState::Open,
            2 => BreakerState::HalfOpen,
            _ => BreakerState::Closed,
        }
    }

    /// A place for one call, waiting at most the queue timeout or `time_left`.
    pub async fn admit(&self, time_left: Duration) -> Result<OwnedSemaphorePermit, Refusal> {
        if !self.breaker.is_call_permitted() {
            return Err(Refusal::CircuitOpen);
        }
        let wait = self.queue_timeout.min(time_left);
        match tokio::time::timeout(wait, self.bulkhead.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(Refusal::Busy),
        }
    }

    /// Records how a call ended, for the breaker and the retry decision.
    pub fn record(&self, healthy: bool) {
        self.recent.record(healthy, Instant::now());
        if healthy {
            self.breaker.on_success();
        } else {
            self.breaker.on_error();
        }
    }

    /// Counts a call towards the retry budget.
    pub fn deposit(&self) {
        self.budget.deposit();
    }

    /// Whether a failed call is worth another attempt: the service's calls within
    /// the breaker's window hold no more failures than successes, or only the one
    /// failure that asks (a service seen for the first time, or after a quiet
    /// window, gets the benefit of the doubt once: its second failure without a
    /// success stops the retries).
    pub fn worth_retrying(&self) -> bool {
        let (succeeded, failed) = self.recent.totals(Instant::now());
        failed <= succeeded.max(1)
    }

    /// Takes one retry from the budget; `false` when it is spent.
    pub fn withdraw(&self) -> bool {
        self.budget.withdraw()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> GuardSettings {
        GuardSettings {
            max_concurrency: 1,
            queue_timeout: Duration::from_millis(10),
            required_success_rate: 0.5,
            min_calls: 5,
            window: Duration::from_secs(1),
            open_for: Duration::from_secs(60),
            retry_ratio: 0.1,
            min_retries_per_second: 0,
            budget_window: Duration::from_secs(10),
        }
    }

    #[test]
    fn the_breaker_opens_after_sustained_failures_and_recovers() {
        failsafe::clock::freeze(|clock| {
            let guard = Guard::new(Service::Menus, &settings());
            clock.advance(Duration::from_secs(2));
            for _ in 0..10 {
                clock.advance(Duration::from_millis(20));
                guard.record(false);
            }
            assert_eq!(guard.breaker_state(), BreakerState::Open);
            assert!(!guard.breaker.is_call_permitted());

            clock.advance(Duration::from_secs(300));
            assert!(guard.breaker.is_call_permitted(), "half-open after the open period");
            guard.record(true);
            assert_eq!(guard.breaker_state(), BreakerState::Closed);
        });
    }

    #[test]
    fn a_few_failures_among_many_successes_keep_it_closed() {
        failsafe::clock::freeze(|clock| {
            let guard = Guard::new(Service::Menus, &settings());
            clock.advance(Duration::from_secs(2));
            for i in 0..100 {
                clock.advance(Duration::from_millis(20));
                guard.record(i % 10 != 9);
            }
            assert_eq!(guard.breaker_state(), BreakerState::Closed);
        });
    }

    #[tokio::test]
    async fn the_bulkhead_refuses_past_its_cap() {
        let guard = Guard::new(Service::Menus, &settings());
        let _held = guard.admit(Duration::from_secs(1)).await.unwrap();
        assert_eq!(guard.admit(Duration::from_secs(1)).await.unwrap_err(), Refusal::Busy);
    }

    #[test]
    fn a_service_that_mostly_fails_is_not_retried() {
        let guard = Guard::new(Service::Users, &settings());
        guard.record(false);
        assert!(guard.worth_retrying(), "a first failure is worth one retry");
        guard.record(false);
        assert!(!guard.worth_retrying(), "two failures and no success");
        guard.record(true);
        guard.record(true);
        assert!(guard.worth_retrying(), "as many successes as failures");
        for _ in 0..8 {
            guard.record(true);
        }
        for _ in 0..7 {
            guard.record(false);
        }
        assert!(guard.worth_retrying(), "9 of 19 failed");
        guard.record(false);
        assert!(guard.worth_retrying(), "10 of 20 failed");
        guard.record(false);
        assert!(!guard.worth_retrying(), "11 of 21 failed");
    }

    #[test]
    fn outcomes_leave_the_window() {
        let recent = Recent::new(Duration::from_secs(10));
        let start = recent.started;
        for _ in 0..5 {
            recent.record(false, start);
        }
        recent.record(true, start + Duration::from_secs(9));
        assert_eq!(recent.totals(start + Duration::from_secs(9)), (1, 5));
        assert_eq!(recent.totals(start + Duration::from_secs(10)), (1, 0));
        assert_eq!(recent.totals(start + Duration::from_secs(19)), (0, 0));
        // A slot reused a window later starts from zero.
        recent.record(false, start + Duration::from_secs(20));
        assert_eq!(recent.totals(start + Duration::from_secs(20)), (0, 1));
    }

    #[test]
    fn retries_are_a_share_of_calls() {
        let guard = Guard::new(Service::Menus, &settings());
        for _ in 0..100 {
            guard.deposit();
        }
        let retries = (0..100).filter(|_| guard.withdraw()).count();
        assert!((5..=15).contains(&retries), "{retries} retries for 100 calls");
    }
}
