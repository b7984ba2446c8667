//! The SDL is a checked contract.

use serde_json::Value;

use crate::helpers::{header_text, spawn_app};

#[test]
fn schema_file_matches_the_server() {
    let printed = delivery_gateway::graphql::sdl();
    let file =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema/schema.graphql")).unwrap_or_default();
    assert!(
        printed == file,
        "schema/schema.graphql differs from the server's schema.\n\
         Regenerate it with:\n\n    cargo run --quiet -- schema > schema/schema.graphql\n"
    );
}

#[tokio::test]
async fn the_server_serves_its_sdl() {
    let app = spawn_app().await;

    let response = app.get("/schema.graphql").send().await.unwrap();

    assert_eq!(response.status(), 200);
    assert!(header_text(response.headers(), "content-type").starts_with("text/plain"));
    assert_eq!(response.text().await.unwrap(), delivery_gateway::graphql::sdl());
}

#[tokio::test]
async fn every_type_field_argument_and_value_has_a_description() {
    let app = spawn_app().await;
    let query = "{ __schema { types { name description
        fields { name description args { name description } }
        inputFields { name description }
        enumValues { name description } } } }";

    let (_, body) = app.query(query, serde_json::json!({}), None).await;

    let described = |item: &Value| item["description"].as_str().is_some_and(|d| !d.trim().is_empty());
    let mut missing = Vec::new();
    for ty in body["data"]["__schema"]["types"].as_array().unwrap() {
        let name = ty["name"].as_str().unwrap();
        if name.starts_with("__") || ["String", "Int", "Float", "Boolean", "ID"].contains(&name) {
            continue;
        }
        if !described(ty) {
            missing.push(name.to_owned());
        }
        for list in ["fields", "inputFields", "enumValues"] {
            for item in ty[list].as_array().into_iter().flatten() {
                if !described(item) {
                    missing.push(format!("{name}.{}", item["name"]));
                }
                for arg in item["args"].as_array().into_iter().flatten() {
                    if !described(arg) {
                        missing.push(format!("{name}.{}({})", item["name"], arg["name"]));
                    }
                }
            }
        }
    }
    assert!(missing.is_empty(), "without a description: {missing:?}");
}
