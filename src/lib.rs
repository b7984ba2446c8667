//! delivery-gateway: a GraphQL composition server for a food-delivery app.
pub mod demo;
pub mod graphiql;
