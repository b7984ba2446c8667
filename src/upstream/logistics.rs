//! Delivery estimates, which depend on where the food goes (call 10).
//!
//! `POST /estimates` is a public read (the contract answers it `public,
//! max-age=30`), so its entries are cached per location and restaurant, and
//! identical calls in flight are shared. The location is snapped to the
//! [`LOCATION_GRID`](super::geo::LOCATION_GRID) first, for the key and the call
//! alike, so clients cannot mint entries with floats.

use serde::Serialize;

use super::{Estimate, Location, Outcomes, RestaurantId, Service, Upstreams, cached::KeyScope, http::Call};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EstimatesRequest<'a> {
    location: Location,
    restaurant_ids: &'a [RestaurantId],
}

const ROUTE: &str = "POST /estimates";

impl Upstreams {
    /// Call 10: how long `ids` take to deliver to `location` (snapped to the
    /// location grid).
    pub async fn estimates(&self, location: Location, ids: &[RestaurantId]) -> Outcomes<Estimate> {
        let location = super::geo::on_grid(location);
        let part = format!("at={},{}", location.lat, location.lng);
        let scope = KeyScope {
            service: Service::Logistics,
            route: ROUTE,
            part: &part,
        };
        self.cached_batch(scope, true, ids, 100, |chunk| async move {
            let call = Call {
                service: Service::Logistics,
                route: ROUTE,
                path: &["estimates"],
                query: &[],
                user: None,
                batch: chunk.len(),
            };
            let body = EstimatesRequest {
                location,
                restaurant_ids: &chunk,
            };
            self.post_with(call, &body, self.records_decoder::<Estimate>(true))
                .await
        })
        .await
    }
}
