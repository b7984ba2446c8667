//! The restaurants of a list, answered from a plan when everything they are asked
//! for is at hand.
//!
//! After [`Restaurant::load_all`] every field of a page's restaurants is known, yet
//! async-graphql still resolved each one through a boxed future of its own: for
//! `Nearby` (20 restaurants, no menus) that execution was about a third of the
//! gateway's instructions. [`RestaurantAnswer`] compiles the `node` selection once
//! ([`RestaurantPlan`], see [`super::super::plan`]) and builds the restaurant with
//! loops, **but only when it can do so exactly**: every field asked for is one
//! the plan knows, was fetched and succeeded, and no field has arguments. Otherwise (a failed service, whose
//! error must be reported with its path; `deliveryEstimate(to:)`; a restaurant not
//! loaded with its page) it hands over to the `#[Object]` resolvers, which are
//! also the reference the plan is tested against.

use std::borrow::Cow;
use std::sync::Arc;

use async_graphql::parser::types::Field;
use async_graphql::registry::Registry;
use async_graphql::{
    Context, ContextSelectionSet, OutputType, Positioned, ScalarType, SelectionField, ServerResult, Value,
};

use super::super::common::GeoPoint;
use super::super::menu::MenuPlan;
use super::super::plan::{MoneyField, Plan, Plans, RawJson, inner, money, money_field, typename};
use super::{DeliveryEstimate, Fetched, PostalAddress, Promotion, Rating, Restaurant};

/// A restaurant of a list, typed as `Restaurant` in the schema.
pub struct RestaurantAnswer<'a> {
    restaurant: &'a Restaurant,
    plan: Arc<Option<RestaurantPlan>>,
}

impl<'a> RestaurantAnswer<'a> {
    /// `restaurant`, answered for the `node` field that `ctx` resolves.
    pub fn new(restaurant: &'a Restaurant, ctx: &Context<'_>) -> Self {
        Self {
            restaurant,
            plan: Plans::of(ctx, || {
                RestaurantPlan::compile(ctx.field().selection_set(), RawJson::allowed(ctx))
            }),
        }
    }
}

impl OutputType for RestaurantAnswer<'_> {
    fn type_name() -> Cow<'static, str> {
        <Restaurant as OutputType>::type_name()
    }

    fn create_type_info(registry: &mut Registry) -> String {
        <Restaurant as OutputType>::create_type_info(registry)
    }

    async fn resolve(&self, ctx: &ContextSelectionSet<'_>, field: &Positioned<Field>) -> ServerResult<Value> {
        if let Some(answer) = self
            .plan
            .as_ref()
            .as_ref()
            .and_then(|plan| plan.answer(self.restaurant))
        {
            #[cfg(test)]
            tests::PLANNED.with(|n| n.set(n.get() + 1));
            return Ok(answer);
        }
        <Restaurant as OutputType>::resolve(self.restaurant, ctx, field).await
    }
}

/// What a `Restaurant` selection asks for; `None` from [`RestaurantPlan::compile`]
/// when a field has arguments or is one the plan does not know.
pub struct RestaurantPlan(Plan<RestaurantField>);

enum RestaurantField {
    Typename,
    Id,
    Name,
    Cuisines,
    PriceLevel,
    Address(Plan<AddressField>),
    Location(Plan<PointField>),
    ImageUrl,
    Rating(Plan<RatingField>),
    Menu(MenuPlan),
    DeliveryEstimate(Plan<EstimateField>),
    DeliveryFee(Plan<MoneyField>),
    MinimumOrder(Plan<MoneyField>),
    IsOpen,
    NextStatusChangeAt,
    Promotions(Plan<PromotionField>),
}

enum AddressField {
    Typename,
    Street,
    City,
    Postcode,
}

enum PointField {
    Typename,
    Lat,
    Lng,
}

enum RatingField {
    Typename,
    Average,
    Count,
}

enum EstimateField {
    Typename,
    Minutes,
    DistanceMeters,
}

enum PromotionField {
    Typename,
    Id,
    Title,
    DiscountPercent,
}

impl RestaurantPlan {
    /// Compiles `selection`, a `Restaurant` selection (fragments flattened); its
    /// menu answers with pre-serialised JSON when `raw` ([`RawJson`]).
    fn compile<'a>(selection: impl Iterator<Item = SelectionField<'a>>, raw: bool) -> Option<RestaurantPlan> {
        Plan::compile(selection, |name, fields| {
            Some(match name {
                "__typename" => RestaurantField::Typename,
                "id" => RestaurantField::Id,
                "name" => RestaurantField::Name,
                "cuisines" => RestaurantField::Cuisines,
                "priceLevel" => RestaurantField::PriceLevel,
                "address" => RestaurantField::Address(Plan::compile(inner(fields), |name, _| {
                    Some(match name {
                        "__typename" => AddressField::Typename,
                        "street" => AddressField::Street,
                        "city" => AddressField::City,
                        "postcode" => AddressField::Postcode,
                        _ => return None,
                    })
                })?),
                "location" => RestaurantField::Location(Plan::compile(inner(fields), |name, _| {
                    Some(match name {
                        "__typename" => PointField::Typename,
                        "lat" => PointField::Lat,
                        "lng" => PointField::Lng,
                        _ => return None,
                    })
                })?),
                "imageUrl" => RestaurantField::ImageUrl,
                "rating" => RestaurantField::Rating(Plan::compile(inner(fields), |name, _| {
                    Some(match name {
                        "__typename" => RatingField::Typename,
                        "average" => RatingField::Average,
                        "count" => RatingField::Count,
                        _ => return None,
                    })
                })?),
                "menu" => RestaurantField::Menu(MenuPlan::compile(inner(fields), raw)?),
                "deliveryEstimate" => RestaurantField::DeliveryEstimate(Plan::compile(inner(fields), |name, _| {
                    Some(match name {
                        "__typename" => EstimateField::Typename,
                        "minutes" => EstimateField::Minutes,
                        "distanceMeters" => EstimateField::DistanceMeters,
                        _ => return None,
                    })
                })?),
                "deliveryFee" => RestaurantField::DeliveryFee(Plan::compile(inner(fields), money_field)?),
                "minimumOrder" => RestaurantField::MinimumOrder(Plan::compile(inner(fields), money_field)?),
                "isOpen" => RestaurantField::IsOpen,
                "nextStatusChangeAt" => RestaurantField::NextStatusChangeAt,
                "promotions" => RestaurantField::Promotions(Plan::compile(inner(fields), |name, _| {
                    Some(match name {
                        "__typename" => PromotionField::Typename,
                        "id" => PromotionField::Id,
                        "title" => PromotionField::Title,
                        "discountPercent" => PromotionField::DiscountPercent,
                        _ => return None,
                    })
                })?),
                _ => return None,
            })
        })
        .map(RestaurantPlan)
    }

    /// The answer for `r`, or `None` when a field asked for is not at hand or its
    /// service failed (the resolvers answer then).
    fn answer(&self, r: &Restaurant) -> Option<Value> {
        let record = &r.record;
        let known = &r.known;
        self.0.try_object(|field| {
            Some(match field {
                RestaurantField::Typename => typename::<Restaurant>(),
                RestaurantField::Id => Value::String(record.id.to_string()),
                RestaurantField::Name => Value::String(record.name.clone()),
                RestaurantField::Cuisines => {
                    Value::List(record.cuisines.iter().map(|c| Value::String(c.clone())).collect())
                }
                RestaurantField::PriceLevel => record.price_level.to_value(),
                RestaurantField::Address(plan) => plan.object(|field| match field {
                    AddressField::Typename => typename::<PostalAddress>(),
                    AddressField::Street => Value::String(record.address.street.clone()),
                    AddressField::City => Value::String(record.address.city.clone()),
                    AddressField::Postcode => Value::String(record.address.postcode.clone()),
                }),
                RestaurantField::Location(plan) => plan.object(|field| match field {
                    PointField::Typename => typename::<GeoPoint>(),
                    PointField::Lat => record.location.lat.to_value(),
                    PointField::Lng => record.location.lng.to_value(),
                }),
                RestaurantField::ImageUrl => Value::String(record.image_url.clone()),
                RestaurantField::Rating(plan) => match at_hand(&known.rating, true)? {
                    None => Value::Null,
                    Some(rating) => plan.object(|field| match field {
                        RatingField::Typename => typename::<Rating>(),
                        RatingField::Average => rating.average.to_value(),
                        RatingField::Count => rating.count.to_value(),
                    }),
                },
                RestaurantField::Menu(plan) => match at_hand(&known.menu, true)? {
                    None => Value::Null,
                    Some(menu) => plan.answer(menu).ok()?,
                },
                RestaurantField::DeliveryEstimate(plan) => match at_hand(&known.estimate, r.to.is_some())? {
                    None => Value::Null,
                    Some(estimate) => plan.object(|field| match field {
                        EstimateField::Typename => typename::<DeliveryEstimate>(),
                        EstimateField::Minutes => estimate.minutes.to_value(),
                        EstimateField::DistanceMeters => estimate.distance_meters.to_value(),
                    }),
                },
                RestaurantField::DeliveryFee(plan) | RestaurantField::MinimumOrder(plan) => {
                    match at_hand(&known.fees, r.area.is_some())? {
                        None => Value::Null,
                        Some(fees) if matches!(field, RestaurantField::DeliveryFee(_)) => {
                            money(plan, &fees.delivery_fee)
                        }
                        Some(fees) => money(plan, &fees.minimum_order),
                    }
                }
                RestaurantField::IsOpen => match at_hand(&known.availability, true)? {
                    None => Value::Null,
                    Some(availability) => Value::Boolean(availability.open),
                },
                RestaurantField::NextStatusChangeAt => match at_hand(&known.availability, true)? {
                    Some(availability) => availability.next_change_at.map_or(Value::Null, |at| at.to_value()),
                    None => Value::Null,
                },
                RestaurantField::Promotions(plan) => match at_hand(&known.promotions, true)? {
                    None => Value::Null,
                    Some(list) => Value::List(
                        list.iter()
                            .map(|promotion| {
                                plan.object(|field| match field {
                                    PromotionField::Typename => typename::<Promotion>(),
                                    PromotionField::Id => Value::String(promotion.id.to_string()),
                                    PromotionField::Title => Value::String(promotion.title.clone()),
                                    PromotionField::DiscountPercent => promotion.discount_percent.to_value(),
                                })
                            })
                            .collect(),
                    ),
                },
            })
        })
    }
}

/// A field's answer as the plan may use it: `Some(Some(value))`; `Some(None)`,
/// null, when its service has none for the restaurant or there was nothing to ask
/// (`askable` false: no list location for an estimate, no area for fees, as the
/// resolvers answer too); `None` when it is not at hand (not fetched with the
/// page, or its service failed), and the resolvers answer the restaurant instead.
fn at_hand<V>(fetched: &Option<Fetched<V>>, askable: bool) -> Option<Option<&V>> {
    match fetched {
        None if !askable => Some(None),
        None => None,
        Some(found) => found.as_ref().ok().map(Option::as_ref),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use async_graphql::{EmptyMutation, EmptySubscription, Object, Request, Schema};

    use super::super::Known;
    use super::*;

    thread_local! {
        /// How many restaurants this thread's tests answered from a plan.
        pub(super) static PLANNED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }
    use crate::upstream::{self, AreaId, ErrorKind, Location, MenuItemId, PromotionId, RestaurantId, Service};

    /// Answers `objects` with the `#[Object]` resolvers and `planned` through
    /// [`RestaurantAnswer`], for the same restaurant (names of one length, so that
    /// error locations compare).
    struct Both(Restaurant);

    #[Object]
    impl Both {
        async fn objects(&self) -> &Restaurant {
            &self.0
        }

        async fn planned(&self, ctx: &Context<'_>) -> RestaurantAnswer<'_> {
            RestaurantAnswer::new(&self.0, ctx)
        }
    }

    fn restaurant(known: Known, to: Option<Location>, area: Option<AreaId>) -> Restaurant {
        let record = upstream::Restaurant {
            id: RestaurantId(17),
            name: "Trattoria \"Due\"".to_owned(),
            cuisines: vec!["italian".to_owned(), "pizza".to_owned()],
            price_level: 2,
            address: upstream::PostalAddress {
                street: "Lindenallee 5".to_owned(),
                city: "Berlin".to_owned(),
                postcode: "10115".to_owned(),
            },
            location: Location { lat: 52.5, lng: 13.4 },
            image_url: "https://img.example/17.jpg".to_owned(),
        };
        Restaurant {
            record: Arc::new(record),
            to,
            area,
            known,
        }
    }

    fn money(amount: i64) -> upstream::Money {
        upstream::Money {
            amount,
            currency: "EUR".to_owned(),
        }
    }

    fn all_known() -> Known {
        let id = RestaurantId(17);
        Known {
            menu: Some(Ok(Some(Arc::new(upstream::Menu {
                restaurant_id: id,
                categories: vec![upstream::MenuCategory {
                    name: "Pizza".to_owned(),
                    items: vec![upstream::MenuItem {
                        id: MenuItemId(3),
                        name: "Margherita".to_owned(),
                        description: "Tomato, mozzarella".to_owned(),
                        price: money(950),
                        vegetarian: true,
                    }],
                }],
            })))),
            rating: Some(Ok(Some(upstream::Rating {
                restaurant_id: id,
                average: 4.25,
                count: 118,
            }))),
            availability: Some(Ok(Some(upstream::Availability {
                restaurant_id: id,
                open: true,
                next_change_at: Some(time::macros::datetime!(2026-11-27 22:00 UTC)),
            }))),
            promotions: Some(Ok(Some(Arc::from(vec![upstream::Promotion {
                id: PromotionId(5),
                title: "20% off pizza".to_owned(),
                discount_percent: 20,
            }])))),
            estimate: Some(Ok(Some(upstream::Estimate {
                restaurant_id: id,
                minutes: 25,
                distance_meters: 1800,
            }))),
            fees: Some(Ok(Some(upstream::Fees {
                restaurant_id: id,
                delivery_fee: money(199),
                minimum_order: money(1500),
            }))),
        }
    }

    const EVERYTHING: &str = "{ __typename id name cuisines priceLevel imageUrl \
        address { __typename street city postcode } location { __typename lat lng } \
        rating { __typename average count } deliveryEstimate { __typename minutes distanceMeters } \
        deliveryFee { __typename amount currency } minimumOrder { amount currency } \
        isOpen nextStatusChangeAt promotions { __typename id title discountPercent } \
        menu { __typename categories { name items { id name description price { amount currency } vegetarian } } } }";

    /// Runs `selection` through both paths and checks that they answer alike,
    /// errors included; returns the answer and whether the plan answered.
    async fn same(r: Restaurant, selection: &str, fragments: &str) -> (serde_json::Value, bool) {
        let schema = Schema::new(Both(r), EmptyMutation, EmptySubscription);
        let query = |root: &str| format!("{{ {root} {selection} }} {fragments}");
        let run = |root: &'static str, raw: bool| schema.execute(Request::new(query(root)).data(RawJson(raw)));
        let reference = serde_json::to_value(run("objects", false).await).unwrap();
        let text = |v: &serde_json::Value, root: &str| v.to_string().replace(root, "root");
        // As the endpoint runs it (menus as JSON unless the document merges), and with `Value`s only.
        let allowed = RawJson::for_document(&async_graphql::parser::parse_query(query("planned")).unwrap()).0;
        let mut from_plan = true;
        for raw in [allowed, false] {
            let before = PLANNED.with(std::cell::Cell::get);
            let planned = serde_json::to_value(run("planned", raw).await).unwrap();
            from_plan &= PLANNED.with(std::cell::Cell::get) > before;
            assert_eq!(
                text(&planned, "planned"),
                text(&reference, "objects"),
                "{selection} (raw JSON: {raw})"
            );
        }
        (reference, from_plan)
    }

    #[tokio::test]
    async fn the_plan_answers_as_the_resolvers_do() {
        let to = Some(Location {
            lat: 52.52,
            lng: 13.405,
        });
        let area = Some(AreaId("B-3".to_owned()));
        for selection in [
            EVERYTHING,
            "{ a: id b: id n: name r: rating { c: count } r2: rating { average } }",
            "{ rating { count } rating { average count } menu { categories { name } } menu { categories { items { id } } } }",
            "{ ... on Restaurant { id ... { name } } ...R }",
            "{ id @skip(if: true) name @include(if: true) rating @skip(if: true) { count } }",
            "{ deliveryFee { amount } minimumOrder { currency } }",
        ] {
            let fragments = if selection.contains("...R") {
                "fragment R on Restaurant { cuisines }"
            } else {
                ""
            };
            let (answer, from_plan) = same(restaurant(all_known(), to, area.clone()), selection, fragments).await;
            assert!(answer.get("errors").is_none(), "{answer}");
            assert!(from_plan, "the plan did not answer {selection}");
        }
    }

    /// Every field of `Restaurant` in the schema, and of every type below it.
    fn every_field() -> String {
        crate::graphql::shape::Shapes::from_sdl(&crate::graphql::sdl())
            .select_all("Restaurant", crate::graphql::menu::ANSWERED_BY_RESOLVERS)
    }

    #[tokio::test]
    async fn the_plan_knows_every_field_of_the_schema_and_answers_each_as_the_resolvers_do() {
        let everything = every_field();
        assert!(everything.contains("menu { __typename categories"), "{everything}");
        let to = Some(Location {
            lat: 52.52,
            lng: 13.405,
        });
        let (answer, from_plan) = same(
            restaurant(all_known(), to, Some(AreaId("B-3".to_owned()))),
            &everything,
            "",
        )
        .await;
        assert!(answer.get("errors").is_none(), "{answer}");
        // A field added to `impl Restaurant` (or a type below it) and not to the
        // plan makes the plan decline: this fails until the plan learns it.
        assert!(from_plan, "the plan declined a selection of every field: {everything}");
    }

    #[tokio::test]
    async fn what_is_absent_is_null_and_what_failed_is_reported_by_the_resolvers() {
        // Nothing to estimate or price without the list's location and area; a
        // restaurant without rating, menu, availability or promotions.
        let empty = Known {
            menu: Some(Ok(None)),
            rating: Some(Ok(None)),
            availability: Some(Ok(None)),
            promotions: Some(Ok(None)),
            estimate: None,
            fees: None,
        };
        let (answer, from_plan) = same(restaurant(empty, None, None), EVERYTHING, "").await;
        assert!(from_plan);
        assert_eq!(answer["data"]["objects"]["rating"], serde_json::Value::Null);
        assert_eq!(answer["data"]["objects"]["deliveryFee"], serde_json::Value::Null);

        // A failed service: the plan hands over, and the error keeps its path.
        let failed = Known {
            rating: Some(Err(upstream::UpstreamError::new(
                Service::Ratings,
                "/ratings",
                ErrorKind::Connect("refused".into()),
            ))),
            ..all_known()
        };
        let to = Some(Location {
            lat: 52.52,
            lng: 13.405,
        });
        let (answer, from_plan) = same(restaurant(failed, to, Some(AreaId("B-3".to_owned()))), EVERYTHING, "").await;
        assert!(!from_plan, "a failed field must be left to the resolvers");
        assert_eq!(answer["errors"][0]["path"], serde_json::json!(["objects", "rating"]));
    }
}
