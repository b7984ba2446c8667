//! What belongs to one GraphQL request: who asks, the DataLoader, and the signed-in
//! user's data, each fetched at most once.
//!
//! A [`RequestScope`] is put on every request with `Request::data`; nothing here
//! lives longer than the request, so one user's data never serves another.

use std::{future::Future, sync::Arc};

use async_graphql::{Context, dataloader::HashMapCache};
use tokio::sync::OnceCell;

use super::{
    error::{self, UpstreamResultExt},
    loaders::{RequestLoader, UpstreamLoader},
    plan::Plans,
};
use crate::upstream::{Address, Loyalty, OrdersPage, RestaurantId, UpstreamError, Upstreams, User, UserId, Voucher};

/// How many of the newest orders are read once per request: they serve the first
/// pages of `orderHistory.orders` and the ranking's "recent orders" alike, so one
/// call to the orders service answers both.
pub const RECENT_ORDERS: u32 = 50;

/// How many recent orders inform the personal ranking.
pub const RANKING_RECENT_ORDERS: usize = 10;

/// Schema-wide settings the resolvers read.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest `first` of a connection.
    pub max_page_size: u32,
}

/// One request's state.
pub struct RequestScope {
    /// Batches and caches per-restaurant loads.
    pub loader: RequestLoader,
    /// The signed-in user, if any.
    pub viewer: Option<Arc<Viewer>>,
    /// The upstream clients.
    pub upstreams: Upstreams,
    /// Settings.
    pub limits: Limits,
    /// The selection plans compiled so far.
    pub plans: Plans,
}

impl RequestScope {
    /// A fresh scope for a request by `viewer`.
    pub fn new(upstreams: Upstreams, viewer: Option<UserId>, limits: Limits, batch_delay: std::time::Duration) -> Self {
        let loader = Self::loader(upstreams.clone(), viewer, batch_delay, tokio::spawn);
        Self::with_loader(loader, upstreams, viewer, limits)
    }

    /// The request's DataLoader, whose batches run on tasks that `spawner` starts.
    pub fn loader<R>(
        upstreams: Upstreams,
        viewer: Option<UserId>,
        batch_delay: std::time::Duration,
        spawner: impl Fn(futures_util::future::BoxFuture<'static, ()>) -> R + Send + Sync + 'static,
    ) -> RequestLoader {
        RequestLoader::with_cache(UpstreamLoader::new(upstreams, viewer), spawner, HashMapCache::new())
            .delay(batch_delay)
            // The upstream layer splits batches at each service's own maximum.
            .max_batch_size(1000)
    }

    /// A scope for a request by `viewer` that loads through `loader`.
    pub fn with_loader(loader: RequestLoader, upstreams: Upstreams, viewer: Option<UserId>, limits: Limits) -> Self {
        Self {
            loader,
            viewer: viewer.map(|id| Arc::new(Viewer::new(id, upstreams.clone()))),
            upstreams,
            limits,
            plans: Plans::default(),
        }
    }

    /// The scope of the request `ctx` belongs to.
    pub fn of<'a>(ctx: &Context<'a>) -> &'a RequestScope {
        ctx.data_unchecked::<RequestScope>()
    }

    /// The signed-in user, or an `UNAUTHENTICATED` error.
    pub fn viewer(&self) -> async_graphql::Result<&Arc<Viewer>> {
        self.viewer.as_ref().ok_or_else(error::unauthenticated)
    }
}

type Cell<T> = OnceCell<Result<T, UpstreamError>>;

/// The signed-in user's private data, each piece fetched at most once per request
/// and only for this user.
pub struct Viewer {
    /// Who is signed in.
    pub id: UserId,
    upstreams: Upstreams,
    profile: Cell<Option<Arc<User>>>,
    addresses: Cell<Arc<[Address]>>,
    favorites: Cell<Arc<[RestaurantId]>>,
    recent_orders: Cell<Arc<OrdersPage>>,
    vouchers: Cell<Arc<[Voucher]>>,
    loyalty: Cell<Option<Loyalty>>,
}

async fn once<T: Clone, F: Future<Output = Result<T, UpstreamError>>>(
    cell: &Cell<T>,
    fetch: impl FnOnce() -> F,
) -> async_graphql::Result<T> {
    cell.get_or_init(fetch).await.clone().gql()
}

impl Viewer {
    fn new(id: UserId, upstreams: Upstreams) -> Self {
        Self {
            id,
            upstreams,
            profile: OnceCell::new(),
            addresses: OnceCell::new(),
            favorites: OnceCell::new(),
            recent_orders: OnceCell::new(),
            vouchers: OnceCell::new(),
            loyalty: OnceCell::new(),
        }
    }

    /// A viewer of the same user that has read nothing yet: what a mutation's
    /// payload reads through, so it shows the state after the write.
    pub fn fresh(&self) -> Viewer {
        Viewer::new(self.id, self.upstreams.clone())
    }

    /// The upstream clients, for calls beyond the cached ones (older pages).
    pub fn upstreams(&self) -> &Upstreams {
        &self.upstreams
    }

    /// Call 1; `None` if the user does not exist.
    pub async fn profile(&self) -> async_graphql::Result<Option<Arc<User>>> {
        once(&self.profile, || async {
            Ok(self.upstreams.user(self.id).await?.map(Arc::new))
        })
        .await
    }

    /// Call 2.
    pub async fn addresses(&self) -> async_graphql::Result<Arc<[Address]>> {
        once(&self.addresses, || async {
            Ok(self.upstreams.addresses(self.id).await?.into())
        })
        .await
    }

    /// Call 3.
    pub async fn favorites(&self) -> async_graphql::Result<Arc<[RestaurantId]>> {
        once(&self.favorites, || async {
            Ok(self.upstreams.favorites(self.id).await?.into())
        })
        .await
    }

    /// Call 4, once: the [`RECENT_ORDERS`] newest orders and the total.
    pub async fn recent_orders(&self) -> async_graphql::Result<Arc<OrdersPage>> {
        once(&self.recent_orders, || async {
            Ok(Arc::new(self.upstreams.orders(self.id, RECENT_ORDERS, None).await?))
        })
        .await
    }

    /// Call 14.
    pub async fn vouchers(&self) -> async_graphql::Result<Arc<[Voucher]>> {
        once(&self.vouchers, || async {
            Ok(self.upstreams.vouchers(self.id).await?.into())
        })
        .await
    }

    /// Call 15; `None` if the user is not a member.
    pub async fn loyalty(&self) -> async_graphql::Result<Option<Loyalty>> {
        once(&self.loyalty, || async { self.upstreams.loyalty(self.id).await }).await
    }

    /// The distinct restaurants of the user's most recent orders, newest first.
    pub async fn recent_restaurants(&self) -> async_graphql::Result<Vec<RestaurantId>> {
        let page = self.recent_orders().await?;
        let mut ids = Vec::with_capacity(RANKING_RECENT_ORDERS);
        for order in page.orders.iter().take(RANKING_RECENT_ORDERS) {
            if !ids.contains(&order.restaurant_id) {
                ids.push(order.restaurant_id);
            }
        }
        Ok(ids)
    }
}
