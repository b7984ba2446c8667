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
//!
//! **A call nobody waits for is cancelled.** Each caller holds a [`Waiter`] while
//! it waits (taken under the map's lock as it starts or joins the call); it is
//! dropped when the caller stops waiting for whatever reason: the outcome came,
//! its own deadline passed, or its request's future was dropped (the client went
//! away). When the call has ended its entry is gone already and that is all;
//! before then, the last one out decides, under the map's lock, that the call is
//! abandoned: it takes the entry out of the map and aborts the call's task, which
//! closes the upstream connection. As the decision and every join take the same
//! lock, a caller either joined before (and so kept the call alive) or finds no
//! entry and starts a fresh call: nobody ever joins a call being cancelled.
//!
//! The call leaves the map the moment it ends, so nothing is cached here: a drop
//! guard inside its task removes the entry on every exit path (an answer, an
//! error, a panic, an abort, or the task being dropped when the runtime shuts
//! down), so an entry can never outlive its call. A call whose task panics gives
//! its waiters an error.

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
use tokio::task::AbortHandle;
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
    /// Callers waiting for the outcome: one [`Waiter`] each. Changed only under
    /// the map's lock; the entry goes when it reaches zero.
    waiters: usize,
    /// Ends the call's task. Set as soon as the task is spawned, which is before
    /// its first caller can stop waiting (nothing awaits in between).
    abort: Option<AbortHandle>,
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

/// One caller's wait for a flight, from the moment it starts or joins the call
/// (under the map's lock) until it stops waiting, for whatever reason. The last
/// one to go takes the entry out of the map and aborts the call.
struct Waiter {
    map: InFlight,
    key: String,
    id: u64,
}

impl Drop for Waiter {
    fn drop(&mut self) {
        let abandoned = {
            let mut calls = self.map.lock().unwrap_or_else(|p| p.into_inner());
            // No entry of this flight: the call has ended (or was abandoned) already.
            let Some(entry) = calls.get_mut(&self.key).filter(|entry| entry.id == self.id) else {
                return;
            };
            entry.waiters = entry.waiters.saturating_sub(1);
            if entry.waiters > 0 {
                return;
            }
            // Decided under the lock: from here on a caller starts a new call.
            calls.remove(&self.key)
        };
        // Aborted once the lock is released: the task's own guard takes the lock
        // if it is dropped in place (a runtime shutting down).
        if let Some(abort) = abandoned.and_then(|entry| entry.abort) {
            abort.abort();
        }
    }
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
        let (shared, start, waiter) = {
            let mut calls = self.calls.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(flight) = calls.get_mut(&text) {
                CacheCounters::add(&counters.coalesced, 1);
                flight.deadline.extend(deadline);
                flight.waiters += 1;
                let waiter = Waiter {
                    map: self.calls.clone(),
                    key: text,
                    id: flight.id,
                };
                (flight.outcome.clone(), None, waiter)
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
                        waiters: 1,
                        abort: None,
                    },
                );
                let waiter = Waiter {
                    map: self.calls.clone(),
                    key: text.clone(),
                    id,
                };
                let leave = Leave {
                    map: self.calls.clone(),
                    key: text,
                    id,
                };
                (flight, Some((leave, sender, flight_deadline)), waiter)
            }
        };
        // The task starts once the map's lock is released, so the guard can
        // always take it, even when the task is dropped the moment it is spawned.
        if let Some((leave, sender, flight_deadline)) = start {
            let (key, id) = (leave.key.clone(), leave.id);
            let call = run(flight_deadline);
            let task = tokio::spawn(
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
            // This caller's `waiter` is still here, so the entry is (unless the
            // call has ended already): its last waiter will be able to abort it.
            let mut calls = self.calls.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(entry) = calls.get_mut(&key).filter(|entry| entry.id == id) {
                entry.abort = Some(task.abort_handle());
            }
        }
        // Each caller waits until its own deadline only: one whose deadline is
        // shorter than the call's gives up alone. Dropping this future (the
        // client went away) drops `waiter` too.
        let outcome = match deadline {
            Some(deadline) => tokio::time::timeout_at(deadline.into(), shared)
                .await
                .unwrap_or_else(|_| Err(UpstreamError::new(service, route, ErrorKind::DeadlineExceeded))),
            None => shared.await,
        };
        // Done waiting, whatever the outcome: past its deadline, this caller
        // leaves like one whose client went away.
        drop(waiter);
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

    /// How many callers wait for the flight of [`key`] (0: none in flight).
    fn waiters(flights: &Flights) -> usize {
        flights
            .calls
            .lock()
            .unwrap()
            .get(&key())
            .map_or(0, |entry| entry.waiters)
    }

    /// Whether the sender of `dropped` was dropped (the call holding it ended),
    /// waited for 10 s at most: a bound against hanging when it is not, far past
    /// the moment it takes.
    async fn is_dropped(dropped: tokio::sync::oneshot::Receiver<()>) -> bool {
        matches!(tokio::time::timeout(Duration::from_secs(10), dropped).await, Ok(Err(_)))
    }

    /// A call that says when it starts, never ends by itself, and whose future,
    /// when dropped, drops `dropped` (its receiver then reads an error).
    async fn pending_call(
        started: tokio::sync::oneshot::Sender<()>,
        dropped: tokio::sync::oneshot::Sender<()>,
    ) -> Result<Option<Arc<Answer<u32>>>, UpstreamError> {
        let _dropped_with_me = dropped;
        let _ = started.send(());
        std::future::pending::<()>().await;
        answer(0)
    }

    const AT: (Service, &str) = (Service::Restaurants, "GET /x");

    /// A caller, on a task of its own, of a [`pending_call`] that has started;
    /// with the receiver that reads an error once the call's future is dropped.
    async fn caller_of_a_pending_call(
        flights: &Arc<Flights>,
        counters: &Arc<CacheCounters>,
    ) -> (
        tokio::task::JoinHandle<Result<Option<Arc<Answer<u32>>>, UpstreamError>>,
        tokio::sync::oneshot::Receiver<()>,
    ) {
        let (started, has_started) = tokio::sync::oneshot::channel();
        let (dropped, was_dropped) = tokio::sync::oneshot::channel();
        let (flights, counters) = (flights.clone(), counters.clone());
        let caller = tokio::spawn(async move {
            flights
                .join::<u32, _>(&counters, AT, key(), None, move |_| pending_call(started, dropped))
                .await
        });
        has_started.await.unwrap();
        (caller, was_dropped)
    }

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

    #[tokio::test]
    async fn the_last_caller_leaving_cancels_the_call_and_forgets_it() {
        let flights = Arc::new(Flights::default());
        let counters = Arc::new(CacheCounters::default());
        let (caller, was_dropped) = caller_of_a_pending_call(&flights, &counters).await;
        assert_eq!(waiters(&flights), 1);

        // The caller's request goes away (its client disconnected).
        caller.abort();

        assert!(is_dropped(was_dropped).await, "the call's future was dropped");
        assert_eq!(entries(&flights), 0, "the abandoned call's entry is gone");
    }

    #[tokio::test]
    async fn a_caller_past_its_deadline_leaves_too_and_the_call_is_cancelled() {
        let flights = Flights::default();
        let counters = CacheCounters::default();
        let (started, _has_started) = tokio::sync::oneshot::channel();
        let (dropped, was_dropped) = tokio::sync::oneshot::channel();
        let deadline = Instant::now() + Duration::from_millis(8);
        let gave_up = flights
            .join::<u32, _>(&counters, AT, key(), Some(deadline), move |_| {
                pending_call(started, dropped)
            })
            .await;
        assert!(matches!(gave_up, Err(e) if matches!(e.kind, ErrorKind::DeadlineExceeded)));
        assert_eq!(entries(&flights), 0, "gone as its only caller gave up");
        assert!(is_dropped(was_dropped).await, "the call's future was dropped");
    }

    #[tokio::test]
    async fn one_of_two_callers_leaving_lets_the_call_go_on_for_the_other() {
        let flights = Arc::new(Flights::default());
        let counters = Arc::new(CacheCounters::default());
        let runs = Arc::new(AtomicU64::new(0));
        let (release, released) = tokio::sync::oneshot::channel::<()>();
        let (dropped, mut was_dropped) = tokio::sync::oneshot::channel::<()>();
        let caller = |release_on: Option<tokio::sync::oneshot::Receiver<()>>, dropped| {
            let (flights, counters, runs) = (flights.clone(), counters.clone(), runs.clone());
            tokio::spawn(async move {
                flights
                    .join::<u32, _>(&counters, AT, key(), None, move |_| async move {
                        let _dropped_with_me: tokio::sync::oneshot::Sender<()> = dropped;
                        runs.fetch_add(1, Ordering::Relaxed);
                        if let Some(released) = release_on {
                            let _ = released.await;
                        }
                        answer(7)
                    })
                    .await
            })
        };
        let first = caller(Some(released), dropped);
        while runs.load(Ordering::Relaxed) == 0 {
            tokio::task::yield_now().await;
        }
        let (unused, _) = tokio::sync::oneshot::channel();
        let second = caller(None, unused);
        while counters.snapshot().coalesced == 0 {
            tokio::task::yield_now().await;
        }
        assert_eq!(waiters(&flights), 2);

        // The first caller's request goes away; once its task is gone, so is its wait.
        first.abort();
        assert!(first.await.is_err_and(|e| e.is_cancelled()));
        assert_eq!(waiters(&flights), 1, "the second still waits");
        assert!(
            matches!(
                was_dropped.try_recv(),
                Err(tokio::sync::oneshot::error::TryRecvError::Empty)
            ),
            "the call goes on"
        );

        let _ = release.send(());
        assert_eq!(second.await.unwrap().unwrap().unwrap().value, 7);
        assert_eq!(runs.load(Ordering::Relaxed), 1, "one call for both");
        assert_eq!(entries(&flights), 0);
    }

    #[tokio::test]
    async fn a_caller_after_the_cancel_starts_a_new_call() {
        let flights = Arc::new(Flights::default());
        let counters = Arc::new(CacheCounters::default());
        let (abandoned, was_dropped) = caller_of_a_pending_call(&flights, &counters).await;
        abandoned.abort();
        assert!(abandoned.await.is_err_and(|e| e.is_cancelled()));
        // The entry went with the last caller, before the call's task was even
        // aborted: whatever that task does next, a new caller does not join it.
        assert_eq!(entries(&flights), 0);

        let next = flights
            .join::<u32, _>(&counters, AT, key(), None, |_| async { answer(2) })
            .await;
        assert_eq!(next.unwrap().unwrap().value, 2, "a new call ran");
        assert_eq!(counters.snapshot().coalesced, 0, "nobody joined the cancelled call");
        assert!(is_dropped(was_dropped).await, "the abandoned call was cancelled");
        assert_eq!(entries(&flights), 0);
    }
}
