//! Shaping an answer to its operation, once, after execution: the spec's
//! "Handling Execution Errors" and "Response" sections, applied to whatever
//! answered each field (resolvers, plans, spliced JSON).
//!
//! async-graphql 7.2 does not shape answers as the spec says: a field whose
//! resolver fails is left out of its parent object instead of being `null`, an
//! object whose every field failed becomes `null` whatever its type (so a Non-Null
//! parent does not propagate, and a nullable root can turn `data` into `null`),
//! and an object's keys come in the order its fields completed. [`Shapes::shape`]
//! walks the answer with the operation's selections and the schema's types, the
//! way Apollo Router's `Query::format_response` does:
//!
//! - every selected key is present, in the order CollectFields gives (fragments
//!   expanded, `@skip` and `@include` applied, fields grouped by response key);
//! - a missing field is `null`; an object that async-graphql turned into `null`
//!   because all of its fields failed (there are errors below its path) is made
//!   again from its selection, each failed field `null`;
//! - a `null` in a Non-Null position propagates to the nearest nullable ancestor,
//!   through lists, up to `data: null` when every position from the root is
//!   Non-Null ([`OnError::Propagate`]); with [`OnError::Null`] it stays where it
//!   failed; with [`OnError::Halt`] an answer with errors is `data: null` with
//!   the first error only;
//! - at most one error names a path.
//!
//! Nothing here invents a value: a position is either what execution made, or
//! `null` with an error whose path reaches it. Pre-serialised JSON
//! (`plan::json_answer`) is complete by construction (a plan
//! answers only what cannot fail) and is left as it is, and so are the answers of
//! introspection's own fields.

use std::collections::HashMap;
use std::rc::Rc;

use async_graphql::parser::types::{
    BaseType, ExecutableDocument, FragmentDefinition, OperationDefinition, Selection, SelectionSet, Type, TypeKind,
    TypeSystemDefinition,
};
use async_graphql::{Name, PathSegment, Positioned, Response, ServerError, Value, Variables};

use super::plan::{selected_operation, spliced_json};

/// Selections walked at most to group one object's keys: far beyond what the
/// document limits let through; past it, that object is left as execution made it.
const BUDGET: usize = 50_000;

/// The error behaviour a client chose: the `onError` request parameter of the
/// GraphQL spec's error-behaviour proposal (graphql-spec PR 1163).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnError {
    /// A null in a Non-Null position propagates to the nearest nullable ancestor
    /// (the spec's behaviour, and the default).
    #[default]
    Propagate,
    /// An errored position is null where it failed, even in a Non-Null position.
    Null,
    /// An answer with an error is `data: null` with the first error only.
    Halt,
}

impl OnError {
    /// The behaviour a request names (`PROPAGATE`, `NULL`, `HALT`); `None` for any
    /// other value.
    pub fn parse(name: &str) -> Option<OnError> {
        match name {
            "PROPAGATE" => Some(OnError::Propagate),
            "NULL" => Some(OnError::Null),
            "HALT" => Some(OnError::Halt),
            _ => None,
        }
    }
}

/// A map looked up for every object of every answer: foldhash, not SipHash (the
/// keys are the schema's own names, not a client's).
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// The output types of a schema, as the shaping pass needs them: for each object
/// type, the type of each field.
#[derive(Debug)]
pub struct Shapes {
    objects: FastMap<String, FastMap<String, Type>>,
    query: String,
    mutation: Option<String>,
    subscription: Option<String>,
    typename: Type,
}

impl Shapes {
    /// Reads the object types of `sdl`, a schema as async-graphql prints it.
    ///
    /// # Panics
    /// If `sdl` does not parse: it is the schema's own, so that is a bug.
    pub fn from_sdl(sdl: &str) -> Shapes {
        let document = async_graphql::parser::parse_schema(sdl).expect("the schema's own SDL parses");
        let mut shapes = Shapes {
            objects: FastMap::default(),
            query: "Query".to_owned(),
            mutation: None,
            subscription: None,
            typename: Type::new("String!").expect("a type"),
        };
        for definition in document.definitions {
            match definition {
                TypeSystemDefinition::Schema(schema) => {
                    let schema = schema.node;
                    if let Some(query) = schema.query {
                        shapes.query = query.node.to_string();
                    }
                    shapes.mutation = schema.mutation.map(|name| name.node.to_string());
                    shapes.subscription = schema.subscription.map(|name| name.node.to_string());
                }
                TypeSystemDefinition::Type(ty) => {
                    if let TypeKind::Object(object) = ty.node.kind {
                        let fields = object
                            .fields
                            .into_iter()
                            .map(|field| (field.node.name.node.to_string(), field.node.ty.node))
                            .collect();
                        shapes.objects.insert(ty.node.name.node.to_string(), fields);
                    }
                }
                TypeSystemDefinition::Directive(_) => {}
            }
        }
        shapes
    }

    /// Shapes `response`, the answer to the operation `operation_name` of
    /// `document` run with `variables`, as `on_error` asks. A request error (no
    /// data, errors without a path: the operation did not run) is left as it is.
    pub fn shape(
        &self,
        response: &mut Response,
        document: &ExecutableDocument,
        operation_name: Option<&str>,
        variables: &Variables,
        on_error: OnError,
    ) {
        let request_error = response.data == Value::Null
            && !response.errors.is_empty()
            && response.errors.iter().all(|e| e.path.is_empty());
        let Some(operation) = selected_operation(document, operation_name) else {
            return;
        };
        if request_error {
            return;
        }
        let operation = &operation.node;
        let root = match operation.ty {
            async_graphql::parser::types::OperationType::Query => Some(&self.query),
            async_graphql::parser::types::OperationType::Mutation => self.mutation.as_ref(),
            async_graphql::parser::types::OperationType::Subscription => self.subscription.as_ref(),
        };
        let Some(root) = root else { return };
        dedup_paths(&mut response.errors);
        if on_error == OnError::Halt && !response.errors.is_empty() {
            response.data = Value::Null;
            response.errors.truncate(1);
            return;
        }
        let mut walk = Walk {
            shapes: self,
            fragments: &document.fragments,
            operation,
            variables,
            errors: &response.errors,
            propagate: on_error == OnError::Propagate,
            path: Vec::new(),
            memo: HashMap::default(),
        };
        // The root is an object even when no field of it could be made.
        if response.data == Value::Null {
            response.data = Value::Object(Default::default());
        }
        let root_type = Type {
            base: BaseType::Named(Name::new(root)),
            nullable: true,
        };
        walk.complete(&mut response.data, &root_type, &[&operation.selection_set.node]);
    }
}

impl Shapes {
    /// A selection set of every field of `type_name` and, below them, of every
    /// field of the object types they reach (arguments left out; a type already
    /// on the way down is not entered again; the `(type, field)` pairs of `skip`
    /// left out): what a test selects to prove that a fast path knows every
    /// field of the schema.
    #[cfg(test)]
    pub(crate) fn select_all(&self, type_name: &str, skip: &[(&str, &str)]) -> String {
        fn named(ty: &Type) -> &str {
            match &ty.base {
                BaseType::Named(name) => name.as_str(),
                BaseType::List(item) => named(item),
            }
        }
        fn walk(shapes: &Shapes, type_name: &str, skip: &[(&str, &str)], path: &mut Vec<String>, out: &mut String) {
            let mut fields: Vec<(&String, &Type)> = shapes.objects[type_name]
                .iter()
                .filter(|(name, _)| !skip.contains(&(type_name, name.as_str())))
                .collect();
            fields.sort_by_key(|(name, _)| name.as_str());
            out.push_str("{ __typename");
            path.push(type_name.to_owned());
            for (name, ty) in fields {
                let inner = named(ty);
                match shapes.objects.contains_key(inner) {
                    false => {
                        out.push(' ');
                        out.push_str(name);
                    }
                    true if path.iter().any(|p| p == inner) => {}
                    true => {
                        out.push(' ');
                        out.push_str(name);
                        out.push(' ');
                        walk(shapes, inner, skip, path, out);
                    }
                }
            }
            path.pop();
            out.push_str(" }");
        }
        let mut out = String::new();
        walk(self, type_name, skip, &mut Vec::new(), &mut out);
        out
    }
}

/// Adds to `variables` the default value of each variable of `operation` that
/// the request left out: async-graphql applies `@skip(if: $v)` and
/// `@include(if: $v)` with the request's variables only (a missing one counts as
/// `false`), where the spec takes the variable's default.
pub fn with_defaults(variables: &mut Variables, operation: &OperationDefinition) {
    for definition in &operation.variable_definitions {
        let definition = &definition.node;
        if let Some(default) = &definition.default_value
            && !variables.contains_key(&definition.name.node)
        {
            variables.insert(definition.name.node.clone(), default.node.clone());
        }
    }
}

/// Keeps the first error of each path: a failed position has exactly one error.
fn dedup_paths(errors: &mut Vec<ServerError>) {
    if errors.len() < 2 {
        return;
    }
    let mut seen: Vec<Vec<PathSegment>> = Vec::new();
    errors.retain(|error| {
        if error.path.is_empty() || seen.contains(&error.path) {
            return error.path.is_empty();
        }
        seen.push(error.path.clone());
        true
    });
}

/// A step of the path to the position being shaped.
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// The fields of one response key in an object's selection (CollectFields).
struct Group<'a> {
    key: &'a str,
    /// The field's type; `None` for introspection's own fields (`__schema`,
    /// `__type`), whose answers are left as they are.
    ty: Option<&'a Type>,
    sets: Vec<&'a SelectionSet>,
}

struct Walk<'a> {
    shapes: &'a Shapes,
    fragments: &'a HashMap<Name, Positioned<FragmentDefinition>>,
    operation: &'a OperationDefinition,
    variables: &'a Variables,
    errors: &'a [ServerError],
    propagate: bool,
    path: Vec<Step<'a>>,
    /// Each object type's grouped selection, under the selection sets it groups
    /// (by address: a field's sets live in its parent's groups, shared by every
    /// object at that position, so twenty restaurants of a page group once).
    memo: HashMap<(usize, usize), Option<Rc<[Group<'a>]>>, foldhash::fast::RandomState>,
}

impl<'a> Walk<'a> {
    /// Shapes `value`, at a position of type `ty` selected by `sets`; `false` when
    /// it ends up null in a Non-Null position (and the caller must be nulled).
    fn complete(&mut self, value: &mut Value, ty: &Type, sets: &[&'a SelectionSet]) -> bool {
        if matches!(value, Value::Null) {
            let object = matches!(&ty.base, BaseType::Named(name) if self.shapes.objects.contains_key(name.as_str()));
            if !(object && self.errors_below()) {
                return ty.nullable || !self.propagate;
            }
            // All of its fields failed: async-graphql made it null; make it again.
            *value = Value::Object(Default::default());
        }
        if spliced_json(value).is_some() {
            return true;
        }
        let completed = match (&ty.base, &mut *value) {
            (BaseType::List(item), Value::List(items)) => {
                let mut completed = true;
                for (index, one) in items.iter_mut().enumerate() {
                    self.path.push(Step::Index(index));
                    completed &= self.complete(one, item, sets);
                    self.path.pop();
                    if !completed && self.propagate {
                        break;
                    }
                }
                completed
            }
            (BaseType::Named(name), Value::Object(map)) => match self.shapes.objects.get(name.as_str()) {
                None => true,
                Some(fields) => {
                    let key = (sets.as_ptr().addr(), name.as_str().as_ptr().addr());
                    let groups = match self.memo.get(&key) {
                        Some(groups) => groups.clone(),
                        None => {
                            let groups = self.groups(name.as_str(), fields, sets);
                            self.memo.insert(key, groups.clone());
                            groups
                        }
                    };
                    match groups {
                        None => true,
                        Some(groups) => self.complete_object(map, &groups),
                    }
                }
            },
            // Leaves, and anything execution made that the schema does not describe.
            _ => true,
        };
        if completed {
            return true;
        }
        *value = Value::Null;
        ty.nullable
    }

    /// Completes each field of `map` as `groups` select them; `false` when one is
    /// null in a Non-Null position.
    fn complete_object(
        &mut self,
        map: &mut async_graphql::indexmap::IndexMap<Name, Value>,
        groups: &[Group<'a>],
    ) -> bool {
        let mut in_order = true;
        // Where the next key is, when the object is in order (plans and most
        // resolvers make it so): found by position, without hashing the key.
        let mut next = 0;
        for group in groups {
            let Some(ty) = group.ty else { continue };
            self.path.push(Step::Key(group.key));
            let found = match map.get_index(next) {
                Some((key, _)) if key.as_str() == group.key => Some(next),
                _ => map.get_index_of(group.key),
            };
            let child = match found {
                Some(index) => {
                    in_order &= index == next;
                    next = index + 1;
                    Some(&mut map[index])
                }
                // A field that failed. Without an error at or below it, the
                // executor did not select it at all: nothing to put there.
                None if self.errors_at_or_below() => {
                    in_order = false;
                    Some(map.entry(Name::new(group.key)).or_insert(Value::Null))
                }
                None => None,
            };
            let completed = child.is_none_or(|child| self.complete(child, ty, &group.sets));
            self.path.pop();
            if !completed {
                return false;
            }
        }
        if !in_order {
            let position = |key: &str| groups.iter().position(|g| g.key == key).unwrap_or(usize::MAX);
            map.sort_by_cached_key(|key, _| position(key));
        }
        true
    }

    /// Whether an error names a position below the current one.
    fn errors_below(&self) -> bool {
        self.errors_under(self.path.len() + 1)
    }

    /// Whether an error names the current position or one below it.
    fn errors_at_or_below(&self) -> bool {
        self.errors_under(self.path.len())
    }

    /// Whether an error's path, at least `depth` long, starts with the current one.
    fn errors_under(&self, depth: usize) -> bool {
        self.errors.iter().any(|error| {
            error.path.len() >= depth
                && error
                    .path
                    .iter()
                    .zip(&self.path)
                    .all(|(segment, step)| match (segment, step) {
                        (PathSegment::Field(a), Step::Key(b)) => a == b,
                        (PathSegment::Index(a), Step::Index(b)) => a == b,
                        _ => false,
                    })
        })
    }

    /// The response keys that `sets` select on an object of type `type_name`
    /// (whose fields are `fields`), in order, each with its type and its merged
    /// sub-selections; `None` past the budget.
    fn groups(
        &self,
        type_name: &str,
        fields: &'a FastMap<String, Type>,
        sets: &[&'a SelectionSet],
    ) -> Option<Rc<[Group<'a>]>> {
        let mut groups: Vec<Group<'a>> = Vec::new();
        let mut budget = BUDGET;
        for set in sets {
            if !self.collect(type_name, fields, set, &mut groups, &mut budget, 0) {
                return None;
            }
        }
        Some(groups.into())
    }

    /// CollectFields: the fields of `set` that apply to `type_name`, into `groups`;
    /// `false` past the budget or too deep in fragments (a cycle, which validation
    /// refuses anyway).
    fn collect(
        &self,
        type_name: &str,
        fields: &'a FastMap<String, Type>,
        set: &'a SelectionSet,
        groups: &mut Vec<Group<'a>>,
        budget: &mut usize,
        depth: usize,
    ) -> bool {
        for selection in &set.items {
            if *budget == 0 || depth > 64 {
                return false;
            }
            *budget -= 1;
            if self.skipped(&selection.node) {
                continue;
            }
            let (condition, inner) = match &selection.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    let key = field.response_key().node.as_str();
                    let inner = &field.selection_set.node;
                    match groups.iter_mut().find(|group| group.key == key) {
                        Some(group) => group.sets.push(inner),
                        None => groups.push(Group {
                            key,
                            ty: match field.name.node.as_str() {
                                "__typename" => Some(&self.shapes.typename),
                                name => fields.get(name),
                            },
                            sets: vec![inner],
                        }),
                    }
                    continue;
                }
                Selection::InlineFragment(fragment) => (
                    fragment.node.type_condition.as_ref().map(|c| c.node.on.node.as_str()),
                    &fragment.node.selection_set.node,
                ),
                // An unknown fragment is refused by validation before execution.
                Selection::FragmentSpread(spread) => match self.fragments.get(&spread.node.fragment_name.node) {
                    Some(fragment) => (
                        Some(fragment.node.type_condition.node.on.node.as_str()),
                        &fragment.node.selection_set.node,
                    ),
                    None => continue,
                },
            };
            // Every type of this schema that a fragment can name is an object type.
            if condition.is_some_and(|on| on != type_name) {
                continue;
            }
            if !self.collect(type_name, fields, inner, groups, budget, depth + 1) {
                return false;
            }
        }
        true
    }

    /// Whether `@skip` or `@include` leaves `selection` out.
    fn skipped(&self, selection: &Selection) -> bool {
        let directives = match selection {
            Selection::Field(field) => &field.node.directives,
            Selection::InlineFragment(fragment) => &fragment.node.directives,
            Selection::FragmentSpread(spread) => &spread.node.directives,
        };
        directives.iter().any(|directive| {
            let skip = match directive.node.name.node.as_str() {
                "skip" => true,
                "include" => false,
                _ => return false,
            };
            let condition = directive
                .node
                .get_argument("if")
                .is_some_and(|value| self.truth(&value.node));
            condition == skip
        })
    }

    /// The value of a directive's `if` argument.
    fn truth(&self, value: &async_graphql_value::Value) -> bool {
        match value {
            async_graphql_value::Value::Boolean(b) => *b,
            async_graphql_value::Value::Variable(name) => {
                let default = || {
                    self.operation
                        .variable_definitions
                        .iter()
                        .find(|definition| definition.node.name.node == *name)
                        .and_then(|definition| definition.node.default_value.as_ref())
                        .map(|value| &value.node)
                };
                matches!(self.variables.get(name).or_else(default), Some(Value::Boolean(true)))
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests;
