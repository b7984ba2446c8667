//! `Restaurant` and what hangs off it: menu, rating, estimate, fees, opening state,
//! promotions. Each of those comes from its own service through the request's
//! DataLoader, so a page of restaurants costs one call per service.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;

use async_graphql::{Context, ID, Lookahead, Object, SimpleObject};
use time::OffsetDateTime;

use super::{
    common::{GeoPoint, LocationInput, Money},
    error::UpstreamResultExt,
    loaders::{
        self, AvailabilityKey, EstimateKey, FeesKey, GeoKey, MenuKey, Outcome, PromotionsKey, RatingKey, RequestLoader,
        Resource, RestaurantKey,
    },
    menu::{MenuAnswer, MenuPlan},
    scope::RequestScope,
};
use crate::upstream::{self, AreaId, Location, RestaurantId, UpstreamError};

mod planned;

pub use planned::RestaurantAnswer;

/// A restaurant that delivers through the platform.
pub struct Restaurant {
    record: Arc<upstream::Restaurant>,
    /// Where the list it appears in delivers to (for estimates).
    to: Option<Location>,
    /// The delivery area of that list (for fees).
    area: Option<AreaId>,
    /// What [`Restaurant::load_all`] fetched along with it.
    known: Known,
}

/// One service's answer for one restaurant: absent (`Ok(None)`) or failed.
type Fetched<V> = Result<Option<V>, UpstreamError>;

/// The answers [`Restaurant::load_all`] fetched for a restaurant, so that its
/// fields read them here instead of asking the request's DataLoader again (a
/// lock, a hash lookup and a channel per field and restaurant). `None`: not
/// fetched with it; the field asks the DataLoader, which batches as before.
#[derive(Default)]
struct Known {
    menu: Option<Fetched<Arc<upstream::Menu>>>,
    rating: Option<Fetched<upstream::Rating>>,
    availability: Option<Fetched<upstream::Availability>>,
    promotions: Option<Fetched<Arc<[upstream::Promotion]>>>,
    /// To the list's location ([`Restaurant::to`]).
    estimate: Option<Fetched<upstream::Estimate>>,
    /// Into the list's area ([`Restaurant::area`]).
    fees: Option<Fetched<upstream::Fees>>,
}

/// A service's answers for a page, as [`loaders::prime_each`] gives them.
type Batch<K, V> = Option<loaders::KeyMap<K, Outcome<V>>>;

/// One restaurant's share of a page's batch: `None` when there was no batch.
fn share<K: Hash + Eq, V: Clone>(batch: &Batch<K, V>, key: &K) -> Option<Fetched<V>> {
    batch.as_ref().map(|found| found.get(key).cloned().transpose())
}

/// Where a restaurant is being looked at from: the list's location and area.
#[derive(Clone, Default)]
pub struct Vantage {
    /// The location deliveries go to.
    pub to: Option<Location>,
    /// The area that location is in.
    pub area: Option<AreaId>,
}

impl Restaurant {
    /// A restaurant from its master data, seen from `vantage`.
    pub fn from_record(record: Arc<upstream::Restaurant>, vantage: &Vantage) -> Self {
        Self {
            record,
            to: vantage.to,
            area: vantage.area.clone(),
            known: Known::default(),
        }
    }

    /// The restaurant's id.
    pub fn restaurant_id(&self) -> RestaurantId {
        self.record.id
    }

    /// Loads `ids` and everything `selection` (a `Restaurant` selection) asks of
    /// them, all at once, and returns the restaurants that exist, in order.
    ///
    /// Starting every service's batch together is what puts a page of
    /// restaurants in one wave instead of two: nothing waits for call 7 to learn
    /// that the restaurants exist before asking for their menus.
    pub async fn load_all(
        scope: &RequestScope,
        ids: &[RestaurantId],
        selection: &[Lookahead<'_>],
        vantage: &Vantage,
    ) -> async_graphql::Result<Vec<Restaurant>> {
        let wants = |field: &str| selection.iter().any(|s| s.field(field).exists());
        let loader = &scope.loader;
        let to = vantage.to.map(GeoKey::from).filter(|_| wants("deliveryEstimate"));
        let area = vantage
            .area
            .as_ref()
            .filter(|_| wants("deliveryFee") || wants("minimumOrder"));
        let (records, menus, ratings, availability, promotions, estimates, fees) = futures_util::join!(
            loaders::prime_each(loader, keyed(ids, RestaurantKey)),
            fetch(loader, wants("menu").then(|| keyed(ids, MenuKey))),
            fetch(loader, wants("rating").then(|| keyed(ids, RatingKey))),
            fetch(
                loader,
                (wants("isOpen") || wants("nextStatusChangeAt")).then(|| keyed(ids, AvailabilityKey))
            ),
            fetch(loader, wants("promotions").then(|| keyed(ids, PromotionsKey))),
            fetch(
                loader,
                to.map(|to| ids.iter().map(|&id| EstimateKey { to, id }).collect())
            ),
            fetch(
                loader,
                area.map(|area| ids.iter().map(|&id| FeesKey { area: area.clone(), id }).collect())
            ),
        );
        // The list needs every restaurant's record: one that failed fails it.
        let mut records: HashMap<_, _> = (records.into_iter())
            .map(|(key, record)| Ok((key, record?)))
            .collect::<Result<_, UpstreamError>>()
            .gql()?;
        Ok(ids
            .iter()
            .filter_map(|&id| {
                let record = records.remove(&RestaurantKey(id))?;
                let mut restaurant = Restaurant::from_record(record, vantage);
                restaurant.known = Known {
                    menu: share(&menus, &MenuKey(id)),
                    rating: share(&ratings, &RatingKey(id)),
                    availability: share(&availability, &AvailabilityKey(id)),
                    promotions: share(&promotions, &PromotionsKey(id)),
                    estimate: to.and_then(|to| share(&estimates, &EstimateKey { to, id })),
                    fees: area.and_then(|area| share(&fees, &FeesKey { area: area.clone(), id })),
                };
                Some(restaurant)
            })
            .collect())
    }
}

fn keyed<K>(ids: &[RestaurantId], key: fn(RestaurantId) -> K) -> Vec<K> {
    ids.iter().copied().map(key).collect()
}

/// What `load_all` fetched, when it did; else `key` through the request's
/// DataLoader, which batches it with the other restaurants' keys.
async fn known_or_load<K: Resource>(ctx: &Context<'_>, known: &Option<Fetched<K::Value>>, key: K) -> Fetched<K::Value> {
    match known {
        Some(known) => known.clone(),
        None => loaders::load_one(&RequestScope::of(ctx).loader, key).await,
    }
}

/// Loads `keys`, when the selection wants them, into the request's cache, and
/// returns the batch (its error is remembered by the loader too).
async fn fetch<K: Resource>(loader: &RequestLoader, keys: Option<Vec<K>>) -> Batch<K, K::Value> {
    Some(loaders::prime_each(loader, keys?).await)
}

/// Rating of a restaurant by its customers.
#[derive(SimpleObject)]
#[graphql(cache_control(max_age = 60))]
pub struct Rating {
    /// Mean rating, 1.0 to 5.0.
    pub average: f64,
    /// How many ratings the average is made of.
    pub count: u32,
}

/// How long a delivery takes.
#[derive(SimpleObject)]
#[graphql(cache_control(max_age = 30))]
pub struct DeliveryEstimate {
    /// Minutes from ordering to the door.
    pub minutes: u32,
    /// Distance the courier rides, in metres.
    pub distance_meters: u32,
}

impl From<upstream::Estimate> for DeliveryEstimate {
    fn from(e: upstream::Estimate) -> Self {
        Self {
            minutes: e.minutes,
            distance_meters: e.distance_meters,
        }
    }
}

/// A restaurant's postal address.
#[derive(SimpleObject)]
pub struct PostalAddress {
    /// Street and number.
    pub street: String,
    /// City.
    pub city: String,
    /// Postcode.
    pub postcode: String,
}

/// A discount on offer.
#[derive(SimpleObject)]
pub struct Promotion {
    /// The promotion's id.
    pub id: ID,
    /// What it says, e.g. "20% off pizza".
    pub title: String,
    /// The discount, in percent.
    pub discount_percent: u32,
}

/// A restaurant that delivers through the platform. Its data is public: HTTP
/// caches may keep it 60 s (less for the fields that say so).
#[Object(cache_control(max_age = 60))]
impl Restaurant {
    /// The restaurant's id.
    async fn id(&self) -> ID {
        ID(self.record.id.to_string())
    }

    /// Its name.
    async fn name(&self) -> &str {
        &self.record.name
    }

    /// Cuisines it cooks, e.g. `["italian", "pizza"]`.
    async fn cuisines(&self) -> &[String] {
        &self.record.cuisines
    }

    /// How expensive it is: 1 (cheap) to 4 (expensive).
    async fn price_level(&self) -> u8 {
        self.record.price_level
    }

    /// Its postal address.
    async fn address(&self) -> PostalAddress {
        let a = &self.record.address;
        PostalAddress {
            street: a.street.clone(),
            city: a.city.clone(),
            postcode: a.postcode.clone(),
        }
    }

    /// Where it is on the map.
    async fn location(&self) -> GeoPoint {
        self.record.location.into()
    }

    /// A picture of it.
    async fn image_url(&self) -> &str {
        &self.record.image_url
    }

    /// What its customers think. Null when it has no rating yet or the ratings
    /// service failed (then with an error).
    async fn rating(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Rating>> {
        let rating = known_or_load(ctx, &self.known.rating, RatingKey(self.restaurant_id()))
            .await
            .gql()?;
        Ok(rating.map(|r| Rating {
            average: r.average,
            count: r.count,
        }))
    }

    /// The menu. Null when the menus service has none for it, or failed (then
    /// with an error).
    async fn menu(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<MenuAnswer>> {
        let menu = known_or_load(ctx, &self.known.menu, MenuKey(self.restaurant_id()))
            .await
            .gql()?;
        Ok(menu.map(|menu| MenuAnswer::new(menu, MenuPlan::of(ctx))))
    }

    /// How long a delivery takes to `to`, or, in a `restaurants(near:)` list, to
    /// that location. Null when neither is known, or when the logistics service
    /// failed (then with an error).
    #[graphql(cache_control(max_age = 30))]
    async fn delivery_estimate(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Where the food goes; defaults to the list's `near`.")] to: Option<LocationInput>,
    ) -> async_graphql::Result<Option<DeliveryEstimate>> {
        let to = match to {
            Some(input) => input.checked()?,
            None => match (self.to, &self.known.estimate) {
                (_, Some(known)) => return Ok(known.clone().gql()?.map(DeliveryEstimate::from)),
                (Some(to), None) => to,
                (None, None) => return Ok(None),
            },
        };
        let key = EstimateKey {
            to: to.into(),
            id: self.restaurant_id(),
        };
        let estimate = loaders::load_one(&RequestScope::of(ctx).loader, key).await.gql()?;
        Ok(estimate.map(DeliveryEstimate::from))
    }

    /// The delivery fee into the area of a `restaurants(near:)` list; null
    /// elsewhere, since fees depend on the area, and when the pricing service
    /// failed (then with an error).
    async fn delivery_fee(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Money>> {
        Ok(self.fees(ctx).await?.map(|f| Money::from(&f.delivery_fee)))
    }

    /// The smallest order accepted for delivery into the list's area; null outside
    /// a `restaurants(near:)` list, and when the pricing service failed (then
    /// with an error).
    async fn minimum_order(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Money>> {
        Ok(self.fees(ctx).await?.map(|f| Money::from(&f.minimum_order)))
    }

    /// Whether it takes orders now. Null when the availability service does not
    /// know, or failed (then with an error).
    #[graphql(cache_control(max_age = 15))]
    async fn is_open(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<bool>> {
        Ok(self.availability(ctx).await?.map(|a| a.open))
    }

    /// When `isOpen` next changes. Null when no change is planned or not known,
    /// or when the availability service failed (then with an error).
    #[graphql(cache_control(max_age = 15))]
    async fn next_status_change_at(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<OffsetDateTime>> {
        Ok(self.availability(ctx).await?.and_then(|a| a.next_change_at))
    }

    /// Discounts on offer; for a signed-in user, their personal offers too. Null
    /// when the promotions service has none for it, or failed (then with an
    /// error).
    async fn promotions(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Vec<Promotion>>> {
        let found = known_or_load(ctx, &self.known.promotions, PromotionsKey(self.restaurant_id()))
            .await
            .gql()?;
        Ok(found.map(|list| {
            list.iter()
                .map(|p| Promotion {
                    id: ID(p.id.to_string()),
                    title: p.title.clone(),
                    discount_percent: p.discount_percent,
                })
                .collect()
        }))
    }
}

impl Restaurant {
    async fn fees(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<upstream::Fees>> {
        if let Some(known) = &self.known.fees {
            return known.clone().gql();
        }
        let Some(area) = &self.area else {
            return Ok(None);
        };
        let key = FeesKey {
            area: area.clone(),
            id: self.restaurant_id(),
        };
        loaders::load_one(&RequestScope::of(ctx).loader, key).await.gql()
    }

    async fn availability(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<upstream::Availability>> {
        known_or_load(ctx, &self.known.availability, AvailabilityKey(self.restaurant_id()))
            .await
            .gql()
    }
}
