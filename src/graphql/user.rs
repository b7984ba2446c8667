//! `User`: the signed-in user and their private data. Reachable only through
//! `Query.me`, so no argument anywhere can name another user.

use std::sync::Arc;

use async_graphql::{Context, Enum, ID, Object, SimpleObject};
use time::{Date, OffsetDateTime};

use super::{
    common::{GeoPoint, Money, numeric_id},
    error::UpstreamResultExt,
    order::{Order, OrderHistory},
    restaurant::{Restaurant, Vantage},
    scope::{RequestScope, Viewer},
};
use crate::upstream::{self, OrderId, RestaurantId};

/// The signed-in user.
pub struct User {
    viewer: Arc<Viewer>,
    profile: Arc<upstream::User>,
}

impl User {
    /// The user behind `viewer`, with their profile.
    pub fn new(viewer: Arc<Viewer>, profile: Arc<upstream::User>) -> Self {
        Self { viewer, profile }
    }
}

/// One of the user's delivery addresses.
#[derive(SimpleObject)]
pub struct Address {
    /// The address's id.
    pub id: ID,
    /// The user's name for it, e.g. "Home".
    pub label: String,
    /// Street and number.
    pub street: String,
    /// City.
    pub city: String,
    /// Postcode.
    pub postcode: String,
    /// Where it is.
    pub location: GeoPoint,
}

/// A voucher in the user's wallet.
#[derive(SimpleObject)]
pub struct Voucher {
    /// The code to redeem at checkout.
    pub code: String,
    /// What it takes off an order.
    pub value: Money,
    /// When it stops being valid.
    pub expires_at: OffsetDateTime,
}

/// A tier of the loyalty programme.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum LoyaltyTier {
    /// Entry tier.
    Bronze,
    /// Middle tier.
    Silver,
    /// Top tier.
    Gold,
}

/// The user's standing in the loyalty programme.
#[derive(SimpleObject)]
pub struct Loyalty {
    /// Points collected.
    pub points: u64,
    /// Tier reached.
    pub tier: LoyaltyTier,
}

/// The signed-in user.
#[Object(cache_control(private))]
impl User {
    /// The user's id.
    async fn id(&self) -> ID {
        ID(self.profile.id.to_string())
    }

    /// Display name.
    async fn name(&self) -> &str {
        &self.profile.name
    }

    /// E-mail address.
    async fn email(&self) -> &str {
        &self.profile.email
    }

    /// Preferred locale (BCP 47), e.g. `de-DE`.
    async fn locale(&self) -> &str {
        &self.profile.locale
    }

    /// The day they signed up.
    async fn member_since(&self) -> Date {
        self.profile.member_since
    }

    /// Saved delivery addresses. Null, with an error, when the users service
    /// failed.
    async fn addresses(&self) -> async_graphql::Result<Option<Vec<Address>>> {
        let addresses = self.viewer.addresses().await?;
        Ok(Some(
            addresses
                .iter()
                .map(|a| Address {
                    id: ID(a.id.to_string()),
                    label: a.label.clone(),
                    street: a.street.clone(),
                    city: a.city.clone(),
                    postcode: a.postcode.clone(),
                    location: a.location.into(),
                })
                .collect(),
        ))
    }

    /// Favourite restaurants (those that still exist). Null, with an error, when
    /// the users or the restaurants service failed.
    async fn favorites(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Vec<Restaurant>>> {
        let ids = self.viewer.favorites().await?;
        let selection = [ctx.look_ahead()];
        Restaurant::load_all(RequestScope::of(ctx), &ids, &selection, &Vantage::default())
            .await
            .map(Some)
    }

    /// Past orders, newest first. Null, with an error, when the orders service
    /// failed.
    async fn order_history(&self) -> Option<OrderHistory> {
        Some(OrderHistory::new(self.viewer.clone()))
    }

    /// One of the user's orders by id, as it stands now (with its tracking).
    /// Null when the user has no order with that id: another user's order is
    /// never shown, nor is its existence disclosed.
    async fn order(&self, #[graphql(desc = "The order's id.")] id: ID) -> async_graphql::Result<Option<Order>> {
        let id = OrderId(numeric_id(&id, "order")?);
        match self
            .viewer
            .upstreams()
            .live_order(self.viewer.id, id, None)
            .await
            .gql()?
        {
            upstream::OrderRead::Current(order) => Ok(Some(Order::new(*order))),
            upstream::OrderRead::NotFound | upstream::OrderRead::NotModified => Ok(None),
        }
    }

    /// Vouchers in the wallet. Null, with an error, when the wallet service
    /// failed.
    async fn vouchers(&self) -> async_graphql::Result<Option<Vec<Voucher>>> {
        let vouchers = self.viewer.vouchers().await?;
        Ok(Some(
            vouchers
                .iter()
                .map(|v| Voucher {
                    code: v.code.clone(),
                    value: Money::from(&v.value),
                    expires_at: v.expires_at,
                })
                .collect(),
        ))
    }

    /// Standing in the loyalty programme; null when not a member, or with an
    /// error when the loyalty service failed.
    async fn loyalty(&self) -> async_graphql::Result<Option<Loyalty>> {
        Ok(self.viewer.loyalty().await?.map(|l| Loyalty {
            points: l.points,
            tier: match l.tier {
                upstream::LoyaltyTier::Bronze => LoyaltyTier::Bronze,
                upstream::LoyaltyTier::Silver => LoyaltyTier::Silver,
                upstream::LoyaltyTier::Gold => LoyaltyTier::Gold,
            },
        }))
    }
}

/// Starts every call that `me`'s selection needs at once (wave 1), then loads the
/// restaurants of the favourites and of the orders shown in one batch (wave 2).
///
/// Returns the profile; the other answers wait in the viewer's cells for the
/// fields that read them.
pub async fn prefetch(ctx: &Context<'_>, viewer: &Viewer) -> async_graphql::Result<Option<Arc<upstream::User>>> {
    let look = ctx.look_ahead();
    let wants = |name: &str| look.field(name).exists();
    let history = look.field("orderHistory");
    let orders = history.field("orders");
    let order_restaurants = orders.field("edges").field("node").field("restaurant").exists();
    let (profile, _, favorites, recent, _, _) = tokio::join!(
        viewer.profile(),
        when(wants("addresses"), viewer.addresses()),
        when(wants("favorites"), viewer.favorites()),
        when(history.exists(), viewer.recent_orders()),
        when(wants("vouchers"), viewer.vouchers()),
        when(wants("loyalty"), viewer.loyalty()),
    );
    let mut ids: Vec<RestaurantId> = match favorites {
        Some(Ok(ids)) => ids.to_vec(),
        _ => Vec::new(),
    };
    if let (true, Some(Ok(recent))) = (order_restaurants, recent) {
        let shown = super::order::largest_first(&orders);
        ids.extend(recent.orders.iter().take(shown).map(|o| o.restaurant_id));
    }
    if !ids.is_empty() {
        ids.sort_unstable();
        ids.dedup();
        let keys = ids.into_iter().map(super::loaders::RestaurantKey).collect();
        // Errors are remembered by the loader and reported by the fields.
        super::loaders::prime_each(&RequestScope::of(ctx).loader, keys).await;
    }
    profile
}

async fn when<T>(wanted: bool, fetch: impl Future<Output = T>) -> Option<T> {
    if wanted { Some(fetch.await) } else { None }
}
