//! The thirteen services the demo plays, by name: the contract's own list, shared
//! with the gateway's upstream layer (the one type the demo takes from it).

pub use crate::contract::Service;
