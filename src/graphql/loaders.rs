//! The DataLoader behind every per-restaurant field: one batch per upstream
//! resource and wave, whatever the number of restaurants on the page.
//!
//! One [`UpstreamLoader`] is created **per request** (its cache holds one user's
//! data: personal promotions). It implements `Loader<K>` once per key type, so a
//! single `DataLoader` batches each resource separately. Keys carry what the answer
//! depends on besides the restaurant: the location for estimates, the area for fees.
//!
//! A failed batch is remembered for the rest of the request: a later load of the
//! same keys gets the same error without calling the failing service again.

use std::{
    collections::HashMap,
    hash::Hash,
    sync::{Arc, Mutex},
};

use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};
use futures_util::future::try_join_all;

use crate::upstream::{
    AreaId, Availability, Estimate, Fees, Location, Menu, PerRestaurant, Promotion, Rating, Restaurant, RestaurantId,
    UpstreamError, Upstreams, UserId,
};

/// The per-request DataLoader. Its cache hashes with foldhash, not std's SipHash:
/// its keys are a page's restaurant ids, hashed on every load and store (the
/// cache's inserts alone were 2.5 % of `Nearby`'s instructions), and it lives for
/// one request of at most a few thousand keys, so SipHash's resistance to
/// flooding buys nothing here.
pub type RequestLoader = DataLoader<UpstreamLoader, HashMapCache<foldhash::fast::RandomState>>;

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

/// Loads `keys` in one batch now, and primes the request's DataLoader cache with
/// the answers. Keys already in the cache are not asked for again.
///
/// For callers that already hold every key of a wave (a page of restaurants, the
/// favourites): they skip the DataLoader's batching delay, and a batch can never
/// merge with another wave's. The fields that read these keys later find them in
/// the cache, or find the batch's error remembered.
pub async fn prime<K>(
    loader: &RequestLoader,
    keys: Vec<K>,
) -> Result<HashMap<K, <UpstreamLoader as Loader<K>>::Value>, UpstreamError>
where
    K: Send + Sync + Hash + Eq + Clone + 'static,
    UpstreamLoader: Loader<K, Error = UpstreamError>,
{
    let mut found = loader.get_cached_values::<K>();
    found.retain(|k, _| keys.contains(k));
    let missing: Vec<K> = keys.into_iter().filter(|k| !found.contains_key(k)).collect();
    if missing.is_empty() {
        return Ok(found);
    }
    let loaded = loader.loader().load(&missing).await?;
    loader
        .feed_many(loaded.iter().map(|(k, v)| (k.clone(), v.clone())))
        .await;
    found.extend(loaded);
    Ok(found)
}

/// Keys whose batch failed earlier in this request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Failed {
    Restaurant(RestaurantId),
    Menu(RestaurantId),
    Rating(RestaurantId),
    Availability(RestaurantId),
    Promotions(RestaurantId),
    Estimate(EstimateKey),
    Fees(FeesKey),
}

/// Loads every per-restaurant resource for one request.
pub struct UpstreamLoader {
    upstreams: Upstreams,
    viewer: Option<UserId>,
    failures: Mutex<HashMap<Failed, UpstreamError>>,
}

impl UpstreamLoader {
    /// A loader for one request, made by `viewer` (`None`: anonymous).
    pub fn new(upstreams: Upstreams, viewer: Option<UserId>) -> Self {
        Self {
            upstreams,
            viewer,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Runs `fetch` unless one of `keys` already failed in this request, and
    /// remembers the failure of this one.
    async fn remembering<K, V>(
        &self,
        keys: &[K],
        failed: impl Fn(&K) -> Failed,
        fetch: impl Future<Output = Result<HashMap<K, V>, UpstreamError>>,
    ) -> Result<HashMap<K, V>, UpstreamError> {
        if let Some(error) = self.earlier_failure(keys.iter().map(&failed)) {
            return Err(error);
        }
        let result = fetch.await;
        if let Err(error) = &result {
            let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
            for key in keys {
                failures.insert(failed(key), error.clone());
            }
        }
        result
    }

    fn earlier_failure(&self, mut keys: impl Iterator<Item = Failed>) -> Option<UpstreamError> {
        let failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if failures.is_empty() {
            return None;
        }
        keys.find_map(|k| failures.get(&k).cloned())
    }
}

/// Maps records to the keys that asked for them (unknown ids stay absent).
fn by_restaurant<K: Hash + Eq, R: PerRestaurant, V>(
    records: Vec<R>,
    key: impl Fn(RestaurantId) -> K,
    value: impl Fn(R) -> V,
) -> HashMap<K, V> {
    records
        .into_iter()
        .map(|r| (key(r.restaurant_id()), value(r)))
        .collect()
}

fn ids<K>(keys: &[K], id: impl Fn(&K) -> RestaurantId) -> Vec<RestaurantId> {
    keys.iter().map(id).collect()
}

/// Groups keys by what the answer depends on besides the restaurant, so each
/// group is one upstream batch.
fn grouped<K, G: Hash + Eq + Clone>(
    keys: &[K],
    group: impl Fn(&K) -> (G, RestaurantId),
) -> HashMap<G, Vec<RestaurantId>> {
    let mut groups: HashMap<G, Vec<RestaurantId>> = HashMap::new();
    for key in keys {
        let (g, id) = group(key);
        groups.entry(g).or_default().push(id);
    }
    groups
}

macro_rules! restaurant_keyed {
    ($key:ident, $failed:ident, $value:ty, |$this:ident, $ids:ident| $fetch:expr, $wrap:expr) => {
        impl Loader<$key> for UpstreamLoader {
            type Value = $value;
            type Error = UpstreamError;

            async fn load(&self, keys: &[$key]) -> Result<HashMap<$key, $value>, UpstreamError> {
                let $this = self;
                let $ids = ids(keys, |k| k.0);
                self.remembering(keys, |k| Failed::$failed(k.0), async move {
                    Ok(by_restaurant($fetch.await?, $key, $wrap))
                })
                .await
            }
        }
    };
}

restaurant_keyed!(
    RestaurantKey,
    Restaurant,
    Arc<Restaurant>,
    |this, ids| this.upstreams.restaurants(&ids),
    |r| r
);
restaurant_keyed!(MenuKey, Menu, Arc<Menu>, |this, ids| this.upstreams.menus(&ids), |r| r);
restaurant_keyed!(
    RatingKey,
    Rating,
    Rating,
    |this, ids| this.upstreams.ratings(&ids),
    Arc::unwrap_or_clone
);
restaurant_keyed!(
    AvailabilityKey,
    Availability,
    Availability,
    |this, ids| this.upstreams.availability(&ids),
    Arc::unwrap_or_clone
);
restaurant_keyed!(
    PromotionsKey,
    Promotions,
    Arc<[Promotion]>,
    |this, ids| this.upstreams.promotions(&ids, this.viewer),
    |p: Arc<crate::upstream::Promotions>| Arc::from(p.promotions.as_slice())
);

impl Loader<EstimateKey> for UpstreamLoader {
    type Value = Estimate;
    type Error = UpstreamError;

    async fn load(&self, keys: &[EstimateKey]) -> Result<HashMap<EstimateKey, Estimate>, UpstreamError> {
        let groups = grouped(keys, |k| (k.to, k.id));
        self.remembering(keys, |k| Failed::Estimate(*k), async {
            let answers = try_join_all(groups.into_iter().map(|(to, ids)| async move {
                let records = self.upstreams.estimates(to.location(), &ids).await?;
                Ok::<_, UpstreamError>(by_restaurant(
                    records,
                    |id| EstimateKey { to, id },
                    Arc::unwrap_or_clone,
                ))
            }))
            .await?;
            Ok(answers.into_iter().flatten().collect())
        })
        .await
    }
}

impl Loader<FeesKey> for UpstreamLoader {
    type Value = Fees;
    type Error = UpstreamError;

    async fn load(&self, keys: &[FeesKey]) -> Result<HashMap<FeesKey, Fees>, UpstreamError> {
        let groups = grouped(keys, |k| (k.area.clone(), k.id));
        self.remembering(keys, |k| Failed::Fees(k.clone()), async {
            let answers = try_join_all(groups.into_iter().map(|(area, ids)| async move {
                let records = self.upstreams.fees(&area, &ids).await?;
                Ok::<_, UpstreamError>(by_restaurant(
                    records,
                    |id| FeesKey { area: area.clone(), id },
                    Arc::unwrap_or_clone,
                ))
            }))
            .await?;
            Ok(answers.into_iter().flatten().collect())
        })
        .await
    }
}
