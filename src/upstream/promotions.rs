//! Promotions (call 13): public offers, plus a signed-in user's personal ones.

use super::{Outcomes, Promotions, RestaurantId, Service, Upstreams, UserId, batch::BatchGet};

impl Upstreams {
    /// Call 13: promotions of `ids`. With `user`, the call is private to that user
    /// and adds their personal offers.
    pub async fn promotions(&self, ids: &[RestaurantId], user: Option<UserId>) -> Outcomes<Promotions> {
        let extra: Vec<(&str, String)> = user.map(|u| ("userId", u.0.to_string())).into_iter().collect();
        let endpoint = BatchGet {
            service: Service::Promotions,
            route: "GET /promotions",
            path: "promotions",
            param: "restaurantIds",
            max: 100,
            extra: &extra,
            user,
        };
        self.batch_get(&endpoint, ids).await
    }
}
