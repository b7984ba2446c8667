//! Delivery areas (calls 5 and 6).

use serde::Deserialize;

use super::{Area, AreaId, AreaRestaurant, Location, Service, UpstreamError, Upstreams, http::Call};

#[derive(Deserialize)]
struct AreaRestaurants {
    restaurants: Vec<AreaRestaurant>,
}

impl Upstreams {
    /// Call 5: the delivery area around `at`; `None` outside every area.
    pub async fn area_at(&self, at: Location) -> Result<Option<Area>, UpstreamError> {
        let query = [("lat", at.lat.to_string()), ("lng", at.lng.to_string())];
        self.get(Call {
            service: Service::Geo,
            route: "GET /areas/lookup",
            path: &["areas", "lookup"],
            query: &query,
            user: None,
            batch: 0,
        })
        .await
    }

    /// Call 6: the restaurants delivering into `area`, nearest first; `None` for an
    /// unknown area.
    pub async fn area_restaurants(&self, area: &AreaId) -> Result<Option<Vec<AreaRestaurant>>, UpstreamError> {
        let answer: Option<AreaRestaurants> = self
            .get(Call {
                service: Service::Geo,
                route: "GET /areas/{areaId}/restaurants",
                path: &["areas", &area.0, "restaurants"],
                query: &[],
                user: None,
                batch: 0,
            })
            .await?;
        Ok(answer.map(|a| a.restaurants))
    }
}
