//! A user's profile, addresses and favourites (calls 1-3). All private.

use serde::Deserialize;

use super::{Address, RestaurantId, Service, UpstreamError, Upstreams, User, UserId, http::Call};

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Favorites {
    restaurant_ids: Vec<RestaurantId>,
}

impl Upstreams {
    /// Call 1: the user's profile; `None` if the user does not exist.
    pub async fn user(&self, user: UserId) -> Result<Option<User>, UpstreamError> {
        let id = user.0.to_string();
        self.get(Call {
            service: Service::Users,
            route: "GET /users/{id}",
            path: &["users", &id],
            query: &[],
            user: Some(user),
            batch: 1,
        })
        .await
    }

    /// Call 2: the user's delivery addresses.
    pub async fn addresses(&self, user: UserId) -> Result<Vec<Address>, UpstreamError> {
        let id = user.0.to_string();
        let found: Option<Vec<Address>> = self
            .get(Call {
                service: Service::Users,
                route: "GET /users/{id}/addresses",
                path: &["users", &id, "addresses"],
                query: &[],
                user: Some(user),
                batch: 1,
            })
            .await?;
        Ok(found.unwrap_or_default())
    }

    /// Call 3: the ids of the user's favourite restaurants.
    pub async fn favorites(&self, user: UserId) -> Result<Vec<RestaurantId>, UpstreamError> {
        let id = user.0.to_string();
        let found: Option<Favorites> = self
            .get(Call {
                service: Service::Users,
                route: "GET /users/{id}/favorites",
                path: &["users", &id, "favorites"],
                query: &[],
                user: Some(user),
                batch: 1,
            })
            .await?;
        Ok(found.map(|f| f.restaurant_ids).unwrap_or_default())
    }
}
