//! The root of every query.

use async_graphql::{Context, ID, Object};

use super::{
    common::{LocationInput, numeric_id, page_size},
    listing::{ListingRequest, RestaurantConnection, RestaurantSort},
    restaurant::{Restaurant, Vantage},
    scope::RequestScope,
    user::{self, User},
};
use crate::upstream::RestaurantId;

/// What the app can ask for.
pub struct Query;

/// What the app can ask for: the signed-in user, restaurant lists and single
/// restaurants.
#[Object]
impl Query {
    /// The signed-in user (needs `Authorization: Bearer <token>`). Null with an
    /// `UNAUTHENTICATED` error when signed out; null when the token's user does not
    /// exist.
    #[graphql(cache_control(private))]
    async fn me(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        let viewer = RequestScope::of(ctx).viewer()?;
        let profile = user::prefetch(ctx, viewer).await?;
        Ok(profile.map(|p| User::new(viewer.clone(), p)))
    }

    /// Restaurants that deliver to a location, a page at a time.
    async fn restaurants(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Where the food goes.")] near: LocationInput,
        #[graphql(default = 20, desc = "Page size, 1 to the configured maximum (default 100).")] first: i32,
        #[graphql(desc = "A cursor from a previous page of the same list: the page starts after it.")] after: Option<
            String,
        >,
        #[graphql(default_with = "RestaurantSort::Distance", desc = "Order of the list.")] sort: RestaurantSort,
    ) -> async_graphql::Result<RestaurantConnection> {
        let scope = RequestScope::of(ctx);
        let near = near.checked()?;
        let first = page_size(first, scope.limits.max_page_size)?;
        let offset = ListingRequest::offset_after(sort, after.as_deref())?;
        if sort == RestaurantSort::Recommended {
            scope.viewer()?;
        }
        Ok(RestaurantConnection::new(ListingRequest {
            near,
            first,
            offset,
            sort,
        }))
    }

    /// One restaurant by id; null if there is none with that id, or when the
    /// restaurants service failed (then with an error).
    async fn restaurant(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The restaurant's id.")] id: ID,
    ) -> async_graphql::Result<Option<Restaurant>> {
        let id = RestaurantId(numeric_id(&id, "restaurant")?);
        let selection = [ctx.look_ahead()];
        let mut found = Restaurant::load_all(RequestScope::of(ctx), &[id], &selection, &Vantage::default()).await?;
        Ok(found.pop())
    }
}
