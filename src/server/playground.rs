//! The GraphiQL page as this gateway configures it: the acceptance operations as
//! tabs, `HomeScreen` first, and a token for a demo user when running on the
//! embedded demo (development only: production mode never mints one). Against real upstreams the headers pane holds no `Authorization`
//! (a placeholder there made every query, `{ __typename }` too, fail with `401`):
//! a line of text above the playground says where a token goes.

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
    let auth = &state.inner.auth;
    // Never a token in production, whatever the caller passed as `demo_user`:
    // signed with the real secret, it would be a real account for every browser.
    let production = state.inner.introspection.production;
    let token = state
        .inner
        .demo_user
        .filter(|_| !production)
        .map(|user| auth.mint(user))
        .filter(|token| !token.is_empty());
    // Where anyone may see it (`telemetry.upstream_trace = "on"`), ask for the
    // upstream waterfall by default: the page's "Upstream calls" panel shows it.
    let trace = state.inner.observe.waterfall_for_everyone();
    let mut lines = Vec::new();
    lines.extend(
        token
            .as_ref()
            .map(|token| format!("  \"Authorization\": \"Bearer {token}\"")),
    );
    if trace {
        lines.push("  \"X-Upstream-Trace\": \"1\"".to_owned());
    }
    let headers = if lines.is_empty() {
        "{}".to_owned()
    } else {
        format!("{{\n{}\n}}", lines.join(",\n"))
    };
    let notice = token.is_none().then(|| {
        let source = if auth.can_mint() {
            "your identity provider, or `delivery-gateway token --user ID` with this gateway's configuration"
        } else {
            "your identity provider"
        };
        format!(
            "Signed-in queries (`me`): add \"Authorization\": \"Bearer <token>\" to the Headers tab below the query, with a token from {source}. Public queries need no header."
        )
    });
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
        show_upstream: trace,
        notice,
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
