//! Delivery fees and minimum order values, which depend on the area (call 11).

use super::{AreaId, Fees, Outcomes, RestaurantId, Service, Upstreams, batch::BatchGet};

impl Upstreams {
    /// Call 11: fees of `ids` for deliveries into `area`.
    pub async fn fees(&self, area: &AreaId, ids: &[RestaurantId]) -> Outcomes<Fees> {
        let extra = [("areaId", area.0.clone())];
        let endpoint = BatchGet {
            service: Service::Pricing,
            route: "GET /fees",
            path: "fees",
            param: "restaurantIds",
            max: 100,
            extra: &extra,
            user: None,
        };
        self.batch_get(&endpoint, ids).await
    }
}
