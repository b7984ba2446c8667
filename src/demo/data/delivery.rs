//! What delivering from a restaurant costs and takes: estimates (call 10), fees
//! (call 11) and opening state (call 12).

use super::clock::{REFERENCE, timestamp};
use super::geo::{Cell, haversine_m};
use super::hash::Stream;
use super::restaurants::{RESTAURANT_COUNT, restaurant_location};
use crate::demo::wire::{Availability, Estimate, Fees, Location, Money};

/// Courier speed in metres per minute (about 15 km/h).
const COURIER_M_PER_MIN: f64 = 250.0;

/// Distance beyond which the delivery fee stops growing.
const MAX_FEE_KM: f64 = 15.0;

fn exists(id: u64) -> bool {
    (1..=RESTAURANT_COUNT).contains(&id)
}

/// Call 10: minutes and distance from a restaurant to a point: a hashed preparation
/// time (8–20 min) plus the ride at courier speed. `None` for unknown restaurants.
pub fn estimate(seed: u64, lat: f64, lng: f64, restaurant_id: u64) -> Option<Estimate> {
    if !exists(restaurant_id) {
        return None;
    }
    let distance = haversine_m(Location { lat, lng }, restaurant_location(seed, restaurant_id));
    let distance = if distance.is_finite() { distance } else { 0.0 };
    let preparation = Stream::new(seed, "estimate.preparation", &[restaurant_id]).between(8, 20);
    let ride = (distance / COURIER_M_PER_MIN).ceil().min(1e6) as u64;
    Some(Estimate {
        restaurant_id,
        minutes: (preparation + ride) as u32,
        distance_meters: distance.round().min(f64::from(u32::MAX)) as u32,
    })
}

/// Call 11: delivery fee and minimum order of a restaurant for an area: the fee grows
/// with the distance from the restaurant to the area's centre (by 0.30 € per km, up
/// to 15 km). `None` for an unknown area or restaurant.
pub fn fees(seed: u64, area_id: &str, restaurant_id: u64) -> Option<Fees> {
    let cell = Cell::from_id(area_id)?;
    if !exists(restaurant_id) {
        return None;
    }
    let km = haversine_m(cell.centre(), restaurant_location(seed, restaurant_id)) / 1000.0;
    let km = if km.is_finite() { km.min(MAX_FEE_KM) } else { MAX_FEE_KM };
    let mut s = Stream::new(seed, "fees", &[restaurant_id, cell.0 as u64]);
    let base = 49 + 10 * s.between(0, 15) as i64;
    let delivery_fee = base + (km * 30.0).round() as i64 / 10 * 10;
    let minimum_order = 500 * s.between(2, 5) as i64;
    Some(Fees {
        restaurant_id,
        delivery_fee: Money::eur(delivery_fee),
        minimum_order: Money::eur(minimum_order),
    })
}

/// Call 12: whether a restaurant is open (about three in four are) and when that
/// changes next: a quarter hour within a day after the reference instant.
pub fn availability(seed: u64, restaurant_id: u64) -> Option<Availability> {
    if !exists(restaurant_id) {
        return None;
    }
    let mut s = Stream::new(seed, "availability", &[restaurant_id]);
    let open = s.chance(0.75);
    let quarters = s.between(1, 96) as i64;
    Some(Availability {
        restaurant_id,
        open,
        next_change_at: timestamp(REFERENCE + quarters * 900),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimates_depend_on_the_location() {
        let near = restaurant_location(42, 6);
        let a = estimate(42, near.lat, near.lng, 6).expect("exists");
        let b = estimate(42, 48.1372, 11.5756, 6).expect("exists");
        assert!(a.distance_meters < 10 && b.distance_meters > 100_000);
        assert!(a.minutes < b.minutes);
        assert!(estimate(42, 52.52, 13.405, 5_001).is_none());
        assert!(estimate(42, f64::NAN, 13.405, 6).is_some());
    }

    #[test]
    fn fees_depend_on_the_area() {
        let here = fees(42, "ber-06", 6).expect("exists");
        let there = fees(42, "muc-06", 6).expect("exists");
        assert_ne!(here, there);
        assert!(fees(42, "nope", 6).is_none());
        assert!(fees(42, "ber-06", 0).is_none());
    }

    #[test]
    fn availability_is_stable_and_changes_after_the_reference() {
        let a = availability(42, 100).expect("exists");
        assert_eq!(Some(a.clone()), availability(42, 100));
        assert!(a.next_change_at.as_str() > "2026-10-01T00:00:00Z");
        assert!(availability(42, 0).is_none());
    }
}
