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
use std::sync::{Arc, Mutex, PoisonError};

use async_graphql::indexmap::IndexMap;
use async_graphql::parser::types::Field;
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
}

impl<F> Plan<F> {
    /// Groups `selection` (fragments already flattened) by response key and
    /// compiles each group with `field(name, the group's fields)`; a name it does
    /// not know (validation has refused those) is left out.
    pub fn compile<'a>(
        selection: impl Iterator<Item = SelectionField<'a>>,
        field: impl Fn(&str, &[SelectionField<'a>]) -> Option<F>,
    ) -> Plan<F> {
        let mut groups: Vec<(&str, Vec<SelectionField<'a>>)> = Vec::new();
        for selected in selection {
            let key = selected.alias().unwrap_or_else(|| selected.name());
            match groups.iter_mut().find(|(k, _)| *k == key) {
                Some((_, group)) => group.push(selected),
                None => groups.push((key, vec![selected])),
            }
        }
        let mut template = IndexMap::with_capacity(groups.len());
        let mut fields = Vec::with_capacity(groups.len());
        for (key, group) in groups {
            if let Some(compiled) = field(group[0].name(), &group) {
                template.insert(Name::new(key), Value::Null);
                fields.push(compiled);
            }
        }
        Plan { template, fields }
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
}
