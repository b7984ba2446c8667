//! The demo's only state besides counters and faults: orders placed through call 18
//! and favourites changed through calls 20-21. Held in memory, bounded (100,000
//! placed orders, the oldest dropped; at most 200 favourites per user), cleared by
//! `POST /_admin/reset`. Placed order ids start at 20,000,001 and are never reused
//! within a process, not even after a reset.
//!
//! A placed order is stored as what never changes (lines, total, placement time,
//! where from and where to, when cancelled); its status and tracking are computed
//! on every read from the demo clock ([`crate::demo::data::live_state`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Mutex, PoisonError};

use super::data::live_state;
use super::wire::{Location, Order, OrderStatus};

/// The id of the first order placed in a process.
pub const FIRST_PLACED_ORDER_ID: u64 = 20_000_001;
/// Placed orders kept; beyond it the oldest is dropped.
pub const MAX_PLACED_ORDERS: usize = 100_000;
/// Favourites a user may have.
pub const MAX_FAVOURITES: usize = 200;

/// One placed order as stored.
#[derive(Debug, Clone)]
pub(crate) struct Placed {
    /// The order as placed (status `PLACED`, tracking at placement).
    pub(crate) order: Order,
    /// When, on the demo clock (Unix milliseconds).
    pub(crate) placed_ms: i64,
    /// Demo milliseconds after placement at which it was cancelled, if it was.
    pub(crate) cancelled_after_ms: Option<i64>,
    /// The restaurant's location, where the courier starts.
    pub(crate) from: Location,
    /// The address's location, where the courier ends.
    pub(crate) to: Location,
}

impl Placed {
    /// The order as it stands at demo time `now_ms`.
    pub(crate) fn at(&self, now_ms: i64) -> Order {
        let state = live_state(
            now_ms.saturating_sub(self.placed_ms),
            self.cancelled_after_ms,
            self.placed_ms,
            self.from,
            self.to,
        );
        Order {
            status: state.status,
            tracking: state.tracking,
            ..self.order.clone()
        }
    }
}

/// Why a cancel did not happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CancelRefused {
    /// No placed order with that id for that user.
    Unknown,
    /// The order is past `PLACED`.
    NotPlaced,
}

#[derive(Debug)]
struct Inner {
    next_id: u64,
    placed: BTreeMap<u64, Placed>,
    by_user: HashMap<u64, BTreeSet<u64>>,
    favourites: HashMap<u64, Vec<u64>>,
}

impl Inner {
    fn new(next_id: u64) -> Inner {
        Inner {
            next_id,
            placed: BTreeMap::new(),
            by_user: HashMap::new(),
            favourites: HashMap::new(),
        }
    }
}

/// The state, behind a briefly held lock (never across an `.await`).
#[derive(Debug)]
pub(crate) struct Store {
    capacity: usize,
    inner: Mutex<Inner>,
}

impl Default for Store {
    fn default() -> Self {
        Store::with_capacity(MAX_PLACED_ORDERS)
    }
}

impl Store {
    /// A store keeping at most `capacity` placed orders.
    pub(crate) fn with_capacity(capacity: usize) -> Store {
        Store {
            capacity: capacity.max(1),
            inner: Mutex::new(Inner::new(FIRST_PLACED_ORDER_ID)),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        f(&mut self.inner.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Stores the order `build` makes from the next id, dropping the oldest placed
    /// order if the store is full; answers what was stored.
    pub(crate) fn place(&self, build: impl FnOnce(u64) -> Placed) -> Placed {
        self.with(|inner| {
            let id = inner.next_id;
            inner.next_id += 1;
            let placed = build(id);
            let user = placed.order.user_id;
            inner.placed.insert(id, placed.clone());
            inner.by_user.entry(user).or_default().insert(id);
            while inner.placed.len() > self.capacity {
                let Some((old, dropped)) = inner.placed.pop_first() else {
                    break;
                };
                let owner = dropped.order.user_id;
                if let Some(ids) = inner.by_user.get_mut(&owner) {
                    ids.remove(&old);
                    if ids.is_empty() {
                        inner.by_user.remove(&owner);
                    }
                }
            }
            placed
        })
    }

    /// A placed order of `user`, if there is one with that id.
    pub(crate) fn get(&self, user: u64, id: u64) -> Option<Placed> {
        self.with(|inner| inner.placed.get(&id).filter(|p| p.order.user_id == user).cloned())
    }

    /// Cancels `user`'s placed order `id` at demo time `now_ms` if it is still
    /// `PLACED` then; answers it as stored.
    pub(crate) fn cancel(&self, user: u64, id: u64, now_ms: i64) -> Result<Placed, CancelRefused> {
        self.with(|inner| {
            let placed = inner
                .placed
                .get_mut(&id)
                .filter(|p| p.order.user_id == user)
                .ok_or(CancelRefused::Unknown)?;
            if placed.at(now_ms).status != OrderStatus::Placed {
                return Err(CancelRefused::NotPlaced);
            }
            placed.cancelled_after_ms = Some(now_ms.saturating_sub(placed.placed_ms).max(0));
            Ok(placed.clone())
        })
    }

    /// Up to `limit` of `user`'s placed orders, newest first, only those with ids
    /// below `before` when given; and how many placed orders the user has in all.
    pub(crate) fn page(&self, user: u64, before: Option<u64>, limit: usize) -> (Vec<Placed>, usize) {
        self.with(|inner| {
            let Some(ids) = inner.by_user.get(&user) else {
                return (Vec::new(), 0);
            };
            let page = ids
                .range(..before.unwrap_or(u64::MAX))
                .rev()
                .take(limit)
                .filter_map(|id| inner.placed.get(id).cloned())
                .collect();
            (page, ids.len())
        })
    }

    /// `user`'s favourites as changed through calls 20-21, or `None` if never changed.
    pub(crate) fn favourites(&self, user: u64) -> Option<Vec<u64>> {
        self.with(|inner| inner.favourites.get(&user).cloned())
    }

    /// Changes `user`'s favourites: `edit` gets the current list (`generated` when
    /// never changed before) and may change it.
    pub(crate) fn edit_favourites<R>(
        &self,
        user: u64,
        generated: impl FnOnce() -> Vec<u64>,
        edit: impl FnOnce(&mut Vec<u64>) -> R,
    ) -> R {
        self.with(|inner| edit(inner.favourites.entry(user).or_insert_with(generated)))
    }

    /// Placed orders held now.
    #[cfg(test)]
    pub(crate) fn placed_count(&self) -> usize {
        self.with(|inner| inner.placed.len())
    }

    /// Forgets every placed order and favourite change; ids keep counting up.
    pub(crate) fn reset(&self) {
        self.with(|inner| *inner = Inner::new(inner.next_id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::data::fixed_tracking;
    use crate::demo::wire::Money;

    fn order_for(user: u64) -> impl FnOnce(u64) -> Placed {
        move |id| Placed {
            order: Order {
                id,
                user_id: user,
                restaurant_id: 6,
                placed_at: String::new(),
                status: OrderStatus::Placed,
                items: Vec::new(),
                total: Money::eur(0),
                tracking: fixed_tracking(42, OrderStatus::Placed, 0, 6),
            },
            placed_ms: 1_000_000,
            cancelled_after_ms: None,
            from: Location { lat: 52.5, lng: 13.4 },
            to: Location { lat: 52.5, lng: 13.4 },
        }
    }

    #[test]
    fn ids_count_up_the_oldest_is_dropped_and_reset_keeps_counting() {
        let store = Store::with_capacity(3);
        let ids: Vec<u64> = (0..5).map(|i| store.place(order_for(1 + i % 2)).order.id).collect();
        assert_eq!(
            ids,
            (FIRST_PLACED_ORDER_ID..FIRST_PLACED_ORDER_ID + 5).collect::<Vec<_>>()
        );
        assert_eq!(store.placed_count(), 3);
        assert!(store.get(1, ids[0]).is_none() && store.get(2, ids[1]).is_none());
        let (page, total) = store.page(1, None, 10);
        assert_eq!(total, 2);
        assert_eq!(page.iter().map(|p| p.order.id).collect::<Vec<_>>(), [ids[4], ids[2]]);
        let (page, _) = store.page(1, Some(ids[4]), 10);
        assert_eq!(page.iter().map(|p| p.order.id).collect::<Vec<_>>(), [ids[2]]);
        store.reset();
        assert_eq!(store.placed_count(), 0);
        let (page, total) = store.page(1, None, 10);
        assert!(page.is_empty() && total == 0);
        assert_eq!(store.place(order_for(1)).order.id, ids[4] + 1);
    }

    #[test]
    fn only_the_owner_cancels_and_only_while_placed() {
        let store = Store::default();
        let id = store.place(order_for(7)).order.id;
        assert_eq!(store.cancel(8, id, 1_000_000).err(), Some(CancelRefused::Unknown));
        assert_eq!(store.cancel(7, id, 1_025_000).err(), Some(CancelRefused::NotPlaced));
        let cancelled = store.cancel(7, id, 1_005_000).expect("still placed");
        assert_eq!(cancelled.at(2_000_000).status, OrderStatus::Cancelled);
        assert_eq!(store.cancel(7, id, 1_006_000).err(), Some(CancelRefused::NotPlaced));
    }

    #[test]
    fn favourite_changes_start_from_the_generated_list() {
        let store = Store::default();
        assert_eq!(store.favourites(5), None);
        store.edit_favourites(5, || vec![1, 2], |list| list.insert(0, 3));
        assert_eq!(store.favourites(5), Some(vec![3, 1, 2]));
        store.edit_favourites(5, || unreachable!(), |list| list.retain(|&r| r != 1));
        assert_eq!(store.favourites(5), Some(vec![3, 2]));
    }
}
