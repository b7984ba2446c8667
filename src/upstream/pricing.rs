//! Delivery fees and minimum order values, which depend on the area (call 11).

use super::{AreaId, Fees, RestaurantId, Service, UpstreamError, Upstreams};

impl Upstreams {
    /// Call 11: fees of `ids` for deliveries into `area`.
    pub async fn fees(&self, area: &AreaId, ids: &[RestaurantId]) -> Result<Vec<Fees>, UpstreamError> {
        let extra = [("areaId", area.0.clone())];
        self.batch(ids, 100, |chunk| {
            self.batch_get(Service::Pricing, "GET /fees", "fees", "restaurantIds", chunk, &extra, None)
        })
        .await
    }
}
