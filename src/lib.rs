//! delivery-gateway: a GraphQL composition server for a food-delivery app.
pub mod app;
pub mod auth;
pub mod config;
pub mod demo;
pub mod graphiql;
pub mod graphql;
pub mod server;
pub mod telemetry;
pub mod tls;
pub mod upstream;
