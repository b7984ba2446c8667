//! Delivery estimates, which depend on where the food goes (call 10).

use serde::Serialize;

use super::{Estimate, Location, RestaurantId, Service, UpstreamError, Upstreams, http::Call};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EstimatesRequest<'a> {
    location: Location,
    restaurant_ids: &'a [RestaurantId],
}

impl Upstreams {
    /// Call 10: how long `ids` take to deliver to `location`.
    pub async fn estimates(&self, location: Location, ids: &[RestaurantId]) -> Result<Vec<Estimate>, UpstreamError> {
        self.batch(ids, 100, |chunk| async move {
            let call = Call {
                service: Service::Logistics,
                route: "POST /estimates",
                path: &["estimates"],
                query: &[],
                user: None,
                batch: chunk.len(),
            };
            let body = EstimatesRequest {
                location,
                restaurant_ids: chunk,
            };
            self.post(call, &body).await
        })
        .await
    }
}
