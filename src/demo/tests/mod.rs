//! HTTP-level tests of the demo, in process through `tower::ServiceExt::oneshot`:
//! no sockets, no sleeps.

mod admin;
mod contract;
mod favourites;
mod orders;

use axum::body::{Body, Bytes, to_bytes};
use axum::http::{HeaderMap, Request, StatusCode, header};
use serde_json::Value;
use tower::ServiceExt;

use super::{Demo, DemoConfig};

/// One answer: status, headers and body.
pub(super) struct Answer {
    pub(super) status: StatusCode,
    pub(super) headers: HeaderMap,
    pub(super) body: Bytes,
}

impl Answer {
    pub(super) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    pub(super) fn cache_control(&self) -> &str {
        self.header(header::CACHE_CONTROL.as_str())
    }

    /// A header's value ("" when absent).
    pub(super) fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    /// The `restaurantId` (or `id`) of every entry of an array answer, in order.
    pub(super) fn ids(&self) -> Vec<u64> {
        let json = self.json();
        let entries = json.as_array().expect("an array");
        entries
            .iter()
            .map(|e| {
                e.get("restaurantId")
                    .or_else(|| e.get("id"))
                    .and_then(Value::as_u64)
                    .expect("an id")
            })
            .collect()
    }
}

pub(super) fn demo() -> Demo {
    Demo::new(DemoConfig::default())
}

/// Sends one request to a fresh copy of the demo's router.
pub(super) async fn send(demo: &Demo, method: &str, uri: &str, user: Option<&str>, body: Option<Value>) -> Answer {
    let headers: Vec<(&str, &str)> = user.map(|u| ("x-user-id", u)).into_iter().collect();
    send_with(demo, method, uri, &headers, body).await
}

/// Sends one request with these headers to a fresh copy of the demo's router.
pub(super) async fn send_with(
    demo: &Demo,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> Answer {
    let mut request = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let body = match body {
        Some(json) => {
            request = request.header(header::CONTENT_TYPE, "application/json");
            Body::from(json.to_string())
        }
        None => Body::empty(),
    };
    let response = demo
        .router()
        .oneshot(request.body(body).expect("a request"))
        .await
        .expect("infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let body = to_bytes(response.into_body(), usize::MAX).await.expect("a body");
    Answer { status, headers, body }
}

pub(super) async fn get(demo: &Demo, uri: &str) -> Answer {
    send(demo, "GET", uri, None, None).await
}

pub(super) async fn get_as(demo: &Demo, uri: &str, user: &str) -> Answer {
    send(demo, "GET", uri, Some(user), None).await
}
