//! The SDL is a checked contract.

use crate::helpers::spawn_app;

#[test]
fn schema_file_matches_the_server() {
    let printed = delivery_gateway::graphql::sdl();
    let file = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema/schema.graphql"))
        .unwrap_or_default();
    assert!(
        printed == file,
        "schema/schema.graphql differs from the server's schema.\n\
         Regenerate it with:\n\n    cargo run --quiet -- schema > schema/schema.graphql\n"
    );
}

#[tokio::test]
async fn the_server_serves_its_sdl() {
    let app = spawn_app().await;

    let response = app.client.get(app.url("/schema.graphql")).send().await.unwrap();

    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    assert_eq!(response.text().await.unwrap(), delivery_gateway::graphql::sdl());
}

#[test]
fn every_type_and_field_has_a_description() {
    let sdl = delivery_gateway::graphql::sdl();
    let mut previous = "";
    for line in sdl.lines() {
        let trimmed = line.trim();
        let declares = trimmed.starts_with("type ")
            || trimmed.starts_with("enum ")
            || trimmed.starts_with("input ")
            || (line.starts_with('\t') && trimmed.contains(':') && !trimmed.starts_with('"'));
        if declares && !trimmed.starts_with("type Query") && !trimmed.starts_with("schema") {
            assert!(previous.ends_with('"'), "no description before `{trimmed}`");
        }
        previous = trimmed;
    }
}
