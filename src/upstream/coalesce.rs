//! Single-flight: identical upstream calls in flight at the same moment share one.
//!
//! The key is the method, the URL, the body, the `X-User-Id` and the decoded type,
//! so a private answer is only ever shared between requests of the same user, and
//! [`Upstreams::send`](super::Upstreams) only asks for sharing of `GET`s and of
//! `POST`s without a user (the contract's public `POST /estimates`).
//!
//! The first caller's call runs on its own task: a follower is not cancelled when
//! the first caller's request ends. **The shared call runs under the latest
//! deadline among the requests waiting for it** ([`FlightDeadline`]): a follower
//! with a later deadline extends it, even while an attempt is under way. Each
//! caller waits for the outcome only until its own deadline, so a request whose
//! deadline is shorter gives up alone (`DEADLINE_EXCEEDED` for it, the call goes
//! on for the others): a client that sends `X-Request-Timeout-Ms: 8` cannot make
//! another user's request fail.
//! The call leaves the map the moment it ends, so nothing is cached here: a drop
//! guard inside its task removes the entry on every exit path (an answer, an
//! error, a panic, or the task being dropped when the runtime shuts down), so an
//! entry can never outlive its call.

use std::{
    any::Any,
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
};

use std::time::Instant;

use futures_util::{
    FutureExt,
    future::{BoxFuture, Shared},
};
use reqwest::Method;
use tracing::Instrument;
use url::Url;

use super::{ErrorKind, Service, UpstreamError, UserId, cache::CacheCounters, http::Answer};

type Flight = Result<Option<Arc<dyn Any + Send + Sync>>, UpstreamError>;
type InFlight = Arc<Mutex<HashMap<String, Entry>>>;

/// One call in flight: its shared outcome, and which flight it is (a key's entry
/// is removed only by the flight that put it there).
struct Entry {
    id: u64,
    outcome: Shared<BoxFuture<'static, Flight>>,
    deadline: Arc<FlightDeadline>,
}

/// The deadline a shared call runs under: the latest among the requests that
/// wait for it (`None`: one of them has none). It only ever moves later.
#[derive(Debug)]
pub(super) struct FlightDeadline(Mutex<Option<Instant>>);

impl FlightDeadline {
    /// A flight's deadline, starting at its first caller's.
    pub fn new(deadline: Option<Instant>) -> Self {
        Self(Mutex::new(deadline))
    }

    /// The deadline now.
    pub fn get(&self) -> Option<Instant> {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Moves the deadline to `deadline` if that is later (`None` is latest).
    pub fn extend(&self, deadline: Option<Instant>) {
        let mut current = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *current = match (*current, deadline) {
            (Some(current), Some(deadline)) => Some(current.max(deadline)),
            _ => None,
        };
    }
}

/// The calls in flight, by key.
#[derive(Default)]
pub(super) struct Flights {
    calls: InFlight,
    next_id: AtomicU64,
}

/// Removes its flight's entry from the map when dropped: when the call ends, and
/// also when its task panics or is dropped unfinished.
struct Leave {
    map: InFlight,
    key: String,
    id: u64,
}

impl Drop for Leave {
    fn drop(&mut self) {
        let mut calls = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if calls.get(&self.key).is_some_and(|entry| entry.id == self.id) {
            calls.remove(&self.key);
        }
    }
}

/// What identifies a call for sharing.
pub(super) struct FlightKey<'a> {
    pub method: &'a Method,
    pub url: &'a Url,
    pub body: Option<&'a [u8]>,
    pub user: Option<UserId>,
}

impl Flights {
    /// Joins the identical call in flight, or starts `run` as that call; `run` is
    /// given the call's [`FlightDeadline`], which it must obey. The caller, whose
    /// request is due at `deadline`, waits for the outcome until then at most.
    pub async fn join<V, Fut>(
        &self,
        counters: &CacheCounters,
        (service, route): (Service, &'static str),
        text: String,
        deadline: Option<Instant>,
        run: impl FnOnce(Arc<FlightDeadline>) -> Fut,
    ) -> Result<Option<Arc<Answer<V>>>, UpstreamError>
    where
        V: Send + Sync + 'static,
        Fut: Future<Output = Result<Option<Arc<Answer<V>>>, UpstreamError>> + Send + 'static,
    {
        let (shared, start) = {
            let mut calls = self.calls.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(flight) = calls.get(&text) {
                CacheCounters::add(&counters.coalesced, 1);
                flight.deadline.extend(deadline);
                (flight.outcome.clone(), None)
            } else {
                let flight_deadline = Arc::new(FlightDeadline::new(deadline));
                let id = self.next_id.fetch_add(1, Ordering::Relaxed);
                let (sender, receiver) = tokio::sync::oneshot::channel::<Flight>();
                // A call that never delivers its outcome (it panicked, or its task
                // was dropped) drops the sender: its followers get an error.
                let flight = async move {
                    receiver.await.unwrap_or_else(|_| {
                        Err(UpstreamError::new(
                            service,
                            route,
                            ErrorKind::Connect("the call's task ended abnormally".into()),
                        ))
                    })
                }
                .boxed()
                .shared();
                calls.insert(
                    text.clone(),
                    Entry {
                        id,
                        outcome: flight.clone(),
                        deadline: flight_deadline.clone(),
                    },
                );
                let leave = Leave {
                    map: self.calls.clone(),
                    key: text,
                    id,
                };
                (flight, Some((leave, sender, flight_deadline)))
            }
        };
        // The task starts once the map's lock is released, so the guard can
        // always take it, even when the task is dropped the moment it is spawned.
        if let Some((leave, sender, flight_deadline)) = start {
            let call = run(flight_deadline);
            tokio::spawn(
                async move {
                    // Owned by the task: whatever ends the task ends the entry.
                    let leave = leave;
                    let result = call.await;
                    // Out of the map before anyone sees the outcome, so a caller
                    // that tries again starts a new call.
                    drop(leave);
                    let _ = sender.send(result.map(|answer| answer.map(|a| a as Arc<dyn Any + Send + Sync>)));
                }
                .in_current_span(),
            );
        }
        // Each caller waits until its own deadline only: one whose deadline is
        // shorter than the call's gives up alone.
        let outcome = match deadline {
            Some(deadline) => tokio::time::timeout_at(deadline.into(), shared)
                .await
                .unwrap_or_else(|_| Err(UpstreamError::new(service, route, ErrorKind::DeadlineExceeded))),
            None => shared.await,
        };
        let answer = outcome?;
        Ok(answer.and_then(|any| any.downcast::<Answer<V>>().ok()))
    }
}

impl FlightKey<'_> {
    /// The key as text, for answers decoded as `V`.
    pub fn text<V>(&self) -> String {
        let body = self.body.map(String::from_utf8_lossy).unwrap_or_default();
        let user = self.user.map(|u| u.0.to_string()).unwrap_or_default();
        format!(
            "{} {} user={user} as={}\n{body}",
            self.method,
            self.url,
            std::any::type_name::<V>()
        )
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn key() -> String {
        "GET http://upstream/x user= as=u32\n".to_owned()
    }

    fn answer(value: u32) -> Result<Option<Arc<Answer<u32>>>, UpstreamError> {
        Ok(Some(Arc::new(Answer { value, max_age: None })))
    }

    fn entries(flights: &Flights) -> usize {
        flights.calls.lock().unwrap().len()
    }

    const AT: (Service, &str) = (Service::Restaurants, "GET /x");

    #[tokio::test]
    async fn a_call_that_panics_leaves_no_entry_and_the_next_call_runs_anew() {
        let flights = Flights::default();
        let counters = CacheCounters::default();
        let failed = flights
            .join::<u32, _>(&counters, AT, key(), None, |_| async {
                if entries_marker() {
                    panic!("a bug inside the shared call");
                }
                answer(1)
            })
            .await;
        assert!(matches!(failed, Err(e) if matches!(e.kind, ErrorKind::Connect(_))));
        assert_eq!(entries(&flights), 0, "the panicked call's entry is gone");

        let next = flights
            .join::<u32, _>(&counters, AT, key(), None, |_| async { answer(2) })
            .await;
        assert_eq!(next.unwrap().unwrap().value, 2, "a new call ran, not the dead one");
        assert_eq!(entries(&flights), 0);
    }

    /// `true`, in a way the compiler does not see through (so the closure above
    /// still has a non-`!` output type).
    fn entries_marker() -> bool {
        std::hint::black_box(true)
    }

    #[tokio::test]
    async fn followers_share_one_call_and_the_entry_goes_when_it_ends() {
        let flights = Arc::new(Flights::default());
        let counters = Arc::new(CacheCounters::default());
        let (release, released) = tokio::sync::oneshot::channel::<()>();
        let leader = {
            let (flights, counters) = (flights.clone(), counters.clone());
            tokio::spawn(async move {
                flights
                    .join::<u32, _>(&counters, AT, key(), None, |_| async move {
                        let _ = released.await;
                        answer(7)
                    })
                    .await
            })
        };
        // Wait (on a condition, not a clock) for the leader's entry.
        while entries(&flights) == 0 {
            tokio::task::yield_now().await;
        }
        let follower = {
            let (flights, counters) = (flights.clone(), counters.clone());
            tokio::spawn(async move {
                flights
                    .join::<u32, _>(&counters, AT, key(), None, |_| async { answer(8) })
                    .await
            })
        };
        while counters.snapshot().coalesced == 0 {
            tokio::task::yield_now().await;
        }
        let _ = release.send(());
        assert_eq!(follower.await.unwrap().unwrap().unwrap().value, 7);
        assert_eq!(leader.await.unwrap().unwrap().unwrap().value, 7);
        assert_eq!(counters.snapshot().coalesced, 1);
        assert_eq!(entries(&flights), 0);
    }

    #[test]
    fn a_flight_deadline_only_moves_later() {
        let now = Instant::now();
        let deadline = FlightDeadline::new(Some(now + Duration::from_millis(8)));
        deadline.extend(Some(now + Duration::from_millis(2)));
        assert_eq!(deadline.get(), Some(now + Duration::from_millis(8)));
        deadline.extend(Some(now + Duration::from_secs(2)));
        assert_eq!(deadline.get(), Some(now + Duration::from_secs(2)));
        deadline.extend(None);
        assert_eq!(deadline.get(), None);
        deadline.extend(Some(now));
        assert_eq!(deadline.get(), None);
    }

    #[tokio::test]
    async fn a_follower_extends_the_deadline_and_a_short_caller_gives_up_alone() {
        let flights = Arc::new(Flights::default());
        let counters = Arc::new(CacheCounters::default());
        let now = Instant::now();
        let (seen, mut deadlines) = tokio::sync::mpsc::unbounded_channel::<Arc<FlightDeadline>>();
        let (release, released) = tokio::sync::oneshot::channel::<()>();
        // The first caller's request is due in 8 ms.
        let short = {
            let (flights, counters) = (flights.clone(), counters.clone());
            tokio::spawn(async move {
                flights
                    .join::<u32, _>(&counters, AT, key(), Some(now + Duration::from_millis(8)), |d| {
                        let _ = seen.send(d);
                        async move {
                            let _ = released.await;
                            answer(7)
                        }
                    })
                    .await
            })
        };
        let flight_deadline = deadlines.recv().await.unwrap();
        let long = {
            let (flights, counters) = (flights.clone(), counters.clone());
            tokio::spawn(async move {
                flights
                    .join::<u32, _>(&counters, AT, key(), Some(now + Duration::from_secs(30)), |_| async {
                        answer(8)
                    })
                    .await
            })
        };
        while counters.snapshot().coalesced == 0 {
            tokio::task::yield_now().await;
        }
        assert_eq!(flight_deadline.get(), Some(now + Duration::from_secs(30)));
        // The short caller gives up at its own deadline; the call goes on.
        let gave_up = short.await.unwrap();
        assert!(matches!(gave_up, Err(e) if matches!(e.kind, ErrorKind::DeadlineExceeded)));
        assert_eq!(entries(&flights), 1);
        let _ = release.send(());
        assert_eq!(long.await.unwrap().unwrap().unwrap().value, 7);
    }

    #[test]
    fn a_call_dropped_with_its_runtime_leaves_no_entry() {
        let flights = Arc::new(Flights::default());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let joined = {
            let flights = flights.clone();
            runtime.spawn(async move {
                let counters = CacheCounters::default();
                flights
                    .join::<u32, _>(&counters, AT, key(), None, |_| std::future::pending())
                    .await
            })
        };
        runtime.block_on(async {
            while entries(&flights) == 0 {
                tokio::task::yield_now().await;
            }
        });
        drop(joined);
        drop(runtime);
        assert_eq!(entries(&flights), 0, "the dropped call's entry is gone");
    }
}
