//! Order tracking (calls 4, 17-19): where an order is, as a pure function of the
//! time elapsed on the demo clock since its placement.
//!
//! A placed order (call 18) moves on the demo clock: `PREPARING` at 20 s,
//! `ON_THE_WAY` at 60 s (the courier appears at the restaurant and rides in a
//! straight line to the address, its location changing every 5 s), `DELIVERED` at
//! 180 s. `etaMinutes` is 35 at placement and one less at each full minute after it.
//! `version` counts the instants at which anything changed (status, eta or courier
//! location), so it too is a function of the elapsed time: simultaneous changes (at
//! 60 s the status, the eta and the courier all change) make one new version.
//!
//! Generated orders never change: [`fixed_tracking`].

use super::clock::timestamp_ms;
use super::restaurants::restaurant_location;
use crate::demo::wire::{Courier, Location, OrderStatus, Tracking};

/// Demo milliseconds after placement at which a placed order is `PREPARING`.
pub const PREPARING_AFTER_MS: i64 = 20_000;
/// ... `ON_THE_WAY` (the courier leaves the restaurant).
pub const ON_THE_WAY_AFTER_MS: i64 = 60_000;
/// ... `DELIVERED`.
pub const DELIVERED_AFTER_MS: i64 = 180_000;
/// How often the courier's location changes while `ON_THE_WAY`.
pub const COURIER_STEP_MS: i64 = 5_000;
/// `etaMinutes` at placement.
pub const INITIAL_ETA_MINUTES: u32 = 35;

const MINUTE_MS: i64 = 60_000;

/// An order's status and tracking at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveState {
    /// The status now.
    pub status: OrderStatus,
    /// The tracking now.
    pub tracking: Tracking,
}

/// The tracking of a generated order, which never changes: version 1, `updatedAt` =
/// `placedAt` (`placed_unix` seconds, written with milliseconds), `etaMinutes` 35
/// unless the status is final (0 delivered, `null` cancelled), the courier at the
/// restaurant while `ON_THE_WAY`.
pub fn fixed_tracking(seed: u64, status: OrderStatus, placed_unix: i64, restaurant_id: u64) -> Tracking {
    let eta_minutes = match status {
        OrderStatus::Delivered => Some(0),
        OrderStatus::Cancelled => None,
        _ => Some(INITIAL_ETA_MINUTES),
    };
    let courier = (status == OrderStatus::OnTheWay).then(|| Courier {
        location: restaurant_location(seed, restaurant_id),
    });
    Tracking {
        eta_minutes,
        courier,
        updated_at: timestamp_ms(placed_unix.saturating_mul(1000)),
        version: 1,
    }
}

/// The demo-clock offsets (ms after placement) at which an uncancelled placed order
/// changes, ascending and distinct: the status changes, the eta's minute steps and
/// the courier's moves.
fn change_offsets() -> Vec<i64> {
    let mut offsets = vec![PREPARING_AFTER_MS, ON_THE_WAY_AFTER_MS, DELIVERED_AFTER_MS];
    offsets.extend((1..).map(|m| m * MINUTE_MS).take_while(|&t| t < DELIVERED_AFTER_MS));
    offsets.extend((ON_THE_WAY_AFTER_MS..DELIVERED_AFTER_MS).step_by(COURIER_STEP_MS as usize));
    offsets.sort_unstable();
    offsets.dedup();
    offsets
}

/// The state of a placed order `elapsed_ms` demo milliseconds after its placement at
/// `placed_unix_ms` (demo clock), cancelled `cancelled_after_ms` after placement if
/// it was, riding from `restaurant` to `address`.
pub fn live_state(
    elapsed_ms: i64,
    cancelled_after_ms: Option<i64>,
    placed_unix_ms: i64,
    restaurant: Location,
    address: Location,
) -> LiveState {
    let elapsed = elapsed_ms.max(0);
    let updated = |offset: i64| timestamp_ms(placed_unix_ms.saturating_add(offset));
    if let Some(cancelled) = cancelled_after_ms.filter(|&c| elapsed >= c) {
        let before = change_offsets().into_iter().filter(|&t| t < cancelled).count() as u64;
        return LiveState {
            status: OrderStatus::Cancelled,
            tracking: Tracking {
                eta_minutes: None,
                courier: None,
                updated_at: updated(cancelled),
                version: before + 2,
            },
        };
    }
    let changes: Vec<i64> = change_offsets().into_iter().filter(|&t| t <= elapsed).collect();
    let last_change = changes.last().copied().unwrap_or(0);
    let version = changes.len() as u64 + 1;
    let updated_at = updated(last_change);
    if elapsed >= DELIVERED_AFTER_MS {
        return LiveState {
            status: OrderStatus::Delivered,
            tracking: Tracking {
                eta_minutes: Some(0),
                courier: None,
                updated_at,
                version,
            },
        };
    }
    let status = if elapsed >= ON_THE_WAY_AFTER_MS {
        OrderStatus::OnTheWay
    } else if elapsed >= PREPARING_AFTER_MS {
        OrderStatus::Preparing
    } else {
        OrderStatus::Placed
    };
    let minutes = u32::try_from(elapsed / MINUTE_MS).unwrap_or(u32::MAX);
    let courier = (status == OrderStatus::OnTheWay).then(|| {
        let steps = (DELIVERED_AFTER_MS - ON_THE_WAY_AFTER_MS) / COURIER_STEP_MS;
        let step = (elapsed - ON_THE_WAY_AFTER_MS) / COURIER_STEP_MS;
        Courier {
            location: along(restaurant, address, step as f64 / steps as f64),
        }
    });
    LiveState {
        status,
        tracking: Tracking {
            eta_minutes: Some(INITIAL_ETA_MINUTES.saturating_sub(minutes)),
            courier,
            updated_at,
            version,
        },
    }
}

/// The point a share `f` of the way from `a` to `b` on the straight line (in
/// degrees), rounded to 6 decimals as every demo location is.
fn along(a: Location, b: Location, f: f64) -> Location {
    let round6 = |x: f64| (x * 1e6).round() / 1e6;
    Location {
        lat: round6(a.lat + (b.lat - a.lat) * f),
        lng: round6(a.lng + (b.lng - a.lng) * f),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FROM: Location = Location { lat: 52.5, lng: 13.4 };
    const TO: Location = Location {
        lat: 52.524,
        lng: 13.448,
    };
    const AT: i64 = 1_800_000_000_000;

    fn at(elapsed_s: f64) -> LiveState {
        live_state((elapsed_s * 1000.0) as i64, None, AT, FROM, TO)
    }

    #[test]
    fn the_status_follows_the_clock() {
        let statuses = [0.0, 19.999, 20.0, 59.9, 60.0, 179.9, 180.0, 1e6].map(|s| at(s).status);
        use OrderStatus::*;
        assert_eq!(
            statuses,
            [
                Placed, Placed, Preparing, Preparing, OnTheWay, OnTheWay, Delivered, Delivered
            ]
        );
    }

    #[test]
    fn the_eta_drops_each_full_minute() {
        let etas = [0.0, 59.9, 60.0, 119.9, 120.0, 179.9, 180.0].map(|s| at(s).tracking.eta_minutes);
        assert_eq!(etas, [35, 35, 34, 34, 33, 33, 0].map(Some));
    }

    #[test]
    fn the_courier_rides_from_the_restaurant_to_the_address_in_5_second_steps() {
        assert_eq!(at(59.9).tracking.courier, None);
        assert_eq!(at(60.0).tracking.courier, Some(Courier { location: FROM }));
        assert_eq!(at(64.9).tracking.courier, at(60.0).tracking.courier);
        let halfway = at(120.0).tracking.courier.expect("riding").location;
        assert_eq!(
            halfway,
            Location {
                lat: 52.512,
                lng: 13.424
            }
        );
        let last = at(179.9).tracking.courier.expect("riding").location;
        assert_eq!(
            last,
            Location {
                lat: 52.523,
                lng: 13.446
            },
            "23 of 24 steps along"
        );
        assert_eq!(at(180.0).tracking.courier, None);
    }

    #[test]
    fn versions_count_the_changes_and_updated_at_is_the_latest() {
        let v = |s: f64| at(s).tracking.version;
        assert_eq!(
            (v(0.0), v(19.9), v(20.0), v(60.0), v(64.9), v(65.0)),
            (1, 1, 2, 3, 3, 4)
        );
        // 20 s, 60 s, 23 more courier steps (the eta step at 120 s is one of them), 180 s.
        assert_eq!((v(175.0), v(180.0), v(1e6)), (26, 27, 27));
        assert_eq!(at(0.0).tracking.updated_at, timestamp_ms(AT));
        assert_eq!(at(67.0).tracking.updated_at, timestamp_ms(AT + 65_000));
        assert_eq!(at(500.0).tracking.updated_at, timestamp_ms(AT + 180_000));
    }

    #[test]
    fn a_cancelled_order_stops_changing() {
        let cancelled = |s: f64| live_state((s * 1000.0) as i64, Some(5_000), AT, FROM, TO);
        assert_eq!(cancelled(4.9), at(4.9));
        let after = cancelled(300.0);
        assert_eq!(after.status, OrderStatus::Cancelled);
        assert_eq!(after.tracking.eta_minutes, None);
        assert_eq!(after.tracking.courier, None);
        assert_eq!(after.tracking.version, 2);
        assert_eq!(after.tracking.updated_at, timestamp_ms(AT + 5_000));
        assert_eq!(cancelled(5.0), after);
    }

    #[test]
    fn generated_tracking_is_fixed() {
        let t = fixed_tracking(42, OrderStatus::OnTheWay, 1_790_000_000, 6);
        assert_eq!(t.version, 1);
        assert_eq!(t.eta_minutes, Some(35));
        assert_eq!(t.updated_at, timestamp_ms(1_790_000_000_000));
        assert_eq!(t.courier.map(|c| c.location), Some(restaurant_location(42, 6)));
        assert_eq!(fixed_tracking(42, OrderStatus::Delivered, 0, 6).eta_minutes, Some(0));
        assert_eq!(fixed_tracking(42, OrderStatus::Cancelled, 0, 6).eta_minutes, None);
        assert_eq!(fixed_tracking(42, OrderStatus::Placed, 0, 6).courier, None);
    }
}
