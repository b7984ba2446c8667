//! Delivery areas (calls 5 and 6): public, cached per URL (the contract says 300 s).

use std::sync::Arc;

use serde::Deserialize;

use super::{Area, AreaId, AreaRestaurant, Location, Service, UpstreamError, Upstreams, http::Call};

#[derive(Deserialize)]
pub(super) struct AreaRestaurants {
    restaurants: Vec<AreaRestaurant>,
}

impl Upstreams {
    /// Call 5: the delivery area around `at`; `None` outside every area.
    pub async fn area_at(&self, at: Location) -> Result<Option<Area>, UpstreamError> {
        let query = [("lat", at.lat.to_string()), ("lng", at.lng.to_string())];
        let area = self
            .cached_get::<Area>(Call {
                service: Service::Geo,
                route: "GET /areas/lookup",
                path: &["areas", "lookup"],
                query: &query,
                user: None,
                batch: 0,
            })
            .await?;
        Ok(area.map(Arc::unwrap_or_clone))
    }

    /// Call 6: the restaurants delivering into `area`, nearest first; `None` for an
    /// unknown area.
    pub async fn area_restaurants(&self, area: &AreaId) -> Result<Option<Vec<AreaRestaurant>>, UpstreamError> {
        let answer = self
            .cached_get::<AreaRestaurants>(Call {
                service: Service::Geo,
                route: "GET /areas/{areaId}/restaurants",
                path: &["areas", &area.0, "restaurants"],
                query: &[],
                user: None,
                batch: 0,
            })
            .await?;
        Ok(answer.map(|a| a.restaurants.clone()))
    }
}
