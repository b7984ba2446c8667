//! The DataLoader behind every per-restaurant field: one batch per upstream
//! resource and wave, whatever the number of restaurants on the page.
//!
//! One [`UpstreamLoader`] is created **per request** (its cache holds one user's
//! data: personal promotions). It implements `Loader<K>` once per key type, so a
//! single `DataLoader` batches each resource separately. Keys carry what the answer
//! depends on besides the id: the location for estimates, the area for fees.
//!
//! **Every key has its own outcome.** A key type is a [`Resource`]: which upstream
//! batch answers it, by which id (of any type: a restaurant's, a dish's), and
//! what a field reads of the record. [`UpstreamLoader::load_each`] answers a
//! batch key by key: a key of a failed upstream chunk, or whose entry of the
//! answer did not decode, gets that error; the other keys get their values.
//! [`Each<K>`] keys load through the DataLoader with that outcome as their value
//! (`Result<V, UpstreamError>`); fields read them with [`load_one`] and
//! [`prime_each`].
//!
//! A failed key is remembered for the rest of the request: a later load of it
//! gets the same error without calling the failing service again.

use std::{
    any::{Any, TypeId},
    collections::HashMap,
    hash::Hash,
    sync::{Arc, Mutex},
};

use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};
use futures_util::future::join_all;

use crate::upstream::{
    AreaId, Availability, Estimate, Fees, Keyed, Location, Menu, Outcomes, Promotion, Promotions, Rating, Restaurant,
    RestaurantId, UpstreamError, Upstreams, UserId,
};

/// The per-request DataLoader. Its cache hashes with foldhash, not std's SipHash:
/// its keys are a page's restaurant ids, hashed on every load and store (the
/// cache's inserts alone were 2.5 % of `Nearby`'s instructions), and it lives for
/// one request of at most a few thousand keys, so SipHash's resistance to
/// flooding buys nothing here.
pub type RequestLoader = DataLoader<UpstreamLoader, HashMapCache<foldhash::fast::RandomState>>;

/// A request's outcomes by key, hashed as [`RequestLoader`]'s cache is, for the
/// same reasons.
pub type KeyMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Call 7: a restaurant's master data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RestaurantKey(pub RestaurantId);
/// Call 8: a restaurant's menu.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MenuKey(pub RestaurantId);
/// Call 9: a restaurant's rating.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RatingKey(pub RestaurantId);
/// Call 12: whether a restaurant is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AvailabilityKey(pub RestaurantId);
/// Call 13: a restaurant's promotions, for the request's user if signed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PromotionsKey(pub RestaurantId);
/// Call 10: a delivery estimate from a location.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EstimateKey {
    /// Where the food goes.
    pub to: GeoKey,
    /// The restaurant.
    pub id: RestaurantId,
}
/// Call 11: fees for deliveries into an area.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FeesKey {
    /// The area delivered into.
    pub area: AreaId,
    /// The restaurant.
    pub id: RestaurantId,
}

/// A location as a hashable key: degrees in millionths (about 0.1 m).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GeoKey {
    lat_e6: i64,
    lng_e6: i64,
}

impl From<Location> for GeoKey {
    fn from(at: Location) -> Self {
        Self {
            lat_e6: (at.lat * 1e6).round() as i64,
            lng_e6: (at.lng * 1e6).round() as i64,
        }
    }
}

impl GeoKey {
    fn location(self) -> Location {
        Location {
            lat: self.lat_e6 as f64 / 1e6,
            lng: self.lng_e6 as f64 / 1e6,
        }
    }
}

/// One key's outcome: its value, or the error of the upstream chunk or the
/// entry that should have answered it. (A key the service does not know has no
/// outcome at all.)
pub type Outcome<V> = Result<V, UpstreamError>;

/// The id a resource's upstream batch is asked by.
pub type Id<K> = <<K as Resource>::Record as Keyed>::Id;

/// A kind of key of the request's DataLoader: which upstream batch answers it,
/// and what a field reads of the answer.
///
/// Batching is generic over it: a per-dish or per-order resource is a key type,
/// a [`Keyed`] record and one impl here, like [`MenuKey`]'s. Fields read it
/// with [`load_one`] and [`prime_each`], each key with its own outcome.
pub trait Resource: Clone + Eq + Hash + Send + Sync + 'static {
    /// The upstream record that answers a key.
    type Record: Keyed + Send + Sync + 'static;
    /// What a field reads of it.
    type Value: Clone + Send + Sync + 'static;
    /// What else the answer depends on (the location, the area; `()` for
    /// nothing): the keys of one group go out in one batch.
    type Group: Clone + Eq + Hash + Send + Sync;

    /// The key's group and id.
    fn split(&self) -> (Self::Group, Id<Self>);

    /// The key of `id` in `group`.
    fn join(group: &Self::Group, id: Id<Self>) -> Self;

    /// Asks the upstream for one group's ids.
    fn fetch(
        loader: &UpstreamLoader,
        group: &Self::Group,
        ids: &[Id<Self>],
    ) -> impl Future<Output = Outcomes<Self::Record>> + Send;

    /// What a field reads of a record.
    fn value(record: Arc<Self::Record>) -> Self::Value;
}

/// A key whose load through the DataLoader answers its own [`Outcome`], so that
/// one failed key of a batch does not fail the others.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Each<K>(pub K);

/// Loads `key` through the request's DataLoader (batched with the other keys of
/// its wave) and answers its own outcome: `Ok(None)` when the service does not
/// know it, its error when its chunk or its entry failed.
pub async fn load_one<K: Resource>(loader: &RequestLoader, key: K) -> Result<Option<K::Value>, UpstreamError> {
    loader.load_one(Each(key)).await?.transpose()
}

/// Loads `keys` in one batch now, primes the request's DataLoader cache with
/// their outcomes, and answers each key's outcome (the keys the service does not
/// know are absent). Keys already in the cache are not asked for again.
///
/// For callers that already hold every key of a wave (a page of restaurants, the
/// favourites): they skip the DataLoader's batching delay, and a batch can never
/// merge with another wave's. The fields that read these keys later through
/// [`load_one`] find them in the cache, failures included.
pub async fn prime_each<K: Resource>(loader: &RequestLoader, keys: Vec<K>) -> KeyMap<K, Outcome<K::Value>> {
    let mut cached = loader.get_cached_values::<Each<K>>();
    let mut found = KeyMap::with_capacity_and_hasher(keys.len(), Default::default());
    let mut missing = Vec::new();
    for key in keys {
        match cached.remove(&Each(key.clone())) {
            Some(outcome) => {
                found.insert(key, outcome);
            }
            None => missing.push(key),
        }
    }
    if missing.is_empty() {
        return found;
    }
    let loaded = loader.loader().load_each(&missing).await;
    loader
        .feed_many(loaded.iter().map(|(k, v)| (Each(k.clone()), v.clone())))
        .await;
    found.extend(loaded);
    found
}

/// Loads every per-restaurant resource for one request.
pub struct UpstreamLoader {
    upstreams: Upstreams,
    viewer: Option<UserId>,
    /// Outcomes that no DataLoader cache holds, per key type (a
    /// `KeyMap<K, Outcome<K::Value>>` under `TypeId::of::<K>()`): every key
    /// that failed in this request, and the keys that succeeded in a batch
    /// that a plain-key load failed whole.
    known: Mutex<HashMap<TypeId, Box<dyn Any + Send>>>,
}

impl UpstreamLoader {
    /// The upstream services, for a [`Resource::fetch`].
    pub fn upstreams(&self) -> &Upstreams {
        &self.upstreams
    }

    /// Who the request is for (`None`: anonymous), for a [`Resource::fetch`] of
    /// private data.
    pub fn viewer(&self) -> Option<UserId> {
        self.viewer
    }

    /// A loader for one request, made by `viewer` (`None`: anonymous).
    pub fn new(upstreams: Upstreams, viewer: Option<UserId>) -> Self {
        Self {
            upstreams,
            viewer,
            known: Mutex::new(HashMap::new()),
        }
    }

    /// Loads `keys`, each with its own outcome; the keys the service does not
    /// know are absent. The keys of one [`Resource::Group`] go out as one batch
    /// (split at the service's maximum by the upstream layer), the groups
    /// concurrently. Keys that failed earlier in this request get that error
    /// again without a call (so do the other remembered outcomes); the keys
    /// that fail now are remembered.
    pub async fn load_each<K: Resource>(&self, keys: &[K]) -> KeyMap<K, Outcome<K::Value>> {
        let mut out = KeyMap::with_capacity_and_hasher(keys.len(), Default::default());
        let mut groups: KeyMap<K::Group, Vec<Id<K>>> = KeyMap::default();
        {
            let known = self.known.lock().unwrap_or_else(|p| p.into_inner());
            let earlier = known
                .get(&TypeId::of::<K>())
                .and_then(|f| f.downcast_ref::<KeyMap<K, Outcome<K::Value>>>());
            for key in keys {
                match earlier.and_then(|f| f.get(key)) {
                    Some(outcome) => {
                        out.insert(key.clone(), outcome.clone());
                    }
                    None => {
                        let (group, id) = key.split();
                        groups.entry(group).or_default().push(id);
                    }
                }
            }
        }
        let answers = join_all(groups.into_iter().map(|(group, ids)| async move {
            let outcomes = K::fetch(self, &group, &ids).await;
            (group, outcomes)
        }))
        .await;
        let mut failed = Vec::new();
        for (group, outcomes) in answers {
            for (id, error) in outcomes.failed {
                let key = K::join(&group, id);
                failed.push((key.clone(), Err(error.clone())));
                out.insert(key, Err(error));
            }
            for record in outcomes.found {
                out.insert(K::join(&group, record.id()), Ok(K::value(record)));
            }
        }
        if !failed.is_empty() {
            self.remember(failed);
        }
        out
    }

    fn remember<K: Resource>(&self, outcomes: impl IntoIterator<Item = (K, Outcome<K::Value>)>) {
        let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        let entry = known
            .entry(TypeId::of::<K>())
            .or_insert_with(|| Box::new(KeyMap::<K, Outcome<K::Value>>::default()));
        if let Some(known) = entry.downcast_mut::<KeyMap<K, Outcome<K::Value>>>() {
            known.extend(outcomes);
        }
    }
}

impl<K: Resource> Loader<Each<K>> for UpstreamLoader {
    type Value = Outcome<K::Value>;
    type Error = UpstreamError;

    async fn load(&self, keys: &[Each<K>]) -> Result<HashMap<Each<K>, Outcome<K::Value>>, UpstreamError> {
        let keys: Vec<K> = keys.iter().map(|k| k.0.clone()).collect();
        let outcomes = self.load_each(&keys).await;
        Ok(outcomes.into_iter().map(|(k, v)| (Each(k), v)).collect())
    }
}

/// A resource asked by restaurant id alone.
macro_rules! by_restaurant {
    ($key:ident, $record:ty, $value:ty, |$loader:ident, $ids:ident| $fetch:expr, $read:expr) => {
        impl Resource for $key {
            type Record = $record;
            type Value = $value;
            type Group = ();

            fn split(&self) -> ((), RestaurantId) {
                ((), self.0)
            }

            fn join((): &(), id: RestaurantId) -> Self {
                Self(id)
            }

            fn fetch(
                $loader: &UpstreamLoader,
                (): &(),
                $ids: &[RestaurantId],
            ) -> impl Future<Output = Outcomes<$record>> + Send {
                $fetch
            }

            fn value(record: Arc<$record>) -> $value {
                $read(record)
            }
        }
    };
}

by_restaurant!(
    RestaurantKey,
    Restaurant,
    Arc<Restaurant>,
    |loader, ids| loader.upstreams.restaurants(ids),
    |r| r
);
by_restaurant!(
    MenuKey,
    Menu,
    Arc<Menu>,
    |loader, ids| loader.upstreams.menus(ids),
    |r| r
);
by_restaurant!(
    RatingKey,
    Rating,
    Rating,
    |loader, ids| loader.upstreams.ratings(ids),
    Arc::unwrap_or_clone
);
by_restaurant!(
    AvailabilityKey,
    Availability,
    Availability,
    |loader, ids| loader.upstreams.availability(ids),
    Arc::unwrap_or_clone
);
by_restaurant!(
    PromotionsKey,
    Promotions,
    Arc<[Promotion]>,
    |loader, ids| loader.upstreams.promotions(ids, loader.viewer),
    |p: Arc<Promotions>| Arc::from(p.promotions.as_slice())
);

impl Resource for EstimateKey {
    type Record = Estimate;
    type Value = Estimate;
    type Group = GeoKey;

    fn split(&self) -> (GeoKey, RestaurantId) {
        (self.to, self.id)
    }

    fn join(to: &GeoKey, id: RestaurantId) -> Self {
        Self { to: *to, id }
    }

    fn fetch(
        loader: &UpstreamLoader,
        to: &GeoKey,
        ids: &[RestaurantId],
    ) -> impl Future<Output = Outcomes<Estimate>> + Send {
        loader.upstreams.estimates(to.location(), ids)
    }

    fn value(record: Arc<Estimate>) -> Estimate {
        Arc::unwrap_or_clone(record)
    }
}

impl Resource for FeesKey {
    type Record = Fees;
    type Value = Fees;
    type Group = AreaId;

    fn split(&self) -> (AreaId, RestaurantId) {
        (self.area.clone(), self.id)
    }

    fn join(area: &AreaId, id: RestaurantId) -> Self {
        Self { area: area.clone(), id }
    }

    fn fetch(
        loader: &UpstreamLoader,
        area: &AreaId,
        ids: &[RestaurantId],
    ) -> impl Future<Output = Outcomes<Fees>> + Send {
        loader.upstreams.fees(area, ids)
    }

    fn value(record: Arc<Fees>) -> Fees {
        Arc::unwrap_or_clone(record)
    }
}
