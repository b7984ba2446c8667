//! GraphiQL is served by the binary, assets included; on the embedded demo its
//! tabs place an order and follow it. What needs a browser (the page's own
//! WebSocket, the key and the id filled in by `init.js`) is checked by
//! `src/graphiql/browser-check.mjs`.

use serde_json::{Value, json};

use crate::helpers::{header_text, spawn_app};
use crate::subscriptions::{connect_to, receive, send};

#[tokio::test]
async fn a_browser_gets_graphiql_with_home_screen_and_a_demo_token() {
    let app = spawn_app().await;

    let response = app
        .get("/graphql")
        .header("accept", "text/html,application/xhtml+xml")
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("content-security-policy"));
    let html = response.text().await.unwrap();
    assert!(html.contains("query HomeScreen"));
    assert!(html.contains("Bearer ey"), "no demo token in the headers pane");
    assert!(!html.contains("unpkg.com") && !html.contains("cdn"));
    // Every asset the page references is served by the gateway itself.
    let prefix = delivery_gateway::graphiql::ASSET_PREFIX;
    let mut assets = 0;
    for piece in html.split('"').filter(|p| p.starts_with(prefix)) {
        let asset = app.get(piece).send().await.unwrap();
        assert_eq!(asset.status(), 200, "{piece}");
        assets += 1;
    }
    assert!(assets >= 4, "only {assets} assets referenced");
}

/// The page at `addr`: its `Content-Security-Policy` and its configuration block.
async fn page_at(addr: std::net::SocketAddr) -> (String, Value) {
    let response = reqwest::Client::new()
        .get(format!("http://{addr}/graphql"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let csp = header_text(response.headers(), "content-security-policy").to_owned();
    let html = response.text().await.unwrap();
    let open = r#"<script id="graphiql-config" type="application/json">"#;
    let start = html.find(open).expect("config block") + open.len();
    let end = start + html[start..].find("</script>").unwrap();
    (csp, serde_json::from_str(&html[start..end]).unwrap())
}

/// The configured tab whose query contains `text`, if any.
fn tab<'c>(config: &'c Value, text: &str) -> Option<&'c Value> {
    config["tabs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|tab| tab["query"].as_str().unwrap().contains(text))
}

#[tokio::test]
async fn the_page_may_open_a_websocket_to_its_own_host() {
    let app = spawn_app().await;
    let (csp, _) = page_at(app.addr).await;
    let connect_src = csp
        .split(';')
        .map(str::trim)
        .find(|d| d.starts_with("connect-src"))
        .expect("connect-src");
    assert_eq!(connect_src, format!("connect-src 'self' ws://{0} wss://{0}", app.addr));
}

#[tokio::test]
async fn the_demo_tabs_place_an_order_and_follow_it_as_the_page_would() {
    let app = spawn_app().await;
    let (_, config) = page_at(app.addr).await;
    let place = tab(&config, "mutation PlaceDemoOrder").expect("a PlaceDemoOrder tab");
    let follow = tab(&config, "subscription FollowOrder").expect("a FollowOrder tab");
    let headers: Value = serde_json::from_str(place["headers"].as_str().unwrap()).unwrap();
    let authorization = headers["Authorization"].as_str().expect("the demo token").to_owned();

    // What init.js does on load: a key of its own in place of the placeholder.
    let placeholder = serde_json::to_string(config["freshKey"].as_str().unwrap()).unwrap();
    let key = format!("graphiql-{:032x}", fastrand::u128(..));
    let variables = place["variables"]
        .as_str()
        .unwrap()
        .replace(&placeholder, &format!("\"{key}\""));
    let body = json!({"query": place["query"], "variables": serde_json::from_str::<Value>(&variables).unwrap()});
    let answer = app
        .send_json(app.post("/graphql").json(&body).header("authorization", &authorization))
        .await
        .body;
    let payload = &answer["data"]["placeOrder"];
    assert_eq!(payload["userErrors"], json!([]), "{answer}");
    assert_eq!(payload["order"]["status"], "PLACED", "{answer}");
    let id = payload["order"]["id"].as_str().unwrap();
    assert_eq!(app.stats().await.calls("orders POST /orders"), 1);

    // What init.js does with the answer: the id in place of FollowOrder's placeholder.
    assert_eq!(config["carry"]["path"], json!(["placeOrder", "order", "id"]));
    let carried = serde_json::to_string(config["carry"]["placeholder"].as_str().unwrap()).unwrap();
    let follow_variables = follow["variables"]
        .as_str()
        .unwrap()
        .replace(&carried, &format!("\"{id}\""));
    assert_eq!(
        serde_json::from_str::<Value>(&follow_variables).unwrap(),
        json!({"id": id})
    );

    // And the page's WebSocket, signed in by connection_init's payload.
    let mut socket = connect_to(app.addr, Some(&format!("http://{}", app.addr)))
        .await
        .expect("connected");
    send(&mut socket, json!({"type": "connection_init", "payload": headers})).await;
    assert_eq!(receive(&mut socket).await.unwrap()["type"], "connection_ack");
    let subscribe = json!({"id": "1", "type": "subscribe", "payload": {
        "query": follow["query"], "variables": serde_json::from_str::<Value>(&follow_variables).unwrap(),
    }});
    send(&mut socket, subscribe).await;
    let event = receive(&mut socket).await.unwrap();
    assert_eq!(event["type"], "next", "{event}");
    let order = &event["payload"]["data"]["orderUpdated"];
    assert_eq!(order["id"], id, "{event}");
    assert!(order["tracking"]["etaMinutes"].is_u64(), "{event}");
}

#[tokio::test]
async fn on_real_upstreams_the_page_has_no_demo_order_tabs() {
    // The test harness's demo stands in for real upstreams: `app::run` with an
    // upstream URL has no embedded demo, so no demo user and no token.
    let demo = spawn_app().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let config = demo.config.clone();
    tokio::spawn(async move { delivery_gateway::app::run(&config, listener, std::future::pending()).await });

    let (_, page) = page_at(addr).await;

    assert!(tab(&page, "HomeScreen").is_some());
    assert!(tab(&page, "placeOrder").is_none() && tab(&page, "orderUpdated").is_none());
    assert_eq!(page["carry"], Value::Null);
}
