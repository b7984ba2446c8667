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
//!   calls over a window, plus a small floor, so an outage never multiplies the
//!   load on the service that is down.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU8, Ordering},
    },
    time::Duration,
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

/// The protections of one service. Shared by every request.
pub struct Guard {
    breaker: Breaker,
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

    /// Records how a call ended, for the breaker.
    pub fn record(&self, healthy: bool) {
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
    fn retries_are_a_share_of_calls() {
        let guard = Guard::new(Service::Menus, &settings());
        for _ in 0..100 {
            guard.deposit();
        }
        let retries = (0..100).filter(|_| guard.withdraw()).count();
        assert!((5..=15).contains(&retries), "{retries} retries for 100 calls");
    }
}
