//! Typed clients for the thirteen upstream REST services of the contract,
//! `docs/upstreams.md` (the code's "Call 7" is that page's call 7).
//!
//! This layer owns URLs, HTTP and the contract's wire types. It knows nothing of
//! GraphQL or axum: the schema asks it domain-shaped questions
//! (`ratings_for(&[RestaurantId])`) and gets typed answers or an [`UpstreamError`].
//!
//! Invariants:
//! - one pooled `reqwest::Client` per service, built with its connect timeout;
//! - a batch is never sent larger than the contract's maximum: larger requests are
//!   split into chunks that go out concurrently;
//! - a batch answers id by id ([`Outcomes`]): a failed chunk fails only its own
//!   ids, and an entry of an answer that does not decode fails only the id it
//!   names (it is not a failure of the service for its circuit breaker);
//! - private calls carry `X-User-Id` for exactly the user the caller names, and the
//!   only way to name a user is a [`UserId`] that the auth layer produced.

mod batch;
pub mod cache;
mod cached;
mod coalesce;
mod error;
mod guard;
mod http;
mod model;
mod waterfall;

mod catalog;
mod geo;
mod live;
mod logistics;
mod orders;
mod personal;
mod pricing;
mod promotions;
mod recommendations;
mod users;

pub use crate::contract::Service;
pub use cached::Outcomes;
pub use error::{ErrorKind, UpstreamError};
pub use guard::{BreakerState, GuardSettings};
pub use http::{Caching, HttpSettings, RequestContext, ServiceSettings, Upstreams};
pub use live::{NewOrder, OrderRead, Refusal, Written, valid_idempotency_key};
pub use model::*;
pub use waterfall::{Attempt, CallRecord, Report, Summary, Waterfall};
