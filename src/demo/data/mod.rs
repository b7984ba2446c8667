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

/// An order a user can place on the demo (call 18): an open restaurant that
/// delivers to one of the user's addresses, that address, and a dish of its menu.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SampleOrder {
    /// The restaurant's id.
    pub restaurant: u64,
    /// The address's id, one of the user's.
    pub address: u64,
    /// The first dish of the restaurant's menu.
    pub dish: u64,
}

/// The first order `user` can place on the demo of `seed`, as call 18 checks it
/// (GraphiQL's ready tabs place it); `None` when no address of the user has an
/// open restaurant delivering to it, or the user does not exist.
pub fn sample_order(seed: u64, user: u64) -> Option<SampleOrder> {
    addresses(seed, user)?.into_iter().find_map(|address| {
        let area = area_lookup(seed, address.location.lat, address.location.lng)?;
        let restaurant = area_restaurants(seed, &area.area_id)?
            .into_iter()
            .map(|r| r.restaurant_id)
            .find(|&r| availability(seed, r).is_some_and(|a| a.open))?;
        let dish = menu(seed, restaurant)?
            .categories
            .iter()
            .flat_map(|c| &c.items)
            .next()?
            .id;
        Some(SampleOrder {
            restaurant,
            address: address.id,
            dish,
        })
    })
}

#[cfg(test)]
mod sample_order_tests {
    use super::*;

    #[test]
    fn the_default_demo_user_has_an_order_the_demo_accepts() {
        let order = sample_order(DEFAULT_SEED, 42).expect("an order for user 42");
        assert!(availability(DEFAULT_SEED, order.restaurant).is_some_and(|a| a.open));
        let addresses = addresses(DEFAULT_SEED, 42).unwrap();
        assert!(addresses.iter().any(|a| a.id == order.address));
    }

    #[test]
    fn a_user_the_demo_does_not_have_gets_no_order() {
        assert_eq!(sample_order(DEFAULT_SEED, u64::MAX), None);
    }
}
