//! The thirteen services the demo plays, by name. A service's name is both its path
//! prefix (`/menus`) and its key in the admin API (`{"service": "menus"}`).

use std::fmt;

/// One of the thirteen upstream services of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Service {
    /// Calls 1–3: profiles, addresses, favourites.
    Users,
    /// Call 4: order history.
    Orders,
    /// Calls 5–6: delivery areas.
    Geo,
    /// Call 7: restaurant details.
    Restaurants,
    /// Call 8: menus.
    Menus,
    /// Call 9: ratings.
    Ratings,
    /// Call 10: delivery estimates.
    Logistics,
    /// Call 11: fees.
    Pricing,
    /// Call 12: opening state.
    Availability,
    /// Call 13: promotions.
    Promotions,
    /// Call 14: vouchers.
    Wallet,
    /// Call 15: loyalty.
    Loyalty,
    /// Call 16: ranking.
    Recommendations,
}

impl Service {
    /// Every service, in the contract's order.
    pub const ALL: [Service; 13] = [
        Service::Users,
        Service::Orders,
        Service::Geo,
        Service::Restaurants,
        Service::Menus,
        Service::Ratings,
        Service::Logistics,
        Service::Pricing,
        Service::Availability,
        Service::Promotions,
        Service::Wallet,
        Service::Loyalty,
        Service::Recommendations,
    ];

    /// The service's name: its path prefix without the slash.
    pub fn name(self) -> &'static str {
        match self {
            Service::Users => "users",
            Service::Orders => "orders",
            Service::Geo => "geo",
            Service::Restaurants => "restaurants",
            Service::Menus => "menus",
            Service::Ratings => "ratings",
            Service::Logistics => "logistics",
            Service::Pricing => "pricing",
            Service::Availability => "availability",
            Service::Promotions => "promotions",
            Service::Wallet => "wallet",
            Service::Loyalty => "loyalty",
            Service::Recommendations => "recommendations",
        }
    }

    /// The service with that name, if any.
    pub fn from_name(name: &str) -> Option<Service> {
        Service::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Position in [`Service::ALL`].
    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_index_matches_position() {
        for (i, s) in Service::ALL.into_iter().enumerate() {
            assert_eq!(Service::from_name(s.name()), Some(s));
            assert_eq!(s.index(), i);
        }
        assert_eq!(Service::from_name("nope"), None);
    }
}
