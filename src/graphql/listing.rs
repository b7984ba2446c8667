//! `restaurants(near:)`: the list of restaurants delivering to a location, as a
//! Relay connection, by distance or ranked for the signed-in user.
//!
//! The connection is returned at once and its fields share one lazily computed
//! page, so a failure of the geo or ranking service nulls the connection's
//! fields (each with its error) instead of the whole response.

use std::sync::Arc;

use async_graphql::{Context, Enum, Object, SimpleObject};
use tokio::sync::OnceCell;

use super::{
    common::{PageInfo, decode_cursor, encode_cursor},
    error::UpstreamResultExt,
    restaurant::{Restaurant, RestaurantAnswer, Vantage},
    scope::RequestScope,
};
use crate::upstream::{self, AreaRestaurant, Location, RestaurantId};

/// The order of a restaurant list.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum RestaurantSort {
    /// Nearest the delivery area's centre first, as the geo service lists them.
    Distance,
    /// Best match for the signed-in user first (needs a token): ranked by the
    /// recommendations service from the user's recent orders.
    Recommended,
}

impl RestaurantSort {
    fn cursor_kind(self) -> &'static str {
        match self {
            RestaurantSort::Distance => "rd",
            RestaurantSort::Recommended => "rr",
        }
    }
}

/// A delivery area.
#[derive(SimpleObject, Clone)]
#[graphql(cache_control(max_age = 300))]
pub struct Area {
    /// The area's id.
    pub id: async_graphql::ID,
    /// The city it is in.
    pub city: String,
    /// Its name, e.g. "Mitte".
    pub name: String,
}

/// What the listing asks for: checked arguments.
pub struct ListingRequest {
    /// Where the food goes.
    pub near: Location,
    /// Page size.
    pub first: usize,
    /// Position after which the page starts.
    pub offset: usize,
    /// Order.
    pub sort: RestaurantSort,
}

impl ListingRequest {
    /// The offset that an `after` cursor of `sort` stands for.
    pub fn offset_after(sort: RestaurantSort, after: Option<&str>) -> async_graphql::Result<usize> {
        match after {
            None => Ok(0),
            Some(cursor) => Ok(decode_cursor(sort.cursor_kind(), cursor)? as usize + 1),
        }
    }
}

/// One page of the listing, before the restaurants themselves are loaded.
struct Page {
    area: Option<upstream::Area>,
    ids: Vec<RestaurantId>,
    total: usize,
}

/// A page of restaurants delivering to a location.
pub struct RestaurantConnection {
    request: Arc<ListingRequest>,
    page: Arc<OnceCell<Result<Arc<Page>, async_graphql::Error>>>,
}

impl RestaurantConnection {
    /// A connection whose page is computed when a field first needs it.
    pub fn new(request: ListingRequest) -> Self {
        Self {
            request: Arc::new(request),
            page: Arc::new(OnceCell::new()),
        }
    }

    async fn page(&self, ctx: &Context<'_>) -> async_graphql::Result<Arc<Page>> {
        let scope = RequestScope::of(ctx);
        self.page
            .get_or_init(|| async { compute_page(scope, &self.request).await.map(Arc::new) })
            .await
            .clone()
    }

    fn vantage(&self, page: &Page) -> Vantage {
        Vantage {
            to: Some(self.request.near),
            area: page.area.as_ref().map(|a| a.area_id.clone()),
        }
    }
}

/// Waves 1-3: the area, its restaurants, and (for `RECOMMENDED`) their ranking.
async fn compute_page(scope: &RequestScope, request: &ListingRequest) -> async_graphql::Result<Page> {
    // For a ranking, check the token before calling anything.
    let viewer = match request.sort {
        RestaurantSort::Recommended => Some(scope.viewer()?.clone()),
        RestaurantSort::Distance => None,
    };
    // Wave 1: the area, and for a ranking the user's recent orders, together.
    let (area, recent) = match &viewer {
        Some(viewer) => {
            let (area, recent) = tokio::join!(scope.upstreams.area_at(request.near), viewer.recent_restaurants());
            (area, Some(recent))
        }
        None => (scope.upstreams.area_at(request.near).await, None),
    };
    let Some(area) = area.gql()? else {
        return Ok(Page {
            area: None,
            ids: Vec::new(),
            total: 0,
        });
    };
    let recent = recent.transpose()?;
    // Wave 2: the restaurants delivering into the area.
    let candidates = scope.upstreams.area_restaurants(&area.area_id).await.gql()?;
    let candidates: Vec<AreaRestaurant> = candidates.unwrap_or_default();
    let mut ordered: Vec<RestaurantId> = candidates.iter().map(|c| c.restaurant_id).collect();
    // Wave 3: the ranking.
    if let (Some(viewer), Some(recent)) = (&viewer, recent) {
        let scores = scope.upstreams.rank(viewer.id, &ordered, &recent).await.gql()?;
        // foldhash, not SipHash: some 300 inserts and look-ups per query.
        let score_of: std::collections::HashMap<RestaurantId, f64, foldhash::fast::RandomState> =
            scores.iter().map(|s| (s.restaurant_id, s.score)).collect();
        // Look each score up once, not in every comparison. Stable: equal scores
        // keep the distance order; unscored ids go last.
        let mut scored: Vec<(f64, RestaurantId)> = ordered
            .iter()
            .map(|id| (score_of.get(id).copied().unwrap_or(-1.0), *id))
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        ordered = scored.into_iter().map(|(_, id)| id).collect();
    }
    let total = ordered.len();
    let ids = ordered.into_iter().skip(request.offset).take(request.first).collect();
    Ok(Page {
        area: Some(area),
        ids,
        total,
    })
}

/// A restaurant in a list, with its position.
pub struct RestaurantEdge {
    cursor: String,
    node: Restaurant,
}

/// A restaurant in a list, with its position.
#[Object]
impl RestaurantEdge {
    /// Pass as `after` to continue the list after this restaurant.
    async fn cursor(&self) -> &str {
        &self.cursor
    }

    /// The restaurant.
    async fn node(&self, ctx: &Context<'_>) -> RestaurantAnswer<'_> {
        RestaurantAnswer::new(&self.node, ctx)
    }
}

/// A page of restaurants delivering to a location.
#[Object]
impl RestaurantConnection {
    /// The delivery area around `near`; null outside every area (the list is then
    /// empty), or with an error when the geo service failed.
    async fn area(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Area>> {
        let page = self.page(ctx).await?;
        Ok(page.area.as_ref().map(|a| Area {
            id: async_graphql::ID(a.area_id.0.clone()),
            city: a.city.clone(),
            name: a.name.clone(),
        }))
    }

    /// The restaurants of this page. Null, with an error, when the services that
    /// make the list failed (geo, restaurants, and for `RECOMMENDED` the user's
    /// orders and the recommendations service).
    async fn edges(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Vec<RestaurantEdge>>> {
        let page = self.page(ctx).await?;
        let look = ctx.look_ahead();
        let node = look.field("node");
        let restaurants = Restaurant::load_all(RequestScope::of(ctx), &page.ids, &[node], &self.vantage(&page)).await?;
        let kind = self.request.sort.cursor_kind();
        let position = |id| page.ids.iter().position(|x| *x == id).unwrap_or_default() + self.request.offset;
        Ok(Some(
            restaurants
                .into_iter()
                .map(|node| RestaurantEdge {
                    cursor: encode_cursor(kind, position(node.restaurant_id()) as u64),
                    node,
                })
                .collect(),
        ))
    }

    /// Where this page stands. Null, with an error, when the list could not be
    /// made.
    async fn page_info(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<PageInfo>> {
        let page = self.page(ctx).await?;
        let kind = self.request.sort.cursor_kind();
        let start = self.request.offset;
        let end = start + page.ids.len();
        Ok(Some(PageInfo {
            has_next_page: end < page.total,
            has_previous_page: start > 0,
            start_cursor: (!page.ids.is_empty()).then(|| encode_cursor(kind, start as u64)),
            end_cursor: (!page.ids.is_empty()).then(|| encode_cursor(kind, end as u64 - 1)),
        }))
    }

    /// How many restaurants deliver to `near`. Null, with an error, when the list
    /// could not be made.
    async fn total_count(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<i32>> {
        Ok(Some(self.page(ctx).await?.total as i32))
    }
}
