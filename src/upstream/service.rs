//! The upstream services by name.

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

    /// The service named `name` (its configuration key).
    pub fn from_name(name: &str) -> Option<Service> {
        Service::ALL.into_iter().find(|s| s.name() == name)
    }

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
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
