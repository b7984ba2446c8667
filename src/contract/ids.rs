//! The ids of the contract's records. Newtypes, so that a restaurant id can never
//! be passed where a user id is expected.

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub u64);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// A restaurant's id.
    RestaurantId
);
id_type!(
    /// A user's id. Only the auth layer makes one from outside input.
    UserId
);
id_type!(
    /// An order's id.
    OrderId
);
id_type!(
    /// A menu item's id.
    MenuItemId
);
id_type!(
    /// A promotion's id.
    PromotionId
);
id_type!(
    /// An address's id.
    AddressId
);

/// A delivery area's id (a string in the contract).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AreaId(pub String);
