//! The shaping pass against a small schema whose fields fail on purpose, each
//! rule of the spec's "Handling Execution Errors" and "Response" sections once.

use async_graphql::{EmptyMutation, EmptySubscription, Object, Request, Schema, Variables};
use serde_json::{Value as Json, json};

use super::*;

struct Root;

/// Fails on purpose.
#[Object]
impl Root {
    async fn ok(&self) -> i32 {
        1
    }

    /// Non-Null, fails.
    async fn fails(&self) -> async_graphql::Result<i32> {
        Err("boom".into())
    }

    /// Nullable, fails.
    async fn maybe(&self) -> async_graphql::Result<Option<i32>> {
        Err("boom".into())
    }

    async fn obj(&self) -> Item {
        Item(0)
    }

    async fn opt_obj(&self) -> Option<Item> {
        Some(Item(0))
    }

    async fn opt_list(&self) -> Option<Vec<Item>> {
        Some(vec![Item(0), Item(1), Item(2)])
    }

    async fn slow(&self) -> Item {
        for _ in 0..3 {
            tokio::task::yield_now().await;
        }
        Item(0)
    }
}

struct Item(i32);

#[Object]
impl Item {
    async fn id(&self) -> i32 {
        self.0
    }

    /// Non-Null; fails for item 1.
    async fn bad(&self) -> async_graphql::Result<i32> {
        if self.0 == 1 {
            Err("bad item".into())
        } else {
            Ok(self.0)
        }
    }

    /// Nullable; always fails.
    async fn soft(&self) -> async_graphql::Result<Option<i32>> {
        Err("soft".into())
    }
}

async fn run_with(query: &str, variables: Json, on_error: OnError) -> (String, Vec<Json>) {
    let schema = Schema::new(Root, EmptyMutation, EmptySubscription);
    let shapes = Shapes::from_sdl(&schema.sdl());
    let document = async_graphql::parser::parse_query(query).unwrap();
    let mut variables = Variables::from_json(variables);
    let operation = selected_operation(&document, None).unwrap();
    with_defaults(&mut variables, &operation.node);
    let mut response = schema.execute(Request::new(query).variables(variables.clone())).await;
    shapes.shape(&mut response, &document, None, &variables, on_error);
    // A string, not a `serde_json::Value`, whose maps would sort their keys.
    let data = serde_json::to_string(&response.data).unwrap();
    assert!(
        response.errors.iter().all(|e| !e.path.is_empty()),
        "{:?}",
        response.errors
    );
    let errors = response
        .errors
        .iter()
        .map(|e| serde_json::to_value(&e.path).unwrap())
        .collect();
    (data, errors)
}

async fn run(query: &str) -> (String, Vec<Json>) {
    run_with(query, json!({}), OnError::Propagate).await
}

#[tokio::test]
async fn a_failed_nullable_field_is_present_as_null_with_one_error() {
    let (data, errors) = run("{ maybe ok }").await;
    assert_eq!(data, r#"{"maybe":null,"ok":1}"#);
    assert_eq!(errors, [json!(["maybe"])]);
}

#[tokio::test]
async fn a_null_in_a_non_null_root_field_nulls_data() {
    let (data, errors) = run("{ ok fails }").await;
    assert_eq!(data, "null");
    assert_eq!(errors, [json!(["fails"])]);
}

#[tokio::test]
async fn an_object_whose_every_field_failed_is_made_again() {
    let (data, errors) = run("{ optObj { soft } obj { soft } }").await;
    assert_eq!(data, r#"{"optObj":{"soft":null},"obj":{"soft":null}}"#);
    assert_eq!(errors.len(), 2);
}

#[tokio::test]
async fn a_non_null_field_nulls_its_nearest_nullable_ancestor() {
    let (data, errors) = run("{ ok optObj { id bad } optList { id bad } }").await;
    // Item 0 has a `bad`; item 1's failure nulls the list (its items are Non-Null).
    assert_eq!(data, r#"{"ok":1,"optObj":{"id":0,"bad":0},"optList":null}"#);
    assert_eq!(errors, [json!(["optList", 1, "bad"])]);
}

#[tokio::test]
async fn propagation_through_non_null_objects_reaches_data() {
    let (data, errors) = run("{ ok obj { id } optList { bad } }").await;
    assert_eq!(data, r#"{"ok":1,"obj":{"id":0},"optList":null}"#);
    assert_eq!(errors.len(), 1);
    let (data, _) = run(r#"{ ok obj { soft } slow { ... on Item { bad: soft } } }"#).await;
    assert_eq!(data, r#"{"ok":1,"obj":{"soft":null},"slow":{"bad":null}}"#);
}

#[tokio::test]
async fn keys_come_in_the_order_of_the_selection() {
    let (data, _) = run("{ slow { id } ok f: ok ...F } fragment F on Root { maybe ok }").await;
    assert_eq!(data, r#"{"slow":{"id":0},"ok":1,"f":1,"maybe":null}"#);
}

#[tokio::test]
async fn skipped_fields_stay_out_and_included_ones_are_in() {
    let query = "query($s: Boolean!, $t: Boolean = true) { ok maybe @skip(if: $s) ... @include(if: $t) { f: ok } x: ok @include(if: false) }";
    let (data, _) = run_with(query, json!({"s": true}), OnError::Propagate).await;
    assert_eq!(data, r#"{"ok":1,"f":1}"#);
    let (data, _) = run_with(query, json!({"s": false, "t": false}), OnError::Propagate).await;
    assert_eq!(data, r#"{"ok":1,"maybe":null}"#);
    // Without its variable, `@include(if: $t)` takes `$t`'s default.
    let (data, _) = run_with(query, json!({"s": false}), OnError::Propagate).await;
    assert_eq!(data, r#"{"ok":1,"maybe":null,"f":1}"#);
}

#[tokio::test]
async fn on_error_null_leaves_each_null_where_it_failed() {
    let (data, errors) = run_with("{ ok fails optList { id bad } }", json!({}), OnError::Null).await;
    assert_eq!(
        data,
        r#"{"ok":1,"fails":null,"optList":[{"id":0,"bad":0},{"id":1,"bad":null},{"id":2,"bad":2}]}"#
    );
    assert_eq!(errors.len(), 2);
}

#[tokio::test]
async fn on_error_halt_answers_no_data_and_the_first_error() {
    let (data, errors) = run_with("{ ok maybe optObj { soft } }", json!({}), OnError::Halt).await;
    assert_eq!(data, "null");
    assert_eq!(errors.len(), 1);
    let (data, errors) = run_with("{ ok }", json!({}), OnError::Halt).await;
    assert_eq!(data, r#"{"ok":1}"#);
    assert!(errors.is_empty());
}

#[test]
fn on_error_names_three_behaviours() {
    assert_eq!(OnError::parse("PROPAGATE"), Some(OnError::Propagate));
    assert_eq!(OnError::parse("NULL"), Some(OnError::Null));
    assert_eq!(OnError::parse("HALT"), Some(OnError::Halt));
    assert_eq!(OnError::parse("null"), None);
}
