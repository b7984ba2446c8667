//! The thirteen services' routes, each nested under its own prefix (`/menus/..`)
//! behind the [gate](super::gate) that counts calls and injects faults.
//!
//! Handlers read the request, call [`super::data`] (and, for the writes of calls
//! 17-21, the demo's store) and answer; they never touch the statistics or the
//! faults.

mod catalog;
mod delivery;
mod orders;
mod people;

use axum::Router;
use axum::middleware::from_fn_with_state;

use super::Demo;
use super::gate::{Gate, gate};
use super::service::Service;

/// Seconds shared data may be cached, per the contract.
pub(crate) mod max_age {
    /// Geo answers.
    pub(crate) const GEO: u32 = 300;
    /// Restaurants, menus, ratings, fees, public promotions.
    pub(crate) const CATALOG: u32 = 60;
    /// Delivery estimates.
    pub(crate) const ESTIMATES: u32 = 30;
    /// Availability.
    pub(crate) const AVAILABILITY: u32 = 15;
}

/// One service's own routes, paths relative to its prefix.
fn service_routes(service: Service) -> Router<Demo> {
    match service {
        Service::Users => people::users(),
        Service::Orders => orders::orders(),
        Service::Wallet => people::wallet(),
        Service::Loyalty => people::loyalty(),
        Service::Geo => catalog::geo(),
        Service::Restaurants => catalog::restaurants(),
        Service::Menus => catalog::menus(),
        Service::Ratings => catalog::ratings(),
        Service::Logistics => delivery::logistics(),
        Service::Pricing => delivery::pricing(),
        Service::Availability => delivery::availability(),
        Service::Promotions => delivery::promotions(),
        Service::Recommendations => delivery::recommendations(),
    }
}

/// Every service under `/<name>`, each behind its gate.
pub(crate) fn services(demo: &Demo) -> Router<Demo> {
    Service::ALL.into_iter().fold(Router::new(), |router, service| {
        let gate_state = Gate {
            demo: demo.clone(),
            service,
        };
        let routes = service_routes(service).route_layer(from_fn_with_state(gate_state, gate));
        router.nest(&format!("/{}", service.name()), routes)
    })
}
