//! The root of every subscription, and the shared poll behind `orderUpdated`.
//!
//! The orders service does not push: the gateway reads an order (call 17, with
//! `If-None-Match`) every `subscriptions.poll_interval`. There is one poll per
//! (user, order) for the whole process, however many subscribers follow it; it
//! starts with the first subscriber and stops with the last, or when the order
//! is final. Subscribers get only changes (a new version). A poll is keyed by the
//! token's user, so a subscriber never shares another user's poll: another
//! user's order is the upstream's `404`, an error, even while its owner follows it.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, Weak},
    time::{Duration, Instant},
};

use async_graphql::{Context, ID, Subscription as SubscriptionObject};
use futures_util::{Stream, StreamExt, stream};
use tokio::sync::watch;

use super::{
    common::numeric_id,
    error::{self, Code},
    order::Order,
    scope::RequestScope,
};
use crate::upstream::{self, OrderId, OrderRead, UpstreamError, Upstreams, UserId};

/// What the app can follow live.
pub struct Subscription;

/// What the app can follow live (over WebSocket, `graphql-transport-ws`, or
/// Server-Sent Events). Every subscription needs a token.
#[SubscriptionObject]
impl Subscription {
    /// One of the user's orders: its current state at once, then the order
    /// again whenever it changes (status, estimate, courier position). Completes
    /// after `DELIVERED` or `CANCELLED` (an order already final: one event, then
    /// complete). An order the user does not have is a `NOT_FOUND` error.
    async fn order_updated(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The order's id.")] id: ID,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<Order>> + use<>> {
        let viewer = RequestScope::of(ctx).viewer()?;
        let id = OrderId(numeric_id(&id, "order")?);
        let polls = ctx
            .data_opt::<Polls>()
            .ok_or_else(|| error::bad_input("subscriptions are served over WebSocket or Server-Sent Events"))?;
        Ok(polls.follow(viewer.id, id))
    }
}

/// What a poll last learnt.
#[derive(Clone)]
enum Seen {
    /// Nothing yet.
    Nothing,
    /// The order, as of its latest version.
    Order(Arc<upstream::Order>),
    /// The user has no such order.
    NotFound,
    /// Too many polls failed in a row.
    Failed(UpstreamError),
}

/// One (user, order)'s poll: its latest answer, shared by all its subscribers.
struct Poll {
    seen: watch::Receiver<Seen>,
    /// When a poll last succeeded (a `200` or a `304`).
    fresh_at: Arc<Mutex<Option<Instant>>>,
    task: tokio::task::AbortHandle,
    key: (UserId, OrderId),
    registry: Weak<Registry>,
}

impl Drop for Poll {
    fn drop(&mut self) {
        self.task.abort();
        if let Some(registry) = self.registry.upgrade()
            && let Ok(mut map) = registry.lock()
            && map.get(&self.key).is_some_and(|w| w.strong_count() == 0)
        {
            map.remove(&self.key);
        }
    }
}

/// The running polls by (user, order).
type Registry = Mutex<HashMap<(UserId, OrderId), Weak<Poll>>>;

/// Every poll of the process. Cheap to clone.
#[derive(Clone)]
pub struct Polls {
    upstreams: Upstreams,
    interval: Duration,
    max_failures: u32,
    polls: Arc<Registry>,
}

impl Polls {
    /// Polls through `upstreams` every `interval`; a poll gives up after
    /// `max_failures` failures in a row.
    pub fn new(upstreams: Upstreams, interval: Duration, max_failures: u32) -> Self {
        Self {
            upstreams,
            interval,
            max_failures: max_failures.max(1),
            polls: Arc::default(),
        }
    }

    /// How many (user, order) polls run now.
    pub fn running(&self) -> usize {
        self.polls
            .lock()
            .map(|m| m.values().filter(|w| w.strong_count() > 0).count())
            .unwrap_or(0)
    }

    /// The poll of (`user`, `order`), started if none runs.
    fn poll(&self, user: UserId, order: OrderId) -> Arc<Poll> {
        let key = (user, order);
        let mut map = self.polls.lock().expect("the poll registry is never poisoned");
        if let Some(poll) = map.get(&key).and_then(Weak::upgrade) {
            return poll;
        }
        let (tx, rx) = watch::channel(Seen::Nothing);
        let fresh_at = Arc::new(Mutex::new(None));
        let task = tokio::spawn(run_poll(
            self.upstreams.clone(),
            key,
            self.interval,
            self.max_failures,
            tx,
            fresh_at.clone(),
        ))
        .abort_handle();
        let poll = Arc::new(Poll {
            seen: rx,
            fresh_at,
            task,
            key,
            registry: Arc::downgrade(&self.polls),
        });
        map.insert(key, Arc::downgrade(&poll));
        poll
    }

    /// The events of `user`'s order `id`: its state now, then each change, until
    /// it is final.
    pub fn follow(&self, user: UserId, id: OrderId) -> impl Stream<Item = async_graphql::Result<Order>> + use<> {
        let poll = self.poll(user, id);
        let upstreams = self.upstreams.clone();
        let interval = self.interval;
        let state = Follow {
            poll,
            upstreams,
            interval,
            last_version: None,
            done: false,
            first: true,
        };
        stream::unfold(state, |mut state| async move {
            if state.done {
                return None;
            }
            let event = state.next().await;
            match &event {
                Err(_) => state.done = true,
                Ok(order) if order.is_final() => state.done = true,
                Ok(_) => {}
            }
            Some((event.map(|o| Order::new((*o).clone())), state))
        })
        .fuse()
    }
}

/// One subscriber's place in a poll.
struct Follow {
    poll: Arc<Poll>,
    upstreams: Upstreams,
    interval: Duration,
    last_version: Option<u64>,
    done: bool,
    first: bool,
}

impl Follow {
    /// The next event: the state now (the first time), else the next change.
    async fn next(&mut self) -> async_graphql::Result<Arc<upstream::Order>> {
        if std::mem::take(&mut self.first) {
            let fresh =
                (*self.poll.fresh_at.lock().expect("never poisoned")).is_some_and(|at| at.elapsed() < self.interval);
            let seen = self.poll.seen.borrow().clone();
            match seen {
                // The shared poll's latest answer is fresh: no call.
                Seen::Order(order) if fresh => return self.take(order),
                // The poll has not answered yet: its first answer is this one's.
                Seen::Nothing => {}
                // Stale: read the order now (the poll goes on at its pace).
                Seen::Order(_) => {
                    let user = self.poll.key.0;
                    match self.upstreams.live_order(user, self.poll.key.1, None).await {
                        Ok(OrderRead::Current(order)) => return self.take(Arc::new(*order)),
                        Ok(_) => return Err(not_found()),
                        Err(e) => return Err(error::upstream(&e)),
                    }
                }
                other => return self.outcome(other),
            }
        }
        let mut seen = self.poll.seen.clone();
        loop {
            let current = seen.borrow_and_update().clone();
            match current {
                Seen::Nothing => {}
                Seen::Order(order) if Some(order.version()) <= self.last_version => {}
                other => return self.outcome(other),
            }
            if seen.changed().await.is_err() {
                // The poll ended without a final state: only on abort.
                return Err(error::coded(Code::UpstreamUnavailable, "the order's updates stopped"));
            }
        }
    }

    fn take(&mut self, order: Arc<upstream::Order>) -> async_graphql::Result<Arc<upstream::Order>> {
        self.last_version = Some(order.version());
        Ok(order)
    }

    fn outcome(&mut self, seen: Seen) -> async_graphql::Result<Arc<upstream::Order>> {
        match seen {
            Seen::Order(order) => self.take(order),
            Seen::NotFound | Seen::Nothing => Err(not_found()),
            Seen::Failed(e) => Err(error::upstream(&e)),
        }
    }
}

fn not_found() -> async_graphql::Error {
    error::coded(Code::NotFound, "you have no order with this id")
}

/// The poll's task: call 17 every `interval`, with the version it knows, until
/// the order is final or gone, or `max_failures` polls in a row failed.
async fn run_poll(
    upstreams: Upstreams,
    (user, id): (UserId, OrderId),
    interval: Duration,
    max_failures: u32,
    tx: watch::Sender<Seen>,
    fresh_at: Arc<Mutex<Option<Instant>>>,
) {
    let mut known: Option<u64> = None;
    let mut failures = 0;
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match upstreams.live_order(user, id, known).await {
            Ok(OrderRead::Current(order)) => {
                failures = 0;
                *fresh_at.lock().expect("never poisoned") = Some(Instant::now());
                let final_state = order.is_final();
                if Some(order.version()) != known {
                    known = Some(order.version());
                    tx.send_replace(Seen::Order(Arc::new(*order)));
                }
                if final_state {
                    return;
                }
            }
            Ok(OrderRead::NotModified) => {
                failures = 0;
                *fresh_at.lock().expect("never poisoned") = Some(Instant::now());
            }
            Ok(OrderRead::NotFound) => {
                tx.send_replace(Seen::NotFound);
                return;
            }
            Err(e) => {
                failures += 1;
                tracing::debug!(order = id.0, failures, error = %e, "polling an order failed");
                if failures >= max_failures {
                    tx.send_replace(Seen::Failed(e));
                    return;
                }
            }
        }
    }
}
