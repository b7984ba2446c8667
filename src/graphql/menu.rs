//! A restaurant's menu, answered in one pass instead of one future per field.
//!
//! A `HomeScreen` page of 20 full menus is about 700 dishes and 5,000 fields, and
//! async-graphql resolves every field of an `#[Object]` through a boxed future of
//! its own, collected by a `FuturesUnordered` into an `IndexMap`: a profile put most
//! of the gateway's CPU per query there. Nothing in a menu waits or fails, so
//! [`Restaurant.menu`](super::restaurant::Restaurant) compiles its selection once
//! into a [`MenuPlan`] (the spec's *CollectFields*: fragments flattened, fields
//! grouped by response key in first-seen order, the sub-selections of a group
//! merged) and [`MenuAnswer`] writes the answer from it with plain loops, straight
//! to JSON: nothing in a menu can fail or be null but the whole, so it needs no
//! `Value` tree of its own (see [`json_answer`] for when it gets one anyway).
//!
//! The `#[Object]` types below define the schema and each field: names,
//! descriptions and introspection come from them, and [`MenuAnswer`] registers as
//! [`Menu`]. The plan is a faster way to the same answer, never a second schema:
//! a selection holding a field it does not know (one added to the types below
//! and not to the plan) makes it decline, and the resolvers answer. The tests at
//! the end select every field the schema has and check that the plan answers
//! them, as the resolvers do.
//!
//! Why flattening every fragment is right for these types: see [`super::plan`].

use std::borrow::Cow;
use std::sync::Arc;

use async_graphql::parser::types::Field;
use async_graphql::registry::Registry;
use async_graphql::{
    Context, ContextSelectionSet, ID, Object, OutputType, Positioned, SelectionField, ServerError, ServerResult, Value,
};

use super::common::Money;
use super::plan::{
    MoneyField, Plan, Plans, RawJson, inner, json_answer, money_field, write_int, write_list, write_money, write_str,
};
use crate::upstream;

/// The fields of the menu's types, as `(type, field)`, that [`MenuPlan`] leaves
/// to the resolvers on purpose: those that need more than the menu (another
/// upstream's answer). A selection holding one is answered by the resolvers.
pub const ANSWERED_BY_RESOLVERS: &[(&str, &str)] = &[];

/// Whether the plan leaves `field` of `type_name` to the resolvers.
fn by_resolvers(type_name: &str, field: &str) -> bool {
    ANSWERED_BY_RESOLVERS.contains(&(type_name, field))
}

/// A restaurant's menu.
pub struct Menu(pub Arc<upstream::Menu>);

/// A restaurant's menu.
#[Object(cache_control(max_age = 60))]
impl Menu {
    /// Sections of the menu, in the order the restaurant shows them.
    async fn categories(&self) -> Vec<MenuCategory<'_>> {
        self.0.categories.iter().map(MenuCategory).collect()
    }
}

/// A section of a menu, e.g. "Starters".
pub struct MenuCategory<'a>(&'a upstream::MenuCategory);

/// A section of a menu, e.g. "Starters".
#[Object]
impl<'a> MenuCategory<'a> {
    /// The section's name.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// The dishes in it.
    async fn items(&self) -> Vec<MenuItem<'a>> {
        self.0.items.iter().map(MenuItem).collect()
    }
}

/// A dish on a menu.
pub struct MenuItem<'a>(&'a upstream::MenuItem);

/// A dish on a menu.
#[Object]
impl MenuItem<'_> {
    /// The dish's id.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// Its name.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// What it is.
    async fn description(&self) -> &str {
        &self.0.description
    }

    /// What one costs.
    async fn price(&self) -> Money {
        Money::from(&self.0.price)
    }

    /// Whether it is vegetarian.
    async fn vegetarian(&self) -> bool {
        self.0.vegetarian
    }
}

/// A menu and the plan of the `menu` field that asked for it: typed as [`Menu`] in
/// the schema, answered by the plan.
pub struct MenuAnswer {
    menu: Arc<upstream::Menu>,
    plan: Arc<Option<MenuPlan>>,
}

impl MenuAnswer {
    /// `menu`, answered as `plan` says, or by the [`Menu`] resolvers when the
    /// selection holds a field the plan does not know.
    pub fn new(menu: Arc<upstream::Menu>, plan: Arc<Option<MenuPlan>>) -> Self {
        Self { menu, plan }
    }
}

impl OutputType for MenuAnswer {
    fn type_name() -> Cow<'static, str> {
        <Menu as OutputType>::type_name()
    }

    fn create_type_info(registry: &mut Registry) -> String {
        <Menu as OutputType>::create_type_info(registry)
    }

    async fn resolve(&self, ctx: &ContextSelectionSet<'_>, field: &Positioned<Field>) -> ServerResult<Value> {
        let Some(plan) = self.plan.as_ref() else {
            return <Menu as OutputType>::resolve(&Menu(self.menu.clone()), ctx, field).await;
        };
        plan.answer(&self.menu)
            .map_err(|error| ServerError::new(format!("the menu could not be serialised: {error}"), Some(field.pos)))
    }
}

/// What a `menu` field asks for, compiled from its selection.
#[derive(Debug)]
pub struct MenuPlan {
    plan: Plan<MenuField>,
    /// Answer with pre-serialised JSON ([`RawJson`]).
    raw: bool,
}

impl MenuPlan {
    /// The plan of the `menu` field that `ctx` resolves, compiled once per request.
    pub fn of(ctx: &Context<'_>) -> Arc<Option<MenuPlan>> {
        Plans::of(ctx, || {
            MenuPlan::compile(ctx.field().selection_set(), RawJson::allowed(ctx))
        })
    }

    /// Compiles `selection`, a `Menu` selection (fragments flattened), for
    /// answers as pre-serialised JSON when `raw`; `None` when it holds a field
    /// the plan does not know (see [`Plan::compile`]).
    pub fn compile<'a>(selection: impl Iterator<Item = SelectionField<'a>>, raw: bool) -> Option<MenuPlan> {
        let plan = Plan::compile(selection, |name, fields| {
            Some(match name {
                _ if by_resolvers("Menu", name) => return None,
                "__typename" => MenuField::Typename,
                "categories" => MenuField::Categories(Plan::compile(inner(fields), category_field)?),
                _ => return None,
            })
        })?;
        Some(MenuPlan { plan, raw })
    }

    /// The answer for `menu` (see [`json_answer`]). Writing JSON into a `Vec`
    /// does not fail; the error is serde_json's signature.
    pub fn answer(&self, menu: &upstream::Menu) -> Result<Value, serde_json::Error> {
        let mut out = Vec::with_capacity(4096);
        self.write(&mut out, menu)?;
        // serde_json and the ASCII written here make UTF-8.
        let json = String::from_utf8(out).map_err(serde::ser::Error::custom)?;
        json_answer(json, self.raw)
    }

    fn write(&self, out: &mut Vec<u8>, menu: &upstream::Menu) -> serde_json::Result<()> {
        self.plan.write_object(out, |out, field| match field {
            MenuField::Typename => write_str(out, &Menu::type_name()),
            MenuField::Categories(plan) => write_list(out, &menu.categories, |out, category| {
                plan.write_object(out, |out, field| write_category(out, field, category))
            }),
        })
    }
}

fn write_category(
    out: &mut Vec<u8>,
    field: &CategoryField,
    category: &upstream::MenuCategory,
) -> serde_json::Result<()> {
    match field {
        CategoryField::Typename => write_str(out, &MenuCategory::type_name()),
        CategoryField::Name => write_str(out, &category.name),
        CategoryField::Items(plan) => write_list(out, &category.items, |out, item| {
            plan.write_object(out, |out, field| write_item(out, field, item))
        }),
    }
}

fn write_item(out: &mut Vec<u8>, field: &ItemField, item: &upstream::MenuItem) -> serde_json::Result<()> {
    match field {
        ItemField::Typename => write_str(out, &MenuItem::type_name())?,
        // `ID` is a string on the wire; digits need no escaping.
        ItemField::Id => {
            out.push(b'"');
            write_int(out, item.id.0);
            out.push(b'"');
        }
        ItemField::Name => write_str(out, &item.name)?,
        ItemField::Description => write_str(out, &item.description)?,
        ItemField::Price(plan) => write_money(out, plan, &item.price)?,
        ItemField::Vegetarian => out.extend_from_slice(if item.vegetarian { b"true" } else { b"false" }),
    }
    Ok(())
}

#[derive(Debug)]
enum MenuField {
    Typename,
    Categories(Plan<CategoryField>),
}

#[derive(Debug)]
enum CategoryField {
    Typename,
    Name,
    Items(Plan<ItemField>),
}

#[derive(Debug)]
enum ItemField {
    Typename,
    Id,
    Name,
    Description,
    Price(Plan<MoneyField>),
    Vegetarian,
}

fn category_field(name: &str, fields: &[SelectionField<'_>]) -> Option<CategoryField> {
    Some(match name {
        _ if by_resolvers("MenuCategory", name) => return None,
        "__typename" => CategoryField::Typename,
        "name" => CategoryField::Name,
        "items" => CategoryField::Items(Plan::compile(inner(fields), item_field)?),
        _ => return None,
    })
}

fn item_field(name: &str, fields: &[SelectionField<'_>]) -> Option<ItemField> {
    Some(match name {
        _ if by_resolvers("MenuItem", name) => return None,
        "__typename" => ItemField::Typename,
        "id" => ItemField::Id,
        "name" => ItemField::Name,
        "description" => ItemField::Description,
        "price" => ItemField::Price(Plan::compile(inner(fields), money_field)?),
        "vegetarian" => ItemField::Vegetarian,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use async_graphql::parser::parse_query;
    use async_graphql::{EmptyMutation, EmptySubscription, Request, Schema, Variables};

    use super::*;
    use crate::upstream::{MenuItemId, RestaurantId};

    /// Answers `reference` with the `#[Object]` resolvers and `planned` with the
    /// plan, on the same menu.
    struct Both(Arc<upstream::Menu>);

    #[Object]
    impl Both {
        async fn reference(&self) -> Menu {
            Menu(self.0.clone())
        }

        async fn planned(&self, ctx: &Context<'_>) -> MenuAnswer {
            MenuAnswer::new(self.0.clone(), MenuPlan::of(ctx))
        }
    }

    fn menu() -> Arc<upstream::Menu> {
        let item = |id: u64, vegetarian| upstream::MenuItem {
            id: MenuItemId(id),
            name: format!("dish {id}"),
            description: format!("about dish {id}"),
            price: upstream::Money {
                amount: 100 * id as i64 + 5,
                currency: "EUR".to_owned(),
            },
            vegetarian,
        };
        Arc::new(upstream::Menu {
            restaurant_id: RestaurantId(7),
            categories: vec![
                upstream::MenuCategory {
                    name: "Starters".to_owned(),
                    items: vec![item(1, true), item(2, false)],
                },
                upstream::MenuCategory {
                    name: "Empty".to_owned(),
                    items: vec![],
                },
                upstream::MenuCategory {
                    name: "Mains".to_owned(),
                    items: vec![item(3, false)],
                },
            ],
        })
    }

    /// Runs `selection` (a `Menu` selection, with `fragments` after the operation)
    /// through both paths and checks they answer alike, the plan both as JSON
    /// (when [`RawJson`] allows it for the document) and as a `Value`; returns
    /// whether it was allowed.
    async fn same(selection: &str, fragments: &str, variables: serde_json::Value) -> bool {
        let schema = Schema::new(Both(menu()), EmptyMutation, EmptySubscription);
        let declared: Vec<&str> = [("$yes", "$yes: Boolean = true"), ("$no", "$no: Boolean = false")]
            .into_iter()
            .filter(|(name, _)| selection.contains(name) || fragments.contains(name))
            .map(|(_, declaration)| declaration)
            .collect();
        let variables_part = if declared.is_empty() {
            String::new()
        } else {
            format!("({})", declared.join(", "))
        };
        let query = |root: &str| format!("query{variables_part} {{ {root} {selection} }} {fragments}");
        // As the endpoint runs it: JSON answers unless the document merges.
        let allowed = RawJson::for_document(&parse_query(query("planned")).unwrap()).0;
        let run = |root: &str, raw: bool| {
            let request = Request::new(query(root))
                .variables(Variables::from_json(variables.clone()))
                .data(RawJson(raw));
            schema.execute(request)
        };
        let reference = run("reference", false).await;
        assert!(reference.errors.is_empty(), "{selection}: {:?}", reference.errors);
        let reference = serde_json::to_string(&reference.data)
            .unwrap()
            .replacen("reference", "root", 1);
        for raw in [allowed, false] {
            let planned = run("planned", raw).await;
            assert!(planned.errors.is_empty(), "{selection}: {:?}", planned.errors);
            let spliced = format!("{:?}", planned.data).contains(async_graphql_value::RAW_VALUE_TOKEN);
            assert_eq!(spliced, raw, "{selection}");
            let planned = serde_json::to_string(&planned.data)
                .unwrap()
                .replacen("planned", "root", 1);
            assert_eq!(planned, reference, "{selection} (raw JSON: {raw})");
        }
        allowed
    }

    #[tokio::test]
    async fn the_plan_answers_as_the_object_resolvers_do() {
        let none = serde_json::json!({});
        for selection in [
            "{ categories { name items { id name description price { amount currency } vegetarian } } }",
            "{ categories { items { price { currency } } } }",
            "{ __typename categories { __typename items { __typename price { __typename } } } }",
            // Aliases, and one field asked twice under different keys.
            "{ c: categories { n: name items { a: id b: id p: price { x: amount } } } }",
            // One key asked twice: the sub-selections merge, in first-seen order.
            "{ categories { items { price { amount } } } categories { name items { id price { currency } } } }",
            "{ categories { items { vegetarian id } items { id name } } }",
            // Inline fragments, with and without a type condition, nested.
            "{ ... on Menu { categories { ... { name } items { ... on MenuItem { id ... { name } } } } } }",
            // Skipped and included fields, by literal and by variable.
            "{ categories { name @skip(if: true) items @include(if: $yes) { id @include(if: $no) name } } }",
            "{ categories { ... @skip(if: $yes) { name } items { ... @include(if: $yes) { id } } } }",
            // Every field skipped: async-graphql answers such an object with null.
            "{ categories { name @skip(if: true) } }",
        ] {
            let allowed = same(selection, "", none.clone()).await;
            // A key asked twice may be merged by async-graphql: no JSON then.
            let twice = selection.contains("} } } categories {") || selection.contains("id } items {");
            assert_eq!(allowed, !twice, "{selection}");
        }
        // Named fragments, spread twice and into one another.
        same(
            "{ ...M categories { ...C } }",
            "fragment M on Menu { categories { ...C name } } \
             fragment C on MenuCategory { items { ...I price { amount } } } \
             fragment I on MenuItem { id price { currency } ...I2 } \
             fragment I2 on MenuItem { vegetarian }",
            none.clone(),
        )
        .await;
        same(
            "{ categories { items { ...I @include(if: $no) name } } }",
            "fragment I on MenuItem { id }",
            serde_json::json!({"no": false}),
        )
        .await;
    }

    #[tokio::test]
    async fn the_plan_knows_every_field_of_the_schema() {
        let everything =
            crate::graphql::shape::Shapes::from_sdl(&crate::graphql::sdl()).select_all("Menu", ANSWERED_BY_RESOLVERS);
        assert!(everything.contains("items { __typename"), "{everything}");
        // Plan and resolvers answer alike, and the plan answers (a field of the
        // schema the plan does not know would make it decline).
        assert!(same(&everything, "", serde_json::json!({})).await);
        let document = parse_query(format!("{{ planned {everything} }}")).unwrap();
        let schema = Schema::new(Both(menu()), EmptyMutation, EmptySubscription);
        let answer = schema
            .execute(Request::new(format!("{{ planned {everything} }}")).data(RawJson(true)))
            .await;
        assert!(RawJson::for_document(&document).0);
        assert!(
            format!("{:?}", answer.data).contains(async_graphql_value::RAW_VALUE_TOKEN),
            "the plan declined a selection of every field: {everything}"
        );
    }

    #[test]
    fn the_schema_sees_a_menu() {
        assert_eq!(MenuAnswer::type_name(), "Menu");
        assert_eq!(Option::<MenuAnswer>::qualified_type_name(), "Menu");
    }
}
