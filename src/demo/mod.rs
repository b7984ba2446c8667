//! The demo upstream services.
pub mod data;
pub mod wire;
