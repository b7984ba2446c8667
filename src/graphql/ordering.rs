//! Answers in the order their selections asked for their keys.
//!
//! The spec's serialisation section asks that a response's maps keep "the order
//! of requested fields as defined by CollectFields()". async-graphql 7.2 inserts
//! an object's fields as they complete (its containers collect them from a
//! `FuturesUnordered`), so an object whose fields wait on different upstream
//! calls came out in completion order: `{ restaurants { .. } me { .. } }` was
//! answered with `me` first, and a connection's `edges` after its `pageInfo`.
//! [`in_selection_order`] puts every object of an answer back in its selection's
//! order once execution is done. Objects built by the plans (`plan.rs`) are in
//! order already and cost a check; pre-serialised JSON is left as it is.
//!
//! Fragments are expanded without looking at their type conditions: the schema's
//! types are all object types reached through object fields (see `plan.rs`), and a
//! key that a fragment on another type would add is simply absent from the answer.

use async_graphql::Value;
use async_graphql::parser::types::{ExecutableDocument, SelectionSet};

use super::plan::{Fragments, collect, selected_operation, spliced_json};

/// Selections walked at most to order one object's keys; past it, the object is
/// left as it is (the document limits keep real documents far below).
const BUDGET: usize = 10_000;

/// Puts every object in `data`, the answer to `document`'s operation
/// `operation_name`, in the order its selection asked for its keys.
pub fn in_selection_order(data: &mut Value, document: &ExecutableDocument, operation_name: Option<&str>) {
    // No such operation: a request error, no data.
    if let Some(operation) = selected_operation(document, operation_name) {
        order(data, &[&operation.node.selection_set.node], &document.fragments);
    }
}

/// The response keys that `sets` (one key's selections, merged) ask for, in
/// order, each with its own merged selections.
type Groups<'a> = Vec<(&'a str, Vec<&'a SelectionSet>)>;

fn groups<'a>(sets: &[&'a SelectionSet], fragments: &'a Fragments) -> Option<Groups<'a>> {
    let mut fields = Vec::new();
    let mut budget = BUDGET;
    for set in sets {
        if !collect(set, fragments, &mut fields, &mut budget, 0) {
            return None;
        }
    }
    let mut groups: Groups<'a> = Vec::new();
    for field in fields {
        let key = field.response_key().node.as_str();
        let inner = &field.selection_set.node;
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, sets)) => sets.push(inner),
            None => groups.push((key, vec![inner])),
        }
    }
    Some(groups)
}

/// Orders `value` (an object, a list of them, or a leaf) as `sets` ask.
fn order(value: &mut Value, sets: &[&SelectionSet], fragments: &Fragments) {
    if sets.iter().all(|set| set.items.is_empty()) || spliced_json(value).is_some() {
        return;
    }
    if let Some(groups) = groups(sets, fragments) {
        apply(value, &groups, fragments);
    }
}

fn apply(value: &mut Value, groups: &Groups<'_>, fragments: &Fragments) {
    // Pre-serialised JSON (`plan::json_answer`) is in its selection's order already.
    if spliced_json(value).is_some() {
        return;
    }
    match value {
        Value::List(items) => {
            for item in items {
                apply(item, groups, fragments);
            }
        }
        Value::Object(map) => {
            let position = |key: &str| groups.iter().position(|(k, _)| *k == key).unwrap_or(usize::MAX);
            if !map.keys().map(|key| position(key)).is_sorted() {
                map.sort_by_cached_key(|key, _| position(key));
            }
            for (key, sets) in groups {
                if let Some(child) = map.get_mut(*key) {
                    order(child, sets, fragments);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use async_graphql::parser::parse_query;
    use async_graphql::{EmptyMutation, EmptySubscription, Object, Request, Schema};

    use super::*;

    /// Fields that complete in the opposite order of a selection that asks for
    /// `slow` first.
    struct Root;

    #[Object]
    impl Root {
        async fn slow(&self) -> Inner {
            for _ in 0..3 {
                tokio::task::yield_now().await;
            }
            Inner
        }

        async fn fast(&self) -> i32 {
            1
        }

        async fn list(&self) -> Vec<Inner> {
            vec![Inner, Inner]
        }
    }

    struct Inner;

    #[Object]
    impl Inner {
        async fn later(&self) -> i32 {
            tokio::task::yield_now().await;
            2
        }

        async fn now(&self) -> i32 {
            3
        }
    }

    async fn answer(query: &str, operation: Option<&str>) -> (String, String) {
        let schema = Schema::new(Root, EmptyMutation, EmptySubscription);
        let mut request = Request::new(query);
        if let Some(name) = operation {
            request = request.operation_name(name);
        }
        let mut data = schema.execute(request).await.data;
        let before = serde_json::to_string(&data).unwrap();
        in_selection_order(&mut data, &parse_query(query).unwrap(), operation);
        (before, serde_json::to_string(&data).unwrap())
    }

    #[tokio::test]
    async fn objects_come_back_in_the_order_they_were_asked_for() {
        let (before, after) = answer("{ slow { later now } fast list { later now } }", None).await;
        // What async-graphql gives: completion order.
        assert_eq!(
            before,
            r#"{"fast":1,"list":[{"now":3,"later":2},{"now":3,"later":2}],"slow":{"now":3,"later":2}}"#
        );
        assert_eq!(
            after,
            r#"{"slow":{"later":2,"now":3},"fast":1,"list":[{"later":2,"now":3},{"later":2,"now":3}]}"#
        );
    }

    #[tokio::test]
    async fn aliases_fragments_and_repeated_keys_are_ordered_as_collected() {
        let query = "query A { fast } query B { ...F s: slow { now } fast s: slow { later } } \
                     fragment F on Root { list { ... on Inner { later } now } }";
        let (_, after) = answer(query, Some("B")).await;
        assert_eq!(
            after,
            r#"{"list":[{"later":2,"now":3},{"later":2,"now":3}],"s":{"now":3,"later":2},"fast":1}"#
        );
    }
}
