//! What the gateway, its configuration and the demo upstreams share of the
//! upstream contract (`docs/upstreams.md`): the services by name and the ids of
//! their records. A leaf: it depends on nothing else in the crate.

mod ids;
mod service;

pub use ids::{AddressId, AreaId, MenuItemId, OrderId, PromotionId, RestaurantId, UserId};
pub use service::Service;

/// The fastest the demo's order clock may run (`PUT /_admin/clock`, calls 17-21:
/// "0 to 1,000").
pub const MAX_CLOCK_SPEED: f64 = 1_000.0;

/// The seed the demo's data derives from unless told otherwise.
pub const DEFAULT_DEMO_SEED: u64 = 42;
