//! Public restaurant data keyed by restaurant id: master data (call 7), menus
//! (call 8), ratings (call 9) and opening state (call 12).

use super::{Availability, Menu, Rating, Restaurant, RestaurantId, Service, UpstreamError, Upstreams};

impl Upstreams {
    /// Call 7: restaurants by id (unknown ids are absent).
    pub async fn restaurants(&self, ids: &[RestaurantId]) -> Result<Vec<Restaurant>, UpstreamError> {
        self.batch(ids, 100, |chunk| {
            self.batch_get(Service::Restaurants, "GET /restaurants", "restaurants", "ids", chunk, &[], None)
        })
        .await
    }

    /// Call 8: menus by restaurant id.
    pub async fn menus(&self, ids: &[RestaurantId]) -> Result<Vec<Menu>, UpstreamError> {
        self.batch(ids, 50, |chunk| {
            self.batch_get(Service::Menus, "GET /menus", "menus", "restaurantIds", chunk, &[], None)
        })
        .await
    }

    /// Call 9: ratings by restaurant id.
    pub async fn ratings(&self, ids: &[RestaurantId]) -> Result<Vec<Rating>, UpstreamError> {
        self.batch(ids, 100, |chunk| {
            self.batch_get(Service::Ratings, "GET /ratings", "ratings", "restaurantIds", chunk, &[], None)
        })
        .await
    }

    /// Call 12: opening state by restaurant id.
    pub async fn availability(&self, ids: &[RestaurantId]) -> Result<Vec<Availability>, UpstreamError> {
        self.batch(ids, 100, |chunk| {
            self.batch_get(
                Service::Availability,
                "GET /availability",
                "availability",
                "restaurantIds",
                chunk,
                &[],
                None,
            )
        })
        .await
    }
}
