//! GraphiQL is served by the binary, assets included.

use crate::helpers::spawn_app;

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
