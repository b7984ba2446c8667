//! The upstream services by name. A service's name is its configuration key, the
//! demo's path prefix (`/menus`) and its key in the demo's admin API.

use std::fmt;

/// One of the thirteen upstream services of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Service {
    /// Users, their addresses and favourites (calls 1-3).
    Users,
    /// Order history (call 4).
    Orders,
    /// Delivery areas (calls 5-6).
    Geo,
    /// Restaurant master data (call 7).
    Restaurants,
    /// Menus (call 8).
    Menus,
    /// Ratings (call 9).
    Ratings,
    /// Delivery estimates (call 10).
    Logistics,
    /// Delivery fees and minimum order values (call 11).
    Pricing,
    /// Opening state (call 12).
    Availability,
    /// Promotions, public and personal (call 13).
    Promotions,
    /// Vouchers (call 14).
    Wallet,
    /// Loyalty programme (call 15).
    Loyalty,
    /// Personal ranking (call 16).
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

    /// The service's name: its configuration key and the demo's path prefix.
    pub const fn name(self) -> &'static str {
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

    /// Position in [`Service::ALL`], for per-service arrays.
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
        assert_eq!(Service::from_name("menu"), None);
    }
}
