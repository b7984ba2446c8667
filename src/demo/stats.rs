//! Call statistics: calls and ids per route, and the `X-User-Id` values seen, since
//! start or the last reset. Tests read them to prove batching and to prove the
//! gateway never asked about another user.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

use serde::{Deserialize, Serialize};

/// What `GET /_admin/stats` answers. Route keys read `"<service> <METHOD> <route>"`
/// with the route as a template: `"users GET /users/{id}/addresses"`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatsSnapshot {
    /// Calls per route, counted on arrival (so hung and failed calls count too).
    pub calls: BTreeMap<String, u64>,
    /// Ids asked for per route: a batch's entries as sent (duplicates included), 1
    /// for a single-resource call.
    pub ids: BTreeMap<String, u64>,
    /// Calls per `X-User-Id` value, for calls that carried one.
    pub user_ids: BTreeMap<String, u64>,
}

impl StatsSnapshot {
    /// Calls to one route key (0 if none).
    pub fn calls_to(&self, route: &str) -> u64 {
        self.calls.get(route).copied().unwrap_or(0)
    }

    /// Ids asked of one route key (0 if none).
    pub fn ids_of(&self, route: &str) -> u64 {
        self.ids.get(route).copied().unwrap_or(0)
    }

    /// Calls in all.
    pub fn total_calls(&self) -> u64 {
        self.calls.values().sum()
    }
}

/// The live counters, behind a briefly held lock (never across an `.await`).
#[derive(Debug, Default)]
pub(crate) struct Stats(Mutex<StatsSnapshot>);

impl Stats {
    fn with<R>(&self, f: impl FnOnce(&mut StatsSnapshot) -> R) -> R {
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Counts one call to `route` asking for `ids` ids, from `user` if named.
    pub(crate) fn record(&self, route: &str, ids: u64, user: Option<&str>) {
        self.with(|s| {
            *s.calls.entry(route.to_owned()).or_default() += 1;
            *s.ids.entry(route.to_owned()).or_default() += ids;
            if let Some(user) = user {
                *s.user_ids.entry(user.to_owned()).or_default() += 1;
            }
        });
    }

    /// A copy of the counters.
    pub(crate) fn snapshot(&self) -> StatsSnapshot {
        self.with(|s| s.clone())
    }

    /// Zeroes every counter.
    pub(crate) fn reset(&self) {
        self.with(|s| *s = StatsSnapshot::default());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_add_up_and_reset_clears() {
        let stats = Stats::default();
        stats.record("menus GET /menus", 3, Some("42"));
        stats.record("menus GET /menus", 2, None);
        let s = stats.snapshot();
        assert_eq!((s.calls_to("menus GET /menus"), s.ids_of("menus GET /menus")), (2, 5));
        assert_eq!(s.user_ids.get("42"), Some(&1));
        stats.reset();
        assert_eq!(stats.snapshot(), StatsSnapshot::default());
    }
}
