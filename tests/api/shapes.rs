//! Answers are GraphQL as the spec defines them, whatever fails upstream: each
//! acceptance operation under each service failing, checked against the schema
//! and the operation by a walker of its own (it shares no code with the
//! gateway's shaping pass), and the client's choice of error behaviour
//! (`onError`).

use std::collections::HashMap;

use async_graphql::parser::types::{BaseType, ExecutableDocument, Selection, SelectionSet, Type, TypeKind};
use async_graphql::parser::types::{DocumentOperations, TypeSystemDefinition};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{HOME, NEARBY, RESTAURANT, TestApp, berlin, errors, spawn_app_with};

/// Every service the gateway calls.
const SERVICES: [&str; 13] = [
    "users",
    "orders",
    "geo",
    "restaurants",
    "menus",
    "ratings",
    "logistics",
    "pricing",
    "availability",
    "promotions",
    "wallet",
    "loyalty",
    "recommendations",
];

/// The object types of the server's schema: field name to type.
fn object_types() -> HashMap<String, HashMap<String, Type>> {
    let schema = async_graphql::parser::parse_schema(delivery_gateway::graphql::sdl()).unwrap();
    let mut types = HashMap::new();
    for definition in schema.definitions {
        if let TypeSystemDefinition::Type(ty) = definition
            && let TypeKind::Object(object) = ty.node.kind
        {
            let fields = object
                .fields
                .into_iter()
                .map(|f| (f.node.name.node.to_string(), f.node.ty.node))
                .collect();
            types.insert(ty.node.name.node.to_string(), fields);
        }
    }
    types
}

/// What is wrong with `body` as the answer to `query` (whose operations select
/// fields only, as the acceptance operations do): a selected key missing where
/// its parent is present, a null in a Non-Null position, an error whose path
/// reaches no null, two errors on one path, `data: null` without an error.
fn malformations(query: &str, body: &Value) -> Vec<String> {
    let types = object_types();
    let document: ExecutableDocument = async_graphql::parser::parse_query(query).unwrap();
    let operation = match &document.operations {
        DocumentOperations::Single(operation) => operation,
        DocumentOperations::Multiple(operations) => operations.values().next().expect("one operation"),
    };
    let mut problems = Vec::new();
    let Some(data) = body.get("data") else {
        return vec!["no `data` key".into()];
    };
    let errors = errors(body);
    if data.is_null() && errors.is_empty() {
        problems.push("data is null without an error".into());
    }
    if !data.is_null() {
        walk(
            &types,
            "Query",
            data,
            &operation.node.selection_set.node,
            "data",
            &mut problems,
        );
    }
    let mut paths = Vec::new();
    for error in &errors {
        let Some(path) = error.get("path").and_then(Value::as_array) else {
            continue;
        };
        if paths.contains(path) {
            problems.push(format!("two errors on {path:?}"));
        }
        paths.push(path.clone());
        let mut at = data;
        let mut reached_null = at.is_null();
        for segment in path {
            if reached_null {
                break;
            }
            let next = match segment {
                Value::String(key) => at.get(key.as_str()),
                Value::Number(index) => at.get(index.as_u64().unwrap() as usize),
                _ => None,
            };
            match next {
                Some(value) => {
                    at = value;
                    reached_null = at.is_null();
                }
                None => {
                    problems.push(format!("error path {path:?} leads nowhere"));
                    reached_null = true;
                }
            }
        }
        if !reached_null {
            problems.push(format!("error path {path:?} reaches no null"));
        }
    }
    problems
}

fn walk(
    types: &HashMap<String, HashMap<String, Type>>,
    type_name: &str,
    object: &Value,
    selection: &SelectionSet,
    at: &str,
    problems: &mut Vec<String>,
) {
    let Some(map) = object.as_object() else {
        problems.push(format!("{at} is not an object"));
        return;
    };
    for item in &selection.items {
        let Selection::Field(field) = &item.node else {
            panic!("fields only")
        };
        let field = &field.node;
        let key = field.response_key().node.as_str();
        let Some(value) = map.get(key) else {
            problems.push(format!("{at}.{key} is missing"));
            continue;
        };
        let ty = &types[type_name][field.name.node.as_str()];
        check(
            types,
            ty,
            value,
            &field.selection_set.node,
            &format!("{at}.{key}"),
            problems,
        );
    }
    for key in map.keys() {
        let selected = selection.items.iter().any(|item| match &item.node {
            Selection::Field(field) => field.node.response_key().node == key.as_str(),
            _ => false,
        });
        if !selected {
            problems.push(format!("{at}.{key} was not selected"));
        }
    }
}

fn check(
    types: &HashMap<String, HashMap<String, Type>>,
    ty: &Type,
    value: &Value,
    selection: &SelectionSet,
    at: &str,
    problems: &mut Vec<String>,
) {
    if value.is_null() {
        if !ty.nullable {
            problems.push(format!("{at} is null in a Non-Null position ({ty})"));
        }
        return;
    }
    match &ty.base {
        BaseType::List(item) => match value.as_array() {
            Some(items) => {
                for (i, one) in items.iter().enumerate() {
                    check(types, item, one, selection, &format!("{at}[{i}]"), problems);
                }
            }
            None => problems.push(format!("{at} is not a list")),
        },
        BaseType::Named(name) if types.contains_key(name.as_str()) => {
            walk(types, name, value, selection, at, problems);
        }
        BaseType::Named(_) => {}
    }
}

/// A gateway without the entity cache or coalescing, so that nothing hides a
/// fault, and without retries, so that a failing service fails fast.
async fn uncached() -> TestApp {
    spawn_app_with(|config| {
        config.cache.enabled = false;
        config.cache.coalesce = false;
        config.upstreams.retry.max_attempts = 1;
    })
    .await
}

/// The three acceptance operations with their variables, and whether they need
/// a token.
fn operations() -> [(&'static str, &'static str, Value, bool); 3] {
    [
        ("HomeScreen", HOME, berlin(20), true),
        ("Nearby", NEARBY, berlin(20), false),
        ("Restaurant", RESTAURANT, json!({"id": "1234"}), false),
    ]
}

/// Runs the three operations with `fault` set (none: no fault), and returns the
/// malformations found in each answer.
async fn run_all(fault: Option<Value>) -> Vec<(String, Vec<String>, Value)> {
    let app = uncached().await;
    if let Some(fault) = fault {
        app.fault(fault).await;
    }
    let token = app.token(42);
    let mut found = Vec::new();
    for (name, query, variables, signed_in) in operations() {
        let (status, body) = app.query(query, variables, signed_in.then_some(token.as_str())).await;
        assert_eq!(status, StatusCode::OK, "{name}: {body}");
        found.push((name.to_owned(), malformations(query, &body), body));
    }
    found
}

#[tokio::test]
async fn every_answer_is_spec_shaped_with_each_service_failing() {
    let mut conditions: Vec<(String, Option<Value>)> = vec![("no fault".into(), None)];
    conditions.extend(
        SERVICES
            .iter()
            .map(|s| (format!("{s} failing"), Some(json!({"service": s, "errorRate": 1.0})))),
    );
    conditions.push(("all failing".into(), Some(json!({"service": "*", "errorRate": 1.0}))));
    let mut report = Vec::new();
    for (condition, fault) in conditions {
        let failing = fault.is_some();
        for (operation, problems, body) in run_all(fault).await {
            if !failing {
                assert!(errors(&body).is_empty(), "{operation} without a fault: {body}");
            }
            if !problems.is_empty() {
                report.push(format!("{operation}, {condition}: {problems:?}"));
            }
        }
    }
    assert!(report.is_empty(), "malformed answers:\n{}", report.join("\n"));
}

#[tokio::test]
async fn each_failing_service_costs_only_its_own_fields() {
    let app = uncached().await;
    app.fault(json!({"service": "ratings", "errorRate": 1.0})).await;

    let (_, body) = app.query(RESTAURANT, json!({"id": "1234"}), None).await;

    let restaurant = &body["data"]["restaurant"];
    assert_eq!(restaurant["name"], "Beirut Table");
    assert!(restaurant.get("rating").is_some_and(Value::is_null), "{body}");
    assert!(restaurant["menu"]["categories"].is_array());
    let errors = errors(&body);
    assert_eq!(errors.len(), 1, "{body}");
    assert_eq!(errors[0]["path"], json!(["restaurant", "rating"]));
}

#[tokio::test]
async fn a_failing_list_nulls_its_connection_fields_each_with_an_error() {
    let app = uncached().await;
    app.fault(json!({"service": "geo", "errorRate": 1.0})).await;

    let (_, body) = app.query(NEARBY, berlin(5), None).await;

    let connection = body["data"]["restaurants"].as_object().expect("the connection stays");
    for key in ["area", "edges", "pageInfo"] {
        assert!(connection.get(key).is_some_and(Value::is_null), "{key}: {body}");
    }
    let paths: Vec<Value> = errors(&body).iter().map(|e| e["path"].clone()).collect();
    for key in ["area", "edges", "pageInfo"] {
        assert!(paths.contains(&json!(["restaurants", key])), "{key}: {paths:?}");
    }
}

#[tokio::test]
async fn an_unknown_or_failed_restaurant_is_null_not_the_whole_answer() {
    let app = uncached().await;
    app.fault(json!({"service": "restaurants", "errorRate": 1.0})).await;

    let (_, body) = app.query(RESTAURANT, json!({"id": "1234"}), None).await;

    assert_eq!(body["data"], json!({"restaurant": null}), "{body}");
    assert_eq!(errors(&body)[0]["path"], json!(["restaurant"]));
}

#[tokio::test]
async fn past_max_errors_the_nulls_stand_and_one_error_counts_the_rest() {
    let app = spawn_app_with(|config| {
        config.cache.enabled = false;
        config.upstreams.retry.max_attempts = 1;
        config.limits.max_errors = 3;
    })
    .await;
    app.fault(json!({"service": "ratings", "errorRate": 1.0})).await;

    let (_, body) = app.query(NEARBY, berlin(20), None).await;

    let edges = body["data"]["restaurants"]["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 20);
    for edge in edges {
        assert!(edge["node"].get("rating").is_some_and(Value::is_null), "{edge}");
    }
    let errors = errors(&body);
    assert_eq!(errors.len(), 3, "{body}");
    assert_eq!(errors[2]["extensions"]["code"], "TOO_MANY_ERRORS");
    assert_eq!(errors[2]["message"], "18 more errors were omitted");
}

/// POSTs `request` (a JSON object: `query`, `variables`, `onError`, ...) under
/// the GraphQL media type and returns the status and the answer.
async fn post(app: &TestApp, request: Value, token: Option<&str>) -> (StatusCode, Value) {
    let builder = app
        .graphql_post(&request, token)
        .header("accept", "application/graphql-response+json");
    let response = app.send_json(builder).await;
    (response.status, response.body)
}

#[tokio::test]
async fn on_error_null_keeps_each_null_where_it_failed() {
    let app = uncached().await;
    app.fault(json!({"service": "orders", "errorRate": 1.0})).await;
    let token = app.token(42);

    let (status, body) = post(
        &app,
        json!({"query": HOME, "variables": berlin(5), "onError": "NULL"}),
        Some(&token),
    )
    .await;

    assert_eq!(status, 200);
    let history = &body["data"]["me"]["orderHistory"];
    // `totalCount` is `Int!`: with NULL it stays null in place, and its
    // sibling `orders` is null with its own error.
    assert!(history.get("totalCount").is_some_and(Value::is_null), "{body}");
    assert!(history.get("orders").is_some_and(Value::is_null), "{body}");
    assert_eq!(body["data"]["me"]["id"], "42");
    assert!(body["data"]["me"]["loyalty"]["points"].is_u64());
    // The ranking needs the user's recent orders: the list fails too, in place.
    assert!(
        body["data"]["restaurants"].get("edges").is_some_and(Value::is_null),
        "{body}"
    );

    // The default propagates the Non-Null `totalCount` to `orderHistory`.
    let (_, body) = post(&app, json!({"query": HOME, "variables": berlin(5)}), Some(&token)).await;
    assert!(
        body["data"]["me"].get("orderHistory").is_some_and(Value::is_null),
        "{body}"
    );
    assert_eq!(body["data"]["me"]["id"], "42");
}

#[tokio::test]
async fn on_error_halt_answers_no_data_and_one_error_for_each_operation() {
    let app = uncached().await;
    app.fault(json!({"service": "availability", "errorRate": 1.0})).await;
    let token = app.token(42);

    for (name, query, variables, signed_in) in operations() {
        let request = json!({"query": query, "variables": variables, "onError": "HALT"});
        let (status, body) = post(&app, request, signed_in.then_some(token.as_str())).await;
        assert_eq!(status, 200, "{name}");
        assert!(body.get("data").is_some_and(Value::is_null), "{name}: {body}");
        assert_eq!(errors(&body).len(), 1, "{name}: {body}");
    }
}

#[tokio::test]
async fn on_error_null_and_propagate_shape_each_operation_with_a_failing_service() {
    let app = uncached().await;
    app.fault(json!({"service": "pricing", "errorRate": 1.0})).await;
    let token = app.token(42);

    for (name, query, variables, signed_in) in operations() {
        for on_error in ["PROPAGATE", "NULL"] {
            let request = json!({"query": query, "variables": variables, "onError": on_error});
            let (status, body) = post(&app, request, signed_in.then_some(token.as_str())).await;
            assert_eq!(status, 200, "{name}");
            assert_eq!(malformations(query, &body), Vec::<String>::new(), "{name} {on_error}");
        }
    }
    // `deliveryFee` is nullable: both behaviours null it in place.
    let request = json!({"query": NEARBY, "variables": berlin(3), "onError": "NULL"});
    let (_, body) = post(&app, request, None).await;
    let node = &body["data"]["restaurants"]["edges"][0]["node"];
    assert!(node.get("deliveryFee").is_some_and(Value::is_null), "{body}");
    assert!(node["name"].is_string());
}

#[tokio::test]
async fn on_error_is_read_from_the_url_and_from_extensions_and_the_top_level_wins() {
    let app = uncached().await;
    app.fault(json!({"service": "ratings", "errorRate": 1.0})).await;
    let query = "{ restaurant(id: \"1234\") { id rating { average } } }";

    let app = &app;
    let get = |params: Vec<(&'static str, String)>| {
        let request = app
            .get("/graphql")
            .header("accept", "application/graphql-response+json")
            .header("apollo-require-preflight", "1")
            .query(&params);
        async move {
            let response = app.send_json(request).await;
            (response.status, response.body)
        }
    };
    let (status, body) = get(vec![("query", query.into()), ("onError", "HALT".into())]).await;
    assert_eq!(status, 200);
    assert!(body.get("data").is_some_and(Value::is_null), "{body}");

    let in_extensions = json!({"query": query, "extensions": {"onError": "HALT"}});
    let (_, body) = post(app, in_extensions, None).await;
    assert!(body.get("data").is_some_and(Value::is_null), "{body}");

    let both = json!({"query": query, "onError": "NULL", "extensions": {"onError": "HALT"}});
    let (_, body) = post(app, both, None).await;
    assert_eq!(body["data"]["restaurant"]["id"], "1234", "{body}");
}

#[tokio::test]
async fn an_unknown_on_error_is_a_request_error() {
    let app = uncached().await;

    for on_error in [json!("ABORT"), json!("null"), json!(1)] {
        let request = json!({"query": "{ __typename }", "onError": on_error});
        let (status, body) = post(&app, request, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{on_error}");
        assert!(body.get("data").is_none(), "{body}");
        assert_eq!(errors(&body)[0]["extensions"]["code"], "BAD_REQUEST");
    }
}
