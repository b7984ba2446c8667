//! The batch endpoints: ids in, one [`Outcomes`] out, whatever the id type.
//!
//! A `GET` batch endpoint is described once ([`BatchGet`]) and asked through
//! [`Upstreams::batch_get`]: it splits the ids at the contract's maximum, goes
//! through the entity cache when the call is public, and answers id by id. A
//! `POST` batch endpoint calls [`Upstreams::cached_batch`] with its own `fetch`
//! (see `logistics.rs`, `recommendations.rs`).
//!
//! Layering: services -> `batch` -> `cached` -> `http`.

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;

use super::{
    Keyed, Service, Upstreams, UserId,
    cached::{Fetched, KeyScope, Outcomes},
    http::{Call, status_error},
};

/// A `GET` batch endpoint: ids comma-separated in `param`, plus `extra` query
/// parameters.
pub(super) struct BatchGet<'a> {
    pub service: Service,
    /// Route template, e.g. `GET /menus`.
    pub route: &'static str,
    /// Path below the service's base URL, one segment.
    pub path: &'a str,
    /// The query parameter that carries the ids.
    pub param: &'a str,
    /// The contract's maximum batch size.
    pub max: usize,
    /// Other query parameters.
    pub extra: &'a [(&'a str, String)],
    /// The user whose private data this reads, if any.
    pub user: Option<UserId>,
}

impl Upstreams {
    /// Asks a `GET` batch endpoint for `ids`, in chunks of at most its maximum,
    /// through the entity cache when the call is public. Each id gets its own
    /// outcome: see [`Outcomes`].
    pub(super) async fn batch_get<T>(&self, endpoint: &BatchGet<'_>, ids: &[T::Id]) -> Outcomes<T>
    where
        T: DeserializeOwned + Keyed + Send + Sync + 'static,
    {
        let part: Vec<String> = endpoint.extra.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let part = part.join("&");
        let scope = KeyScope {
            service: endpoint.service,
            route: endpoint.route,
            part: &part,
        };
        let public = endpoint.user.is_none();
        self.cached_batch(scope, public, ids, endpoint.max, |chunk| {
            self.batch_get_chunk(endpoint, chunk)
        })
        .await
    }

    async fn batch_get_chunk<T>(&self, endpoint: &BatchGet<'_>, ids: Vec<T::Id>) -> Fetched<T>
    where
        T: DeserializeOwned + Keyed + Send + Sync + 'static,
    {
        let (service, route) = (endpoint.service, endpoint.route);
        let mut query: Vec<(&str, String)> = Vec::with_capacity(endpoint.extra.len() + 1);
        query.push((endpoint.param, join_ids(&ids)));
        query.extend(endpoint.extra.iter().cloned());
        let call = Call {
            service,
            route,
            path: &[endpoint.path],
            query: &query,
            user: endpoint.user,
            batch: ids.len(),
        };
        self.send(
            Method::GET,
            call,
            None,
            self.records_decoder::<T>(endpoint.user.is_none()),
        )
        .await?
        .ok_or_else(|| status_error(service, route, StatusCode::NOT_FOUND, ""))
    }
}

/// Comma-separated ids, as the batch endpoints take them.
pub(super) fn join_ids<I: std::fmt::Display>(ids: &[I]) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(ids.len() * 5);
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{id}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::RestaurantId;

    #[test]
    fn ids_are_joined_with_commas() {
        assert_eq!(
            join_ids(&[RestaurantId(4), RestaurantId(8), RestaurantId(15)]),
            "4,8,15"
        );
    }
}
