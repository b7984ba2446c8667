//! Answering a selection without a future per field: the selection compiled once
//! into a [`Plan`], the answer built from it with loops. Used where a profile
//! showed async-graphql's per-field machinery to be most of the CPU: menus
//! (`menu.rs`) and the restaurants of a list (`restaurant.rs`).
//!
//! A plan flattens every fragment: right only for object types reached through
//! object fields, with no interface or union in between, where validation has
//! already refused any fragment whose type condition is not the enclosing type.
//! `@skip` and `@include` are gone by execution time (async-graphql removes the
//! skipped selections before it executes).

use std::any::Any;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

use async_graphql::indexmap::IndexMap;
use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, Field, FragmentDefinition, OperationDefinition, Selection, SelectionSet,
};
use async_graphql::{Context, Name, OutputType, Positioned, SelectionField, Value};

use super::common::Money;
use super::scope::RequestScope;
use crate::upstream;

/// The fields of an object's selection: one entry per response key, in the order
/// the keys first appear.
///
/// Every object this plan answers has the same keys in the same order, so the map
/// is built (and its keys hashed) once, as a template of nulls, and each object
/// is a copy of it with the values filled in by position: cloning an `IndexMap`
/// copies its hash table without hashing anything again.
#[derive(Debug)]
pub struct Plan<F> {
    template: IndexMap<Name, Value>,
    fields: Vec<F>,
    /// Each entry's key as JSON, with what goes before it: `{"key":` for the
    /// first, `,"key":` after (see [`Plan::write_object`]).
    keys_json: Vec<Box<[u8]>>,
}

impl<F> Plan<F> {
    /// Groups `selection` (fragments already flattened) by response key and
    /// compiles each group with `field(name, the group's fields)`.
    ///
    /// `None` as soon as `field` does not know a name, or a field has arguments:
    /// the plan declines, and the type's `#[Object]` resolvers (the one
    /// definition of each field) answer instead. A field added to the schema and
    /// not to a plan is answered slower, never left out; the tests that select
    /// every field of the schema's registry fail until the plan learns it.
    pub fn compile<'a>(
        selection: impl Iterator<Item = SelectionField<'a>>,
        field: impl Fn(&str, &[SelectionField<'a>]) -> Option<F>,
    ) -> Option<Plan<F>> {
        let mut groups: Vec<(&str, Vec<SelectionField<'a>>)> = Vec::new();
        for selected in selection {
            if !selected.arguments().is_ok_and(|a| a.is_empty()) {
                return None;
            }
            let key = selected.alias().unwrap_or_else(|| selected.name());
            match groups.iter_mut().find(|(k, _)| *k == key) {
                Some((_, group)) => group.push(selected),
                None => groups.push((key, vec![selected])),
            }
        }
        let mut template = IndexMap::with_capacity(groups.len());
        let mut fields = Vec::with_capacity(groups.len());
        let mut keys_json = Vec::with_capacity(groups.len());
        for (key, group) in groups {
            let compiled = field(group[0].name(), &group)?;
            let before = if fields.is_empty() { "{" } else { "," };
            // A response key is a GraphQL name (`[_A-Za-z][_0-9A-Za-z]*`, as the
            // parser took it): nothing in it to escape.
            keys_json.push(format!("{before}\"{key}\":").into_bytes().into_boxed_slice());
            template.insert(Name::new(key), Value::Null);
            fields.push(compiled);
        }
        Some(Plan {
            template,
            fields,
            keys_json,
        })
    }

    /// The object this plan asks for, each entry's value from `value`. Like
    /// async-graphql's own objects, an object with no field left (all skipped)
    /// is `null`.
    pub fn object(&self, value: impl Fn(&F) -> Value) -> Value {
        self.try_object(|field| Some(value(field))).unwrap_or(Value::Null)
    }

    /// [`Plan::object`] for values that may not be at hand: `None` as soon as
    /// one is not.
    pub fn try_object(&self, value: impl Fn(&F) -> Option<Value>) -> Option<Value> {
        if self.fields.is_empty() {
            return Some(Value::Null);
        }
        let mut object = self.template.clone();
        for (slot, field) in object.values_mut().zip(&self.fields) {
            *slot = value(field)?;
        }
        Some(Value::Object(object))
    }

    /// [`Plan::object`] written straight to JSON, without building a [`Value`]:
    /// `value(out, field)` writes each entry's value after its key.
    pub fn write_object(
        &self,
        out: &mut Vec<u8>,
        mut value: impl FnMut(&mut Vec<u8>, &F) -> serde_json::Result<()>,
    ) -> serde_json::Result<()> {
        if self.fields.is_empty() {
            out.extend_from_slice(b"null");
            return Ok(());
        }
        for (key, field) in self.keys_json.iter().zip(&self.fields) {
            out.extend_from_slice(key);
            value(out, field)?;
        }
        out.push(b'}');
        Ok(())
    }
}

/// Writes `items` as a JSON array, each by `item`.
pub fn write_list<T>(
    out: &mut Vec<u8>,
    items: &[T],
    mut item: impl FnMut(&mut Vec<u8>, &T) -> serde_json::Result<()>,
) -> serde_json::Result<()> {
    out.push(b'[');
    for (i, one) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        item(out, one)?;
    }
    out.push(b']');
    Ok(())
}

/// Writes `text` as a JSON string (serde_json escapes it).
pub fn write_str(out: &mut Vec<u8>, text: &str) -> serde_json::Result<()> {
    serde_json::to_writer(out, text)
}

/// Writes `n` as a JSON number.
pub fn write_int(out: &mut Vec<u8>, n: impl itoa::Integer) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// An answer serialised by a plan, as the [`Value`] the request can take:
/// pre-serialised JSON when [`RawJson`] allows it, else the JSON read back into
/// a `Value` tree.
///
/// The pre-serialised form is an object whose one entry is
/// [`RAW_VALUE_TOKEN`](async_graphql_value::RAW_VALUE_TOKEN), holding JSON that
/// serde_json wrote: async-graphql-value's `raw_value` feature serialises it as
/// that JSON (after parsing it again to check it), and the endpoint's
/// [`response_json`](super::response_json) copies it in as it is. A `HomeScreen`
/// page's menus are 600 dishes: as a `Value` tree they were an `IndexMap` per
/// dish and per price, built, serialised and dropped; as JSON they are one string
/// per menu.
pub fn json_answer(json: String, raw: bool) -> Result<Value, serde_json::Error> {
    if raw {
        Ok(Value::Object(IndexMap::from([(
            Name::new(async_graphql_value::RAW_VALUE_TOKEN),
            Value::String(json),
        )])))
    } else {
        serde_json::from_str(&json)
    }
}

/// The JSON that `value` holds when it is a [`json_answer`] in its
/// pre-serialised form.
pub fn spliced_json(value: &Value) -> Option<&str> {
    match value {
        Value::Object(map) if map.len() == 1 => match map.get(async_graphql_value::RAW_VALUE_TOKEN) {
            Some(Value::String(json)) => Some(json),
            _ => None,
        },
        _ => None,
    }
}

/// The operation of `document` that a request names, if it names one that exists
/// (or the document holds only one, as async-graphql then runs it); async-graphql
/// reports the other cases.
pub fn selected_operation<'a>(
    document: &'a ExecutableDocument,
    name: Option<&str>,
) -> Option<&'a Positioned<OperationDefinition>> {
    match (&document.operations, name) {
        (DocumentOperations::Single(operation), _) => Some(operation),
        (DocumentOperations::Multiple(operations), Some(name)) => operations.get(name),
        (DocumentOperations::Multiple(operations), None) if operations.len() == 1 => operations.values().next(),
        (DocumentOperations::Multiple(_), None) => None,
    }
}

/// Whether this request's answers may hold pre-serialised JSON: set in the
/// request's data by the endpoint, from [`RawJson::for_document`]; a request
/// without it (a unit test's) gets `Value` trees only.
///
/// async-graphql answers a response key selected twice in one selection set
/// (`menu { a } menu { b }`, or the same through fragments) by resolving each
/// occurrence on its own and merging the two answers key by key. Two JSON strings
/// cannot be merged, so where a document selects an object's key twice anywhere,
/// every answer of the request stays a `Value`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawJson(pub bool);

impl RawJson {
    /// Whether plans may answer with JSON in requests for `ctx`'s document.
    pub fn allowed(ctx: &Context<'_>) -> bool {
        ctx.data_opt::<RawJson>().is_some_and(|raw| raw.0)
    }

    /// Allowed for `document` when no operation in it selects the same response
    /// key twice in one selection set (fragments expanded) for a field with a
    /// selection of its own (leaves merge by taking one of two equal values).
    /// Conservative: type conditions are ignored, and a document too large to
    /// walk within a budget of selections is not allowed. Run on a document that
    /// has passed the document limits (`server::limits`), whose complexity bounds
    /// the number of fields once fragments are expanded.
    pub fn for_document(document: &ExecutableDocument) -> RawJson {
        let mut budget = 50_000_usize;
        let merges = document
            .operations
            .iter()
            .any(|(_, operation)| merges(&operation.node.selection_set.node, &document.fragments, &mut budget));
        RawJson(!merges)
    }
}

/// A document's fragments by name.
pub(super) type Fragments = HashMap<Name, Positioned<FragmentDefinition>>;

/// Whether answering `set` merges two answers somewhere; `true` past the budget.
fn merges(set: &SelectionSet, fragments: &Fragments, budget: &mut usize) -> bool {
    let mut fields = Vec::new();
    if !collect(set, fragments, &mut fields, budget, 0) {
        return true;
    }
    let mut keys = HashSet::with_capacity(fields.len());
    fields
        .into_iter()
        .filter(|field| !field.selection_set.node.items.is_empty())
        .any(|field| {
            !keys.insert(field.response_key().node.as_str()) || merges(&field.selection_set.node, fragments, budget)
        })
}

/// The fields of `set`, fragments expanded; `false` past the budget or too deep
/// in fragments (a cycle, which validation refuses anyway).
pub(super) fn collect<'a>(
    set: &'a SelectionSet,
    fragments: &'a Fragments,
    fields: &mut Vec<&'a Field>,
    budget: &mut usize,
    depth: usize,
) -> bool {
    for selection in &set.items {
        if *budget == 0 || depth > 64 {
            return false;
        }
        *budget -= 1;
        let inner = match &selection.node {
            Selection::Field(field) => {
                fields.push(&field.node);
                continue;
            }
            Selection::InlineFragment(fragment) => &fragment.node.selection_set.node,
            // An unknown fragment is refused by validation before execution.
            Selection::FragmentSpread(spread) => match fragments.get(&spread.node.fragment_name.node) {
                Some(fragment) => &fragment.node.selection_set.node,
                None => continue,
            },
        };
        if !collect(inner, fragments, fields, budget, depth + 1) {
            return false;
        }
    }
    true
}

/// The plans one request has compiled, each under the field (the node of the
/// request's document) it was compiled for.
///
/// A plan depends only on its field's selection, the document's fragments and the
/// request's variables, all fixed for the request, so the twenty `node`s of a page
/// share one plan instead of compiling twenty (9 % of `Nearby`'s instructions,
/// measured with callgrind). The key is the field node's address: the document
/// outlives the request's execution, and each request has its own `Plans`, so an
/// address cannot be reused under it. Two aliases of one field are two nodes, so
/// their different selections get different plans.
#[derive(Default)]
pub struct Plans(Mutex<Vec<(usize, Arc<dyn Any + Send + Sync>)>>);

impl Plans {
    /// The plan of the field that `ctx` resolves: compiled the first time it is
    /// asked for in this request. Without a [`RequestScope`] (a schema run by a
    /// unit test), compiled every time.
    pub fn of<P: Any + Send + Sync>(ctx: &Context<'_>, compile: impl FnOnce() -> P) -> Arc<P> {
        match ctx.data_opt::<RequestScope>() {
            Some(scope) => scope.plans.get_or_compile(ctx.item, compile),
            None => Arc::new(compile()),
        }
    }

    fn get_or_compile<P: Any + Send + Sync>(&self, field: &Positioned<Field>, compile: impl FnOnce() -> P) -> Arc<P> {
        let key = std::ptr::from_ref(field).addr();
        // A compile cannot leave the list half-written, so a poisoned lock is safe to use.
        let mut plans = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let found = plans
            .iter()
            .filter(|(k, _)| *k == key)
            .find_map(|(_, plan)| Arc::clone(plan).downcast::<P>().ok());
        found.unwrap_or_else(|| {
            let plan = Arc::new(compile());
            plans.push((key, plan.clone()));
            plan
        })
    }
}

/// The merged sub-selection of a group of fields with one response key.
pub fn inner<'a>(fields: &[SelectionField<'a>]) -> impl Iterator<Item = SelectionField<'a>> {
    fields.iter().flat_map(SelectionField::selection_set)
}

/// `__typename` of `T`.
pub fn typename<T: OutputType>() -> Value {
    Value::String(T::type_name().into_owned())
}

/// A field of `Money`.
#[derive(Debug)]
pub enum MoneyField {
    Typename,
    Amount,
    Currency,
}

/// Compiles a field of a `Money` selection.
pub fn money_field(name: &str, _: &[SelectionField<'_>]) -> Option<MoneyField> {
    Some(match name {
        "__typename" => MoneyField::Typename,
        "amount" => MoneyField::Amount,
        "currency" => MoneyField::Currency,
        _ => return None,
    })
}

/// `amount` as `plan` asks for it.
pub fn money(plan: &Plan<MoneyField>, amount: &upstream::Money) -> Value {
    plan.object(|field| match field {
        MoneyField::Typename => typename::<Money>(),
        MoneyField::Amount => Value::from(amount.amount),
        MoneyField::Currency => Value::String(amount.currency.clone()),
    })
}

/// [`money`] written straight to JSON.
pub fn write_money(out: &mut Vec<u8>, plan: &Plan<MoneyField>, amount: &upstream::Money) -> serde_json::Result<()> {
    plan.write_object(out, |out, field| {
        match field {
            MoneyField::Typename => write_str(out, &Money::type_name())?,
            MoneyField::Amount => write_int(out, amount.amount),
            MoneyField::Currency => write_str(out, &amount.currency)?,
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use async_graphql::parser::parse_query;
    use async_graphql::parser::types::{DocumentOperations, Selection};

    use super::*;

    #[test]
    fn a_field_compiles_once_and_each_alias_gets_its_own_plan() {
        let document = parse_query("{ a: node { id } b: node { name } }").unwrap();
        let DocumentOperations::Single(operation) = &document.operations else {
            panic!("one operation")
        };
        let fields: Vec<&Positioned<Field>> = (operation.node.selection_set.node.items.iter())
            .map(|selection| match &selection.node {
                Selection::Field(field) => field,
                _ => panic!("fields only"),
            })
            .collect();
        let plans = Plans::default();
        let compiles = std::cell::Cell::new(0);
        let plan_of = |field: &Positioned<Field>| {
            plans.get_or_compile(field, || {
                compiles.set(compiles.get() + 1);
                field.node.alias.as_ref().unwrap().node.to_string()
            })
        };
        let first = plan_of(fields[0]);
        for _ in 0..20 {
            assert!(Arc::ptr_eq(&plan_of(fields[0]), &first));
        }
        assert_eq!(*plan_of(fields[1]), "b");
        assert_eq!((first.as_str(), compiles.get()), ("a", 2));
        // Another type of plan under the same field is compiled on its own.
        assert_eq!(*plans.get_or_compile(fields[0], || 7_u8), 7);
    }

    #[test]
    fn json_answers_only_where_nothing_merges() {
        let allowed = |query: &str| RawJson::for_document(&parse_query(query).unwrap()).0;
        for query in [
            "{ restaurant(id: 1) { id menu { categories { name } } } }",
            // Leaves asked twice merge by keeping one of two equal values.
            "{ restaurant(id: 1) { id id menu { categories { name name } } } }",
            // Different keys are different answers.
            "{ a: restaurant(id: 1) { menu { categories { name } } } b: restaurant(id: 2) { m: menu { __typename } menu { __typename } } }",
            "query A { restaurant(id: 1) { menu { __typename } } } query B { restaurant(id: 1) { menu { __typename } } }",
            "{ restaurant(id: 1) { ...F } } fragment F on Restaurant { menu { __typename } }",
        ] {
            assert!(allowed(query), "{query}");
        }
        for query in [
            "{ restaurant(id: 1) { menu { __typename } menu { categories { name } } } }",
            "{ restaurant(id: 1) { menu { __typename } } restaurant(id: 1) { id } }",
            "{ restaurant(id: 1) { menu { categories { name } categories { items { id } } } } }",
            // Through fragments, named and inline, at any depth.
            "{ restaurant(id: 1) { menu { __typename } ...F } } fragment F on Restaurant { menu { __typename } }",
            "{ restaurant(id: 1) { ... on Restaurant { menu { __typename } } ... { menu { __typename } } } }",
            "{ ...Q ...Q } fragment Q on Query { me { id } }",
            "{ me { orderHistory { ...O } } } fragment O on OrderHistory { orders { totalCount } orders { edges { cursor } } }",
            // A cycle (refused by validation) is not walked for ever.
            "{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }",
        ] {
            assert!(!allowed(query), "{query}");
        }
    }
}
