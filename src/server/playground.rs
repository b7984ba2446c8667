//! The GraphiQL page as this gateway configures it: the acceptance operations as
//! tabs, `HomeScreen` first, and a token for a demo user when running on the
//! embedded demo.

use axum::{
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};

use super::AppState;
use crate::graphiql::{self, PageOptions, Tab};

const HOME: &str = include_str!("../../schema/operations/home.graphql");
const HOME_VARIABLES: &str = include_str!("../../schema/operations/home.variables.json");
const NEARBY: &str = include_str!("../../schema/operations/nearby.graphql");
const RESTAURANT: &str = include_str!("../../schema/operations/restaurant.graphql");

/// The page, with its Content-Security-Policy.
pub fn page(state: &AppState) -> Response {
    let token = match state.inner.demo_user {
        Some(user) => state.inner.auth.mint(user),
        None => "<token: delivery-gateway token --user ID>".to_owned(),
    };
    // Where anyone may see it (`telemetry.upstream_trace = "on"`), ask for the
    // upstream waterfall by default: the page's "Upstream calls" panel shows it.
    let trace = if state.inner.observe.waterfall_for_everyone() {
        ",\n  \"X-Upstream-Trace\": \"1\""
    } else {
        ""
    };
    let headers = format!("{{\n  \"Authorization\": \"Bearer {token}\"{trace}\n}}");
    let options = PageOptions {
        endpoint: "/graphql".to_owned(),
        tabs: vec![
            Tab {
                query: HOME.to_owned(),
                variables: Some(HOME_VARIABLES.to_owned()),
                headers: None,
            },
            Tab {
                query: NEARBY.to_owned(),
                variables: Some(
                    "{\n  \"location\": { \"lat\": 52.52, \"lng\": 13.405 },\n  \"first\": 20\n}".to_owned(),
                ),
                headers: None,
            },
            Tab {
                query: RESTAURANT.to_owned(),
                variables: Some("{\n  \"id\": \"17\"\n}".to_owned()),
                headers: None,
            },
        ],
        default_headers: Some(headers),
        title: "delivery-gateway · GraphiQL".to_owned(),
        show_upstream: !trace.is_empty(),
    };
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(graphiql::content_security_policy()),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        ],
        graphiql::page(&options),
    )
        .into_response()
}
