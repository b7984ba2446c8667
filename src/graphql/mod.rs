//! The GraphQL schema: types, resolvers and the per-request DataLoader.
//!
//! Resolvers never build a URL or touch HTTP: they ask [`crate::upstream`] through
//! the request's [`RequestScope`]. Every list of restaurants loads through the
//! DataLoader, so each upstream is called once per wave, whatever the page size.

mod common;
pub mod error;
mod listing;
pub mod loaders;
mod menu;
mod order;
mod ordering;
mod plan;
mod query;
mod response_json;
mod restaurant;
pub mod scope;
mod user;

use async_graphql::{EmptyMutation, EmptySubscription, Schema};

pub use ordering::in_selection_order;
pub use plan::{RawJson, selected_operation};
pub use query::Query;
pub use response_json::response_json;
pub use scope::{Limits, RequestScope};

/// The gateway's schema.
pub type GatewaySchema = Schema<Query, EmptyMutation, EmptySubscription>;

/// Options the schema is built with.
#[derive(Debug, Clone, Copy)]
pub struct SchemaOptions {
    /// Answer introspection queries (the server may still refuse them per request).
    pub introspection: bool,
    /// Offer "did you mean" suggestions in validation errors (they leak the
    /// schema: off in production).
    pub suggestions: bool,
}

/// Builds the schema. Per-request state goes on each request, not here.
pub fn build_schema(options: SchemaOptions) -> GatewaySchema {
    let mut builder = Schema::build(Query, EmptyMutation, EmptySubscription);
    if !options.introspection {
        builder = builder.disable_introspection();
    }
    if !options.suggestions {
        builder = builder.disable_suggestions();
    }
    builder.finish()
}

/// The SDL, exactly as `schema/schema.graphql` holds it.
pub fn sdl() -> String {
    build_schema(SchemaOptions {
        introspection: true,
        suggestions: true,
    })
    .sdl()
}

/// The schema fields whose data comes from `service`: what `extensions.stale`
/// names when that service's data was served from an expired cache entry.
pub fn fields_served_by(service: crate::upstream::Service) -> &'static [&'static str] {
    use crate::upstream::Service;
    match service {
        Service::Geo => &["restaurants.area", "restaurants.edges"],
        Service::Restaurants => &[
            "Restaurant.name",
            "Restaurant.cuisines",
            "Restaurant.priceLevel",
            "Restaurant.address",
            "Restaurant.location",
            "Restaurant.imageUrl",
        ],
        Service::Menus => &["Restaurant.menu"],
        Service::Ratings => &["Restaurant.rating"],
        Service::Logistics => &["Restaurant.deliveryEstimate"],
        Service::Pricing => &["Restaurant.deliveryFee", "Restaurant.minimumOrder"],
        Service::Availability => &["Restaurant.isOpen", "Restaurant.nextStatusChangeAt"],
        Service::Promotions => &["Restaurant.promotions"],
        _ => &[],
    }
}
