//! The GraphiQL page as this gateway configures it: the acceptance operations as
//! tabs, `HomeScreen` first, and a token for a demo user when running on the
//! embedded demo (development only: production mode never mints one). Against real upstreams the headers pane holds no `Authorization`
//! (a placeholder there made every query, `{ __typename }` too, fail with `401`):
//! a line of text above the playground says where a token goes.
//!
//! With the demo token come two more tabs: `PlaceDemoOrder` (a `placeOrder` with a
//! key of its own on each page load) and `FollowOrder` (`orderUpdated`, over the
//! page's WebSocket), into whose variables the page carries the placed order's id.
//! The order's restaurant, address and dish are read from the demo's data
//! functions (`crate::demo::data`, pure functions of the seed), the one use of
//! the demo outside `app.rs`: the same values the embedded demo serves.

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
    let order = token
        .as_ref()
        .and(state.inner.demo_user)
        .and_then(|user| demo_order(state.inner.demo_seed, user));
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

/// What a demo order is made of: a restaurant that is open and delivers to one of
/// the user's addresses, that address, and a dish of its menu.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct DemoOrder {
    restaurant: u64,
    address: u64,
    dish: u64,
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

/// The order that `user` can place on the demo whose data comes from `seed`, as
/// the demo checks it (call 18); `None` when no address of the user has an open
/// restaurant delivering to it.
fn demo_order(seed: u64, user: UserId) -> Option<DemoOrder> {
    use crate::demo::data;
    data::addresses(seed, user.0)?.into_iter().find_map(|address| {
        let area = data::area_lookup(seed, address.location.lat, address.location.lng)?;
        let restaurant = data::area_restaurants(seed, &area.area_id)?
            .into_iter()
            .map(|r| r.restaurant_id)
            .find(|&r| data::availability(seed, r).is_some_and(|a| a.open))?;
        let menu = data::menu(seed, restaurant)?;
        let dish = menu.categories.iter().flat_map(|c| &c.items).next()?.id;
        Some(DemoOrder {
            restaurant,
            address: address.id,
            dish,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_demo_user_has_a_demo_order() {
        let seed = crate::contract::DEFAULT_DEMO_SEED;
        let order = demo_order(seed, UserId(42)).expect("an order for user 42");
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

    #[test]
    fn a_user_the_demo_does_not_have_gets_no_demo_order() {
        assert_eq!(demo_order(crate::contract::DEFAULT_DEMO_SEED, UserId(u64::MAX)), None);
    }
}
