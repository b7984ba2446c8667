//! The GraphQL schema: types, resolvers and the per-request DataLoader.
//!
//! Resolvers never build a URL or touch HTTP: they ask [`crate::upstream`] through
//! the request's [`RequestScope`]. Every list of restaurants loads through the
//! DataLoader, so each upstream is called once per wave, whatever the page size.

mod common;
pub mod error;
mod listing;
pub mod loaders;
mod menu;
mod mutation;
mod order;
mod plan;
mod query;
mod response_json;
mod restaurant;
pub mod scope;
pub mod shape;
mod subscription;
mod user;

use async_graphql::Schema;
use async_graphql::parser::types::ExecutableDocument;

pub use mutation::Mutation;
pub use plan::selected_operation;
pub use query::Query;
pub use response_json::response_json;
pub use scope::{Limits, RequestScope};
pub use shape::OnError;
pub use subscription::{Polls, Subscription};

/// The gateway's schema.
pub type GatewaySchema = Schema<Query, Mutation, Subscription>;

/// Options the schema is built with.
#[derive(Debug, Clone, Copy)]
pub struct SchemaOptions {
    /// Answer introspection queries (the server may still refuse them per request).
    pub introspection: bool,
    /// Offer "did you mean" suggestions in validation errors (they leak the
    /// schema: off in production).
    pub suggestions: bool,
}

/// Builds the schema. Per-request state goes on each request, not here.
pub fn build_schema(options: SchemaOptions) -> GatewaySchema {
    let mut builder = Schema::build(Query, Mutation, Subscription);
    if !options.introspection {
        builder = builder.disable_introspection();
    }
    if !options.suggestions {
        builder = builder.disable_suggestions();
    }
    builder.finish()
}

/// The GraphQL layer as the server calls it: the schema, and what shapes its
/// answers as the spec says. The server calls [`Executor::execute`] once per
/// operation; everything between the parsed document and the answer (variable
/// defaults, where a plan may answer with pre-serialised JSON, the shaping
/// pass) happens behind it.
pub struct Executor {
    schema: GatewaySchema,
    shapes: std::sync::Arc<shape::Shapes>,
}

impl Executor {
    /// The schema built with `options`, and its shapes.
    pub fn new(options: SchemaOptions) -> Executor {
        let schema = build_schema(options);
        let shapes = std::sync::Arc::new(shape::Shapes::from_sdl(&schema.sdl()));
        Executor { schema, shapes }
    }

    /// The schema's SDL.
    pub fn sdl(&self) -> String {
        self.schema.sdl()
    }

    /// Executes `request`, whose query the server has parsed into `document` and
    /// checked, with `scope` (the request's upstreams, viewer and loaders), and
    /// shapes the answer as the spec's execution-error rules and `on_error` say.
    pub async fn execute(
        &self,
        request: async_graphql::Request,
        document: &Document,
        scope: RequestScope,
        on_error: OnError,
    ) -> async_graphql::Response {
        let (request, variables) = prepare(request, document, scope, on_error);
        let mut response = self.schema.execute(request).await;
        self.shapes.shape(
            &mut response,
            document,
            variables.operation_name(),
            &variables.values,
            on_error,
        );
        response
    }

    /// [`Executor::execute`] for an operation that answers a stream of events (a
    /// subscription; a query or mutation answers one): each event shaped as one
    /// answer.
    pub fn execute_stream(
        &self,
        request: async_graphql::Request,
        document: Document,
        scope: RequestScope,
        on_error: OnError,
    ) -> impl futures_util::Stream<Item = async_graphql::Response> + Send + 'static {
        use futures_util::StreamExt;
        let (request, variables) = prepare(request, &document, scope, on_error);
        let shapes = self.shapes.clone();
        self.schema.execute_stream(request).map(move |mut response| {
            shapes.shape(
                &mut response,
                &document,
                variables.operation_name(),
                &variables.values,
                on_error,
            );
            response
        })
    }
}

/// A parsed document with what execution derives from it alone, found once per
/// document (the server keeps these by their text): whether plans may splice
/// pre-serialised JSON into its answers. Derefs to the parsed document.
#[derive(Debug, Clone)]
pub struct Document {
    parsed: std::sync::Arc<ExecutableDocument>,
    raw_json: plan::RawJson,
}

impl Document {
    /// `parsed`, with what execution derives from it.
    pub fn new(parsed: ExecutableDocument) -> Document {
        let raw_json = plan::RawJson::for_document(&parsed);
        Document {
            parsed: std::sync::Arc::new(parsed),
            raw_json,
        }
    }
}

impl std::ops::Deref for Document {
    type Target = ExecutableDocument;

    fn deref(&self) -> &ExecutableDocument {
        &self.parsed
    }
}

/// What shaping needs of a request once it is handed to async-graphql.
struct Asked {
    operation_name: Option<String>,
    values: async_graphql::Variables,
}

impl Asked {
    fn operation_name(&self) -> Option<&str> {
        self.operation_name.as_deref()
    }
}

/// `request` ready to run on `document` in `scope`: its variables with their
/// defaults (async-graphql applies `@skip(if: $v)` with the request's values
/// only), the parsed document handed over (the request executes, and edits, a
/// copy; `document` stays to shape the answer), and where plans may splice JSON.
fn prepare(
    mut request: async_graphql::Request,
    document: &Document,
    scope: RequestScope,
    on_error: OnError,
) -> (async_graphql::Request, Asked) {
    if let Some(operation) = selected_operation(document, request.operation_name.as_deref()) {
        shape::with_defaults(&mut request.variables, &operation.node);
    }
    let asked = Asked {
        operation_name: request.operation_name.clone(),
        values: request.variables.clone(),
    };
    request.set_parsed_query(ExecutableDocument::clone(document));
    (request.data(scope).data(document.raw_json).data(on_error), asked)
}

/// The SDL, exactly as `schema/schema.graphql` holds it.
pub fn sdl() -> String {
    build_schema(SchemaOptions {
        introspection: true,
        suggestions: true,
    })
    .sdl()
}

/// The schema fields whose data comes from `service`: what `extensions.stale`
/// names when that service's data was served from an expired cache entry.
pub fn fields_served_by(service: crate::upstream::Service) -> &'static [&'static str] {
    use crate::upstream::Service;
    match service {
        Service::Geo => &["restaurants.area", "restaurants.edges"],
        Service::Restaurants => &[
            "Restaurant.name",
            "Restaurant.cuisines",
            "Restaurant.priceLevel",
            "Restaurant.address",
            "Restaurant.location",
            "Restaurant.imageUrl",
        ],
        Service::Menus => &["Restaurant.menu"],
        Service::Ratings => &["Restaurant.rating"],
        Service::Logistics => &["Restaurant.deliveryEstimate"],
        Service::Pricing => &["Restaurant.deliveryFee", "Restaurant.minimumOrder"],
        Service::Availability => &["Restaurant.isOpen", "Restaurant.nextStatusChangeAt"],
        Service::Promotions => &["Restaurant.promotions"],
        _ => &[],
    }
}
