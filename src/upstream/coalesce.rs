//! Single-flight: identical upstream calls in flight at the same moment share one.
//!
//! The key is the method, the URL, the body, the `X-User-Id` and the decoded type,
//! so a private answer is only ever shared between requests of the same user, and
//! [`Upstreams::send`](super::Upstreams) only asks for sharing of `GET`s and of
//! `POST`s without a user (the contract's public `POST /estimates`).
//!
//! The first caller's call runs on its own task: a follower is not cancelled when
//! the first caller's request ends, and **the first caller's deadline governs the
//! shared call** (a follower with a later deadline may see `DEADLINE_EXCEEDED`
//! from a shorter one; callers of one route have the same timeouts, so this only
//! matters for clients that shorten their deadline with `X-Request-Timeout-Ms`).
//! The call leaves the map the moment it ends, so nothing is cached here.

use std::{
    any::Any,
    collections::HashMap,
    sync::{Arc, Mutex},
};

use futures_util::{
    FutureExt,
    future::{BoxFuture, Shared},
};
use reqwest::Method;
use tracing::Instrument;
use url::Url;

use super::{ErrorKind, Service, UpstreamError, UserId, cache::CacheCounters, http::Answer};

type Flight = Result<Option<Arc<dyn Any + Send + Sync>>, UpstreamError>;
type InFlight = Arc<Mutex<HashMap<String, Shared<BoxFuture<'static, Flight>>>>>;

/// The calls in flight, by key.
#[derive(Default)]
pub(super) struct Flights {
    calls: InFlight,
}

/// What identifies a call for sharing.
pub(super) struct FlightKey<'a> {
    pub method: &'a Method,
    pub url: &'a Url,
    pub body: Option<&'a [u8]>,
    pub user: Option<UserId>,
}

impl Flights {
    /// Joins the identical call in flight, or starts `run` as that call.
    pub async fn join<V, Fut>(
        &self,
        counters: &CacheCounters,
        (service, route): (Service, &'static str),
        text: String,
        run: impl FnOnce() -> Fut,
    ) -> Result<Option<Arc<Answer<V>>>, UpstreamError>
    where
        V: Send + Sync + 'static,
        Fut: Future<Output = Result<Option<Arc<Answer<V>>>, UpstreamError>> + Send + 'static,
    {
        let shared = {
            let mut calls = self.calls.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(flight) = calls.get(&text) {
                CacheCounters::add(&counters.coalesced, 1);
                flight.clone()
            } else {
                let map = self.calls.clone();
                let own_key = text.clone();
                let call = run();
                // Removal happens inside the task, which always runs to its end, so
                // a finished call never lingers in the map.
                let task = tokio::spawn(
                    async move {
                        let result = call.await;
                        map.lock().unwrap_or_else(|p| p.into_inner()).remove(&own_key);
                        result.map(|answer| answer.map(|a| a as Arc<dyn Any + Send + Sync>))
                    }
                    .in_current_span(),
                );
                let flight = async move {
                    task.await.unwrap_or_else(|_| {
                        Err(UpstreamError::new(
                            service,
                            route,
                            ErrorKind::Connect("the call's task ended abnormally".into()),
                        ))
                    })
                }
                .boxed()
                .shared();
                calls.insert(text, flight.clone());
                flight
            }
        };
        let answer = shared.await?;
        Ok(answer.and_then(|any| any.downcast::<Answer<V>>().ok()))
    }
}

impl FlightKey<'_> {
    /// The key as text, for answers decoded as `V`.
    pub fn text<V>(&self) -> String {
        let body = self.body.map(String::from_utf8_lossy).unwrap_or_default();
        let user = self.user.map(|u| u.0.to_string()).unwrap_or_default();
        format!(
            "{} {} user={user} as={}\n{body}",
            self.method,
            self.url,
            std::any::type_name::<V>()
        )
    }
}
