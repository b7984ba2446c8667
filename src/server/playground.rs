//! The GraphiQL page as this gateway configures it: the acceptance operations as
//! tabs, `HomeScreen` first, and a token for a demo user when running on the
//! embedded demo (development only: production mode never mints one). Against real upstreams the headers pane holds no `Authorization`
//! (a placeholder there made every query, `{ __typename }` too, fail with `401`):
//! a line of text above the playground says where a token goes.
//!
//! With the demo token come two more tabs: `PlaceDemoOrder` (a `placeOrder` with a
//! key of its own on each page load) and `FollowOrder` (`orderUpdated`, over the
//! page's WebSocket), into whose variables the page carries the placed order's id.
//! The order's restaurant, address and dish come with the [`DemoPage`] the
//! caller gives [`AppState::new`](super::AppState::new): `app.rs` reads them from
//! the demo's data (`demo::sample_order`), so this module knows nothing of the demo.

use axum::{
    http::{HeaderMap, HeaderValue, header},
    response::{IntoResponse, Response},
};

use super::AppState;
use crate::graphiql::{self, Carry, FRESH_KEY, PageOptions, Tab};
use crate::upstream::UserId;

const HOME: &str = include_str!("../../schema/operations/home.graphql");
const HOME_VARIABLES: &str = include_str!("../../schema/operations/home.variables.json");
const NEARBY: &str = include_str!("../../schema/operations/nearby.graphql");
const RESTAURANT: &str = include_str!("../../schema/operations/restaurant.graphql");

/// The demo tab that places an order.
const PLACE_DEMO_ORDER: &str = "\
# Places an order for the demo user. Its key is new on each
# page load: run this again and the same order comes back.
# Then run FollowOrder: the order's id is in its variables.
mutation PlaceDemoOrder($input: PlaceOrderInput!, $idempotencyKey: String!) {
  placeOrder(input: $input, idempotencyKey: $idempotencyKey) {
    order { id status total { amount currency } tracking { etaMinutes } }
    userErrors { field message code }
  }
}
";

/// The demo tab that follows the order.
const FOLLOW_ORDER: &str = "\
# Follows the order PlaceDemoOrder placed: its state now,
# then each change, until DELIVERED. At demo.clock_speed 10
# (the default) the courier leaves 6 s after the order is
# placed and arrives at 18 s: run this soon after placing.
subscription FollowOrder($id: ID!) {
  orderUpdated(id: $id) {
    id
    status
    tracking { etaMinutes courier { location { lat lng } } updatedAt }
  }
}
";

/// What `FollowOrder`'s variables hold until `PlaceDemoOrder` has answered.
const ORDER_ID_PLACEHOLDER: &str = "<the id PlaceDemoOrder answers>";

/// The page, with its Content-Security-Policy (which lets the page open a
/// WebSocket to the `Host` of the `request`'s headers).
pub fn page(state: &AppState, request: &HeaderMap) -> Response {
    let host = request.get(header::HOST).and_then(|v| v.to_str().ok());
    let auth = &state.inner.auth;
    // Never a token in production, whatever the caller passed as `demo`:
    // signed with the real secret, it would be a real account for every browser.
    let production = state.inner.introspection.production;
    let token = state
        .inner
        .demo
        .as_ref()
        .filter(|_| !production)
        .map(|demo| auth.mint(demo.user))
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
    let order = token
        .as_ref()
        .and(state.inner.demo.as_ref())
        .and_then(|demo| demo.order);
    let mut options = PageOptions {
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
        carry: None,
    };
    if let Some(order) = order {
        options.tabs.extend(order.tabs());
        options.carry = Some(Carry {
            path: ["placeOrder", "order", "id"].map(str::to_owned).to_vec(),
            placeholder: ORDER_ID_PLACEHOLDER.to_owned(),
        });
    }
    let csp = HeaderValue::from_str(&graphiql::content_security_policy(host))
        .unwrap_or_else(|_| HeaderValue::from_str(&graphiql::content_security_policy(None)).expect("ASCII"));
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (header::CONTENT_SECURITY_POLICY, csp),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        ],
        graphiql::page(&options),
    )
        .into_response()
}

/// What GraphiQL offers when the gateway runs on its embedded demo: a token for
/// `user` in the headers pane and, with `order`, the tabs that place that order
/// and follow it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DemoPage {
    /// The demo user whose token the page carries.
    pub user: UserId,
    /// An order that user can place on the demo, if there is one.
    pub order: Option<DemoOrder>,
}

/// What a demo order is made of: a restaurant that is open and delivers to one of
/// the user's addresses, that address, and a dish of its menu.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DemoOrder {
    /// The restaurant's id.
    pub restaurant: u64,
    /// The delivery address's id (one of the user's).
    pub address: u64,
    /// A menu item of the restaurant.
    pub dish: u64,
}

impl DemoOrder {
    /// The tabs that place this order and follow it.
    fn tabs(self) -> [Tab; 2] {
        // Written by hand to keep the input first.
        let variables = format!(
            "{{\n  \"input\": {{\n    \"restaurantId\": \"{}\",\n    \"addressId\": \"{}\",\n    \
             \"items\": [{{ \"menuItemId\": \"{}\", \"quantity\": 2 }}]\n  }},\n  \"idempotencyKey\": {}\n}}",
            self.restaurant,
            self.address,
            self.dish,
            serde_json::Value::from(FRESH_KEY),
        );
        [
            Tab {
                query: PLACE_DEMO_ORDER.to_owned(),
                variables: Some(variables),
                headers: None,
            },
            Tab {
                query: FOLLOW_ORDER.to_owned(),
                variables: Some(format!("{{\n  \"id\": \"{ORDER_ID_PLACEHOLDER}\"\n}}")),
                headers: None,
            },
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_tabs_place_the_order_and_follow_it() {
        let order = DemoOrder {
            restaurant: 1234,
            address: 7,
            dish: 99,
        };
        let tabs = order.tabs();
        let variables: serde_json::Value = serde_json::from_str(tabs[0].variables.as_deref().unwrap()).unwrap();
        assert_eq!(
            variables,
            serde_json::json!({
                "input": {
                    "restaurantId": order.restaurant.to_string(),
                    "addressId": order.address.to_string(),
                    "items": [{"menuItemId": order.dish.to_string(), "quantity": 2}],
                },
                "idempotencyKey": FRESH_KEY,
            })
        );
        let follow: serde_json::Value = serde_json::from_str(tabs[1].variables.as_deref().unwrap()).unwrap();
        assert_eq!(follow, serde_json::json!({"id": ORDER_ID_PLACEHOLDER}));
    }
}
