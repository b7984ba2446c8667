//! Public restaurant data keyed by restaurant id: master data (call 7), menus
//! (call 8), ratings (call 9) and opening state (call 12).

use super::{Availability, Menu, Outcomes, Rating, Restaurant, RestaurantId, Service, Upstreams, batch::BatchGet};

const fn public(
    service: Service,
    route: &'static str,
    path: &'static str,
    param: &'static str,
    max: usize,
) -> BatchGet<'static> {
    BatchGet {
        service,
        route,
        path,
        param,
        max,
        extra: &[],
        user: None,
    }
}

const RESTAURANTS: BatchGet<'static> = public(Service::Restaurants, "GET /restaurants", "restaurants", "ids", 100);
const MENUS: BatchGet<'static> = public(Service::Menus, "GET /menus", "menus", "restaurantIds", 50);
const RATINGS: BatchGet<'static> = public(Service::Ratings, "GET /ratings", "ratings", "restaurantIds", 100);
const AVAILABILITY: BatchGet<'static> = public(
    Service::Availability,
    "GET /availability",
    "availability",
    "restaurantIds",
    100,
);

impl Upstreams {
    /// Call 7: restaurants by id (unknown ids are absent).
    pub async fn restaurants(&self, ids: &[RestaurantId]) -> Outcomes<Restaurant> {
        self.batch_get(&RESTAURANTS, ids).await
    }

    /// Call 8: menus by restaurant id.
    pub async fn menus(&self, ids: &[RestaurantId]) -> Outcomes<Menu> {
        self.batch_get(&MENUS, ids).await
    }

    /// Call 9: ratings by restaurant id.
    pub async fn ratings(&self, ids: &[RestaurantId]) -> Outcomes<Rating> {
        self.batch_get(&RATINGS, ids).await
    }

    /// Call 12: opening state by restaurant id.
    pub async fn availability(&self, ids: &[RestaurantId]) -> Outcomes<Availability> {
        self.batch_get(&AVAILABILITY, ids).await
    }
}
