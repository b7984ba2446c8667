//! The demo's data: pure functions of `(seed, id)`. No storage, no start-up cost, the
//! same answer every time for the same seed, so the gateway's tests call these
//! functions to compute the values they expect.
//!
//! Scale: 3 cities in 36 delivery areas ([`areas`]); restaurants 1..=5,000; users
//! 1..=100,000. Users 1..=100 ([`TEST_SUBJECTS`]) always have 2–8 favourites and 12–60
//! orders; the gateway's tests sign in as user 42. The point (52.52, 13.405) lies in
//! area `ber-06` (Berlin Mitte). Batch-shaped functions answer in input order with
//! unknown ids left out; the HTTP layer reorders.

mod cities;
mod clock;
mod delivery;
mod geo;
/// Hashing of (seed, tag, ids) into data: for a demo route that makes its own.
pub(crate) mod hash;
mod live;
mod menus;
mod offers;
mod orders;
mod rank;
mod restaurants;
mod users;
mod words;

pub(crate) use clock::timestamp_ms;
pub use delivery::{availability, estimate, fees};
pub use geo::{area_lookup, area_restaurants, areas};
pub use live::{
    COURIER_STEP_MS, DELIVERED_AFTER_MS, INITIAL_ETA_MINUTES, LiveState, ON_THE_WAY_AFTER_MS, PREPARING_AFTER_MS,
    fixed_tracking, live_state,
};
pub use menus::menu;
pub use offers::{loyalty, promotions, vouchers};
pub use orders::{order, orders, orders_page};
pub use rank::{CUISINE_BOOST, rank};
pub use restaurants::{RESTAURANT_COUNT, cuisines, rating, restaurant, restaurant_location};
pub use users::{TEST_SUBJECTS, USER_COUNT, addresses, favorites, user};

/// The seed the demo uses unless told otherwise.
pub use crate::contract::DEFAULT_DEMO_SEED as DEFAULT_SEED;
