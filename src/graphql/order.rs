//! `OrderHistory` and `Order`: the signed-in user's past orders, paged.
//!
//! The first pages are served from the one read of recent orders that the request
//! makes anyway (see [`RECENT_ORDERS`]); only pages beyond it ask the orders
//! service again, with `before`.

use std::sync::Arc;

use async_graphql::{Context, Enum, ID, Lookahead, Object, SimpleObject};
use time::OffsetDateTime;

use super::{
    common::{GeoPoint, Money, PageInfo, decode_cursor, encode_cursor, page_size},
    error::UpstreamResultExt,
    loaders::RestaurantKey,
    restaurant::{Restaurant, Vantage},
    scope::{RECENT_ORDERS, RequestScope, Viewer},
};
use crate::upstream::{self, OrderId};

const CURSOR_KIND: &str = "o";
const DEFAULT_FIRST: i32 = 10;

/// The largest `first` among the `orders` selections in `orders` (a lookahead of
/// that field): how many orders the query will show from the start.
pub fn largest_first(orders: &Lookahead<'_>) -> usize {
    orders
        .selection_fields()
        .iter()
        .map(|field| {
            field
                .arguments()
                .ok()
                .and_then(|args| args.into_iter().find(|(name, _)| name.as_str() == "first"))
                .and_then(|(_, value)| match value {
                    async_graphql::Value::Number(n) => n.as_u64(),
                    _ => None,
                })
                .unwrap_or(DEFAULT_FIRST as u64) as usize
        })
        .max()
        .unwrap_or(0)
}

/// The signed-in user's past orders.
pub struct OrderHistory {
    viewer: Arc<Viewer>,
}

impl OrderHistory {
    /// The history of `viewer`.
    pub fn new(viewer: Arc<Viewer>) -> Self {
        Self { viewer }
    }
}

/// A page of orders.
#[derive(SimpleObject)]
pub struct OrderConnection {
    /// The orders of this page, newest first.
    pub edges: Vec<OrderEdge>,
    /// Where this page stands.
    pub page_info: PageInfo,
}

/// An order in the history, with its position.
#[derive(SimpleObject)]
pub struct OrderEdge {
    /// Pass as `after` to continue after this order.
    pub cursor: String,
    /// The order.
    pub node: Order,
}

/// The signed-in user's past orders.
#[Object]
impl OrderHistory {
    /// How many orders the user has placed in all.
    async fn total_count(&self) -> async_graphql::Result<u32> {
        Ok(self.viewer.recent_orders().await?.total)
    }

    /// Orders, newest first. Null, with an error, when the orders service failed
    /// for a page beyond the first ones.
    async fn orders(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 10, desc = "How many orders, 1 to the configured maximum (default 100).")] first: i32,
        #[graphql(desc = "A cursor from a previous page: the page starts after that order.")] after: Option<String>,
    ) -> async_graphql::Result<Option<OrderConnection>> {
        let first = page_size(first, RequestScope::of(ctx).limits.max_page_size)?;
        let after = after.map(|c| decode_cursor(CURSOR_KIND, &c).map(OrderId)).transpose()?;
        let recent = self.viewer.recent_orders().await?;
        let (orders, has_next) = match after {
            None if first <= recent.orders.len() || recent.orders.len() as u32 == recent.total => {
                let shown: Vec<_> = recent.orders.iter().take(first).cloned().collect();
                let has_next = (shown.len() as u32) < recent.total;
                (shown, has_next)
            }
            Some(after) if self.cached_after(&recent, after, first) => {
                let start = recent.orders.iter().position(|o| o.id == after).map_or(0, |i| i + 1);
                let shown: Vec<_> = recent.orders.iter().skip(start).take(first).cloned().collect();
                let has_next = ((start + shown.len()) as u32) < recent.total;
                (shown, has_next)
            }
            _ => self.fetch(after, first).await?,
        };
        Ok(Some(OrderConnection {
            page_info: PageInfo {
                has_next_page: has_next,
                has_previous_page: after.is_some(),
                start_cursor: orders.first().map(|o| encode_cursor(CURSOR_KIND, o.id.0)),
                end_cursor: orders.last().map(|o| encode_cursor(CURSOR_KIND, o.id.0)),
            },
            edges: orders
                .into_iter()
                .map(|o| OrderEdge {
                    cursor: encode_cursor(CURSOR_KIND, o.id.0),
                    node: Order(o),
                })
                .collect(),
        }))
    }
}

impl OrderHistory {
    /// Whether the page after `after` lies within the recent orders read.
    fn cached_after(&self, recent: &upstream::OrdersPage, after: OrderId, first: usize) -> bool {
        match recent.orders.iter().position(|o| o.id == after) {
            Some(i) => i + 1 + first <= recent.orders.len() || recent.orders.len() as u32 == recent.total,
            None => false,
        }
    }

    /// A page beyond the recent orders: one more call, one order more than shown
    /// to learn whether another page follows.
    async fn fetch(&self, after: Option<OrderId>, first: usize) -> async_graphql::Result<(Vec<upstream::Order>, bool)> {
        let mut orders = Vec::with_capacity(first);
        let mut before = after;
        // The service answers at most RECENT_ORDERS at once; a larger page takes
        // several calls, one after another.
        loop {
            let want = (first + 1 - orders.len()).min(RECENT_ORDERS as usize) as u32;
            let page = self
                .viewer
                .upstreams()
                .orders(self.viewer.id, want, before)
                .await
                .gql()?;
            let got = page.orders.len();
            before = page.orders.last().map(|o| o.id);
            orders.extend(page.orders);
            if orders.len() > first || got < want as usize {
                break;
            }
        }
        let has_next = orders.len() > first;
        orders.truncate(first);
        Ok((orders, has_next))
    }
}

/// Where an order is in its life.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum OrderStatus {
    /// Placed, not yet accepted by the restaurant.
    Placed,
    /// Being prepared.
    Preparing,
    /// With the courier.
    OnTheWay,
    /// Delivered.
    Delivered,
    /// Cancelled.
    Cancelled,
}

/// A line of an order.
#[derive(SimpleObject)]
pub struct OrderItem {
    /// The dish's id.
    pub menu_item_id: ID,
    /// The dish's name when ordered.
    pub name: String,
    /// How many.
    pub quantity: u32,
    /// Price of one when ordered.
    pub unit_price: Money,
}

/// An order: placed, on its way, or past.
pub struct Order(upstream::Order);

impl Order {
    /// The order as the orders service describes it.
    pub fn new(order: upstream::Order) -> Self {
        Self(order)
    }
}

/// Where an order is on its way.
pub struct OrderTracking(upstream::Tracking);

/// Where an order is on its way.
#[Object]
impl OrderTracking {
    /// Minutes until delivery: an estimate while the order is placed, being
    /// prepared or on its way; `0` once delivered; null when cancelled.
    async fn eta_minutes(&self) -> Option<u32> {
        self.0.eta_minutes
    }

    /// The courier carrying the order; null unless it is on its way.
    async fn courier(&self) -> Option<Courier> {
        self.0.courier.map(|c| Courier {
            location: c.location.into(),
        })
    }

    /// When the order's status, estimate or courier position last changed.
    async fn updated_at(&self) -> OffsetDateTime {
        self.0.updated_at
    }
}

/// The courier carrying an order.
#[derive(SimpleObject)]
pub struct Courier {
    /// Where the courier is now.
    pub location: GeoPoint,
}

/// An order: placed, on its way, or past.
#[Object]
impl Order {
    /// The order's id.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// When it was placed.
    async fn placed_at(&self) -> OffsetDateTime {
        self.0.placed_at
    }

    /// Where it is in its life.
    async fn status(&self) -> OrderStatus {
        match self.0.status {
            upstream::OrderStatus::Placed => OrderStatus::Placed,
            upstream::OrderStatus::Preparing => OrderStatus::Preparing,
            upstream::OrderStatus::OnTheWay => OrderStatus::OnTheWay,
            upstream::OrderStatus::Delivered => OrderStatus::Delivered,
            upstream::OrderStatus::Cancelled => OrderStatus::Cancelled,
        }
    }

    /// What was ordered.
    async fn items(&self) -> Vec<OrderItem> {
        self.0
            .items
            .iter()
            .map(|i| OrderItem {
                menu_item_id: ID(i.menu_item_id.to_string()),
                name: i.name.clone(),
                quantity: i.quantity,
                unit_price: Money::from(&i.unit_price),
            })
            .collect()
    }

    /// What it cost in all.
    async fn total(&self) -> Money {
        Money::from(&self.0.total)
    }

    /// Where it is on its way: the estimate and the courier. Null only from an
    /// orders service that does not track orders.
    async fn tracking(&self) -> Option<OrderTracking> {
        self.0.tracking.clone().map(OrderTracking)
    }

    /// The restaurant it came from; null if it no longer exists.
    async fn restaurant(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Restaurant>> {
        let record = super::loaders::load_one(&RequestScope::of(ctx).loader, RestaurantKey(self.0.restaurant_id))
            .await
            .gql()?;
        Ok(record.map(|r| Restaurant::from_record(r, &Vantage::default())))
    }
}
