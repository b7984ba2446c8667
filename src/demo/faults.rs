//! Latency and fault settings per service, shared by every call and changed at run
//! time through the admin API.
//!
//! Semantics: setting a service's faults **replaces** them whole (fields left out of
//! a `PUT` are 0 / `false`); `"*"` replaces every service's. A reset restores the
//! start-up baseline: [`super::DemoConfig::latency`] on every service, nothing else
//! (with the default config that is no faults at all).

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::service::Service;

/// The longest latency or jitter the demo accepts: one hour.
const MAX_DELAY_MS: u64 = 3_600_000;

/// How one service misbehaves. The default is a healthy service.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Fault {
    /// Fixed delay before every answer, in milliseconds.
    pub latency_ms: u64,
    /// Extra delay drawn uniformly from `0..=jitterMs`, in milliseconds.
    pub jitter_ms: u64,
    /// Share of calls (0.0–1.0) answered `503 {"error": "injected failure"}`.
    pub error_rate: f64,
    /// Hold calls open without answering (until the client gives up or the demo
    /// shuts down).
    pub hang: bool,
    /// Answer `200` with a body that is not valid JSON.
    pub malformed: bool,
    /// Act after the call was handled instead of before: a write is made and kept,
    /// its answer lost (to a `503`, a hang or a malformed body), as when a network
    /// fails on the way back.
    pub after_commit: bool,
}

impl Fault {
    /// A healthy service that answers after `latency`.
    pub fn latency(latency: Duration) -> Fault {
        Fault {
            latency_ms: u64::try_from(latency.as_millis()).unwrap_or(MAX_DELAY_MS),
            ..Fault::default()
        }
    }

    /// Why these settings are not acceptable, if they are not.
    pub fn problem(&self) -> Option<String> {
        if !(0.0..=1.0).contains(&self.error_rate) {
            return Some("errorRate must be between 0 and 1".to_owned());
        }
        if self.latency_ms > MAX_DELAY_MS || self.jitter_ms > MAX_DELAY_MS {
            return Some(format!("latencyMs and jitterMs must be at most {MAX_DELAY_MS}"));
        }
        None
    }

    /// The delay for one call: the latency plus a fresh draw of jitter.
    pub(crate) fn delay(&self) -> Duration {
        let jitter = if self.jitter_ms == 0 {
            0
        } else {
            fastrand::u64(0..=self.jitter_ms)
        };
        Duration::from_millis(self.latency_ms.saturating_add(jitter))
    }

    /// Whether this call is one of the `errorRate` share that fails.
    pub(crate) fn fails_now(&self) -> bool {
        self.error_rate > 0.0 && fastrand::f64() < self.error_rate
    }
}

/// The current settings of every service, behind a briefly held lock.
#[derive(Debug)]
pub(crate) struct Faults {
    baseline: Fault,
    current: Mutex<[Fault; Service::ALL.len()]>,
}

impl Faults {
    /// Every service starts (and resets) with `baseline`.
    pub(crate) fn new(baseline: Fault) -> Faults {
        Faults {
            baseline,
            current: Mutex::new([baseline; Service::ALL.len()]),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut [Fault; Service::ALL.len()]) -> R) -> R {
        f(&mut self.current.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// One service's settings.
    pub(crate) fn get(&self, service: Service) -> Fault {
        self.with(|all| all[service.index()])
    }

    /// Replaces one service's settings, or every service's with `None`.
    pub(crate) fn set(&self, service: Option<Service>, fault: Fault) {
        self.with(|all| match service {
            Some(s) => all[s.index()] = fault,
            None => *all = [fault; Service::ALL.len()],
        });
    }

    /// Every service's settings, in contract order.
    pub(crate) fn all(&self) -> Vec<(Service, Fault)> {
        let all = self.with(|all| *all);
        Service::ALL.into_iter().zip(all).collect()
    }

    /// Back to the start-up baseline.
    pub(crate) fn reset(&self) {
        self.set(None, self.baseline);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_replaces_and_reset_restores_the_baseline() {
        let baseline = Fault::latency(Duration::from_millis(5));
        let faults = Faults::new(baseline);
        let broken = Fault {
            error_rate: 1.0,
            ..Fault::default()
        };
        faults.set(Some(Service::Menus), broken);
        assert_eq!(faults.get(Service::Menus), broken);
        assert_eq!(faults.get(Service::Users), baseline);
        faults.set(None, Fault::default());
        assert_eq!(faults.get(Service::Users), Fault::default());
        faults.reset();
        assert!(faults.all().iter().all(|(_, f)| *f == baseline));
    }

    #[test]
    fn bad_settings_are_named() {
        let f = Fault {
            error_rate: 1.5,
            ..Fault::default()
        };
        assert!(f.problem().is_some());
        let f = Fault {
            error_rate: f64::NAN,
            ..Fault::default()
        };
        assert!(f.problem().is_some());
        assert!(Fault::default().problem().is_none());
        let d = Fault {
            latency_ms: 3,
            jitter_ms: 2,
            ..Fault::default()
        }
        .delay();
        assert!((3..=5).contains(&d.as_millis()));
    }
}
