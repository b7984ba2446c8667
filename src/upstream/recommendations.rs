//! Personal ranking of restaurants (call 16).

use serde::Serialize;

use super::{RestaurantId, Score, Service, UpstreamError, Upstreams, UserId, http::Call};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RankRequest<'a> {
    user_id: UserId,
    restaurant_ids: &'a [RestaurantId],
    recent_restaurant_ids: &'a [RestaurantId],
}

/// The contract's maximum batch of call 16.
const MAX_RANK_BATCH: usize = 500;

impl Upstreams {
    /// Call 16: scores `candidates` for `user`, given the restaurants of their
    /// recent orders. Private to `user`.
    pub async fn rank(
        &self,
        user: UserId,
        candidates: &[RestaurantId],
        recent: &[RestaurantId],
    ) -> Result<Vec<Score>, UpstreamError> {
        self.batch(candidates, MAX_RANK_BATCH, |chunk| async move {
            let call = Call {
                service: Service::Recommendations,
                route: "POST /rank",
                path: &["rank"],
                query: &[],
                user: Some(user),
                batch: chunk.len(),
            };
            let body = RankRequest {
                user_id: user,
                restaurant_ids: chunk,
                recent_restaurant_ids: recent,
            };
            self.post(call, &body).await
        })
        .await
    }
}
