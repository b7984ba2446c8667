//! Delivery areas (calls 5 and 6): public, cached per URL (the contract says 300 s).
//!
//! A location a client chooses is snapped to a grid of [`LOCATION_GRID`] degrees
//! before it keys a cache entry or goes upstream (here and for estimates), so
//! the entries a client can make are bounded by the grid's cells in the
//! delivery areas, not by the floats it can send; the answer cached under a cell
//! is the service's answer for that cell.

use std::sync::Arc;

use serde::Deserialize;

use super::{Area, AreaId, AreaRestaurant, Location, Service, UpstreamError, Upstreams, http::Call};

/// The grid client locations are snapped to, in degrees: 0.001° is 111 m north
/// to south, and about 68 m east to west at Berlin's latitude.
pub const LOCATION_GRID: f64 = 0.001;

/// `at` snapped to the [`LOCATION_GRID`] (rounding to the nearest cell: the
/// shortest decimal of each coordinate then has at most three places).
pub(super) fn on_grid(at: Location) -> Location {
    let cells = 1.0 / LOCATION_GRID;
    let snap = |degrees: f64| (degrees * cells).round() / cells;
    Location {
        lat: snap(at.lat),
        lng: snap(at.lng),
    }
}

#[derive(Deserialize)]
pub(super) struct AreaRestaurants {
    restaurants: Vec<AreaRestaurant>,
}

impl Upstreams {
    /// Call 5: the delivery area around `at` (snapped to the [`LOCATION_GRID`]);
    /// `None` outside every area.
    pub async fn area_at(&self, at: Location) -> Result<Option<Area>, UpstreamError> {
        let at = on_grid(at);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_snap_to_the_grid_and_print_short() {
        let at = on_grid(Location {
            lat: 52.520_417_3,
            lng: 13.404_6,
        });
        assert_eq!(format!("{},{}", at.lat, at.lng), "52.52,13.405");
        let south_west = on_grid(Location {
            lat: -33.868_8,
            lng: -151.209_3,
        });
        assert_eq!(format!("{},{}", south_west.lat, south_west.lng), "-33.869,-151.209");
    }

    proptest::proptest! {
        #[test]
        fn a_million_floats_in_a_cell_make_one_key(lat in 52.5f64..52.501, lng in 13.4f64..13.401) {
            let at = on_grid(Location { lat, lng });
            proptest::prop_assert!((at.lat - lat).abs() <= LOCATION_GRID / 2.0 + 1e-12);
            proptest::prop_assert!((at.lng - lng).abs() <= LOCATION_GRID / 2.0 + 1e-12);
            let text = format!("{},{}", at.lat, at.lng);
            proptest::prop_assert!(["52.5,13.4", "52.5,13.401", "52.501,13.4", "52.501,13.401"].contains(&text.as_str()), "{}", text);
        }
    }
}
