//! Promotions (call 13): public offers, plus a signed-in user's personal ones.

use super::{Promotions, RestaurantId, Service, UpstreamError, Upstreams, UserId};

impl Upstreams {
    /// Call 13: promotions of `ids`. With `user`, the call is private to that user
    /// and adds their personal offers.
    pub async fn promotions(
        &self,
        ids: &[RestaurantId],
        user: Option<UserId>,
    ) -> Result<Vec<Promotions>, UpstreamError> {
        let extra: Vec<(&str, String)> = user.map(|u| ("userId", u.0.to_string())).into_iter().collect();
        self.batch(ids, 100, |chunk| {
            self.batch_get(
                Service::Promotions,
                "GET /promotions",
                "promotions",
                "restaurantIds",
                chunk,
                &extra,
                user,
            )
        })
        .await
    }
}
