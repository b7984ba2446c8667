//! Personal ranking of restaurants (call 16).

use serde::Serialize;

use std::sync::Arc;

use super::{
    RestaurantId, Score, Service, UpstreamError, Upstreams, UserId,
    cached::{KeyScope, typed_records},
    http::Call,
};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RankRequest<'a> {
    user_id: UserId,
    restaurant_ids: &'a [RestaurantId],
    recent_restaurant_ids: &'a [RestaurantId],
}

/// The contract's maximum batch of call 16.
const MAX_RANK_BATCH: usize = 500;

const ROUTE: &str = "POST /rank";

impl Upstreams {
    /// Call 16: scores `candidates` for `user`, given the restaurants of their
    /// recent orders. Private to `user`.
    ///
    /// Unlike the per-restaurant batches this answers whole: a ranking missing the
    /// scores of a failed chunk would silently move those candidates to the end,
    /// so any failed id fails the ranking.
    pub async fn rank(
        &self,
        user: UserId,
        candidates: &[RestaurantId],
        recent: &[RestaurantId],
    ) -> Result<Vec<Score>, UpstreamError> {
        let scope = KeyScope {
            service: Service::Recommendations,
            route: ROUTE,
            part: "",
        };
        let outcomes = self
            .cached_batch(scope, false, candidates, MAX_RANK_BATCH, |chunk| async move {
                let call = Call {
                    service: Service::Recommendations,
                    route: ROUTE,
                    path: &["rank"],
                    query: &[],
                    user: Some(user),
                    batch: chunk.len(),
                };
                let body = RankRequest {
                    user_id: user,
                    restaurant_ids: &chunk,
                    recent_restaurant_ids: recent,
                };
                self.post_with(call, &body, typed_records::<Score>).await
            })
            .await;
        Ok(outcomes.into_result()?.into_iter().map(Arc::unwrap_or_clone).collect())
    }
}
