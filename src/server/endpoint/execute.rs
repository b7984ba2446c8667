//! The policy chain in front of execution: who is asking, persisted queries,
//! the document limits, GET and variable checks, the introspection policy and
//! the deadline; then one call into the GraphQL layer.

use axum::http::{HeaderMap, StatusCode, header};

use super::super::{AppState, admission, cancel::RequestTasks, limits, observe};
use super::Observed;
use super::request::{Incoming, RequestError, on_error_of};
use super::respond::flag_stale;
use crate::{
    auth::Identity,
    graphql::{RequestScope, selected_operation},
    upstream::{RequestContext, cache::StaleLog},
};

/// Time past the deadline that execution may take to assemble the answer.
pub(super) const EXECUTION_GRACE: std::time::Duration = std::time::Duration::from_millis(250);

pub(super) type Document = async_graphql::parser::types::ExecutableDocument;

/// Whether the operation `request` selects is anything but a query.
pub(super) fn selects_mutation(document: &Document, name: Option<&str>) -> bool {
    use async_graphql::parser::types::OperationType;
    selected_operation(document, name).is_some_and(|op| op.node.ty != OperationType::Query)
}

/// The first required variable (non-null, no default) that the request leaves out
/// or sets to null. async-graphql would report it on a field path, as if the
/// operation had run; the spec makes it a request error.
pub(super) fn missing_variable(
    document: &Document,
    name: Option<&str>,
    variables: &async_graphql::Variables,
) -> Option<String> {
    let operation = selected_operation(document, name)?;
    operation.node.variable_definitions.iter().find_map(|definition| {
        let definition = &definition.node;
        let required = !definition.var_type.node.nullable && definition.default_value.is_none();
        let given = variables
            .get(&definition.name.node)
            .is_some_and(|v| *v != async_graphql::Value::Null);
        (required && !given).then(|| definition.name.node.to_string())
    })
}

/// Who is asking: `None` for anonymous, a `401` error for a refused token.
pub(super) async fn identify(state: &AppState, headers: &HeaderMap) -> Result<Option<Identity>, RequestError> {
    state
        .inner
        .auth
        .authenticate(headers.get(header::AUTHORIZATION).map(|v| v.as_bytes()))
        .await
        .map_err(|error| RequestError::http(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", error.to_string()))
}

/// Pre-checks the document, applies the introspection policy and executes with
/// a fresh per-request scope.
pub(super) async fn execute(
    state: &AppState,
    headers: &HeaderMap,
    identity: Option<&Identity>,
    incoming: Incoming,
    over_get: bool,
    observed: Option<Observed>,
) -> Result<(async_graphql::Response, bool), RequestError> {
    let inner = &state.inner;
    let Incoming { request, on_error } = incoming;
    let on_error = on_error_of(on_error.as_ref(), &request.extensions)?;
    // A persisted query's hash becomes its document before anything else looks;
    // a registration is kept only once the document has passed the limits.
    let prepared = inner
        .persisted
        .prepare(request)
        .await
        .map_err(|error| RequestError::document(error.code(), error.to_string()))?;
    let mut request = prepared.request;
    let documents = &inner.documents;
    let (document, measures) =
        limits::check_with(&request.query, &request.variables, &inner.document_limits, documents)
            .map_err(|error| RequestError::document(error.code(), error.to_string()))?;
    if let Some(registration) = prepared.registration {
        inner.persisted.commit(registration, &request.query).await;
    }
    if over_get && selects_mutation(&document, request.operation_name.as_deref()) {
        return Err(RequestError::http(
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            "only queries may be sent with GET; send mutations with POST",
        ));
    }
    if let Some(name) = missing_variable(&document, request.operation_name.as_deref(), &request.variables) {
        return Err(RequestError::document(
            "BAD_USER_INPUT",
            format!("the required variable `${name}` is missing or null"),
        ));
    }
    if !inner.introspection.allows(headers, identity) {
        if measures.introspection {
            return Err(RequestError::document(
                "INTROSPECTION_DISABLED",
                "introspection is not allowed here; fetch the schema from the team that runs this gateway",
            ));
        }
        request = request.disable_introspection();
    }
    tracing::debug!(
        depth = measures.depth,
        complexity = measures.complexity,
        tokens = measures.tokens,
        "document accepted"
    );
    let (deadline, budget) = admission::deadline(headers, inner.request_timeout)
        .map_err(|message| RequestError::http(StatusCode::BAD_REQUEST, "BAD_REQUEST", message))?;
    let viewer = identity.map(|i| i.user);
    let stale = std::sync::Arc::new(StaleLog::default());
    let (waterfall, span) = match observed {
        Some(observed) => (Some(observed.waterfall), Some(observed.span)),
        None => (None, None),
    };
    let upstreams = inner.upstreams.for_request(RequestContext {
        deadline: Some(deadline),
        stale: stale.clone(),
        waterfall,
        span,
        traceparent: observe::traceparent(headers),
        tracestate: observe::tracestate(headers),
        request_id: headers.get("x-request-id").cloned(),
    });
    // The DataLoader's batches run on tasks of their own: they end with this
    // request (answered, past its deadline, or dropped when the client went away)
    // instead of running on for nobody.
    let tasks = RequestTasks::default();
    let loader = RequestScope::loader(upstreams.clone(), viewer, inner.batch_delay, tasks.spawner());
    let scope = RequestScope::with_loader(loader, upstreams, viewer, inner.limits);
    // Every upstream call ends by the deadline, so execution does too; this bound
    // only guards against a resolver stuck on something else.
    let answer = tokio::time::timeout(
        budget + EXECUTION_GRACE,
        inner.graphql.execute(request, &document, scope, on_error),
    )
    .await
    .map(|mut response| {
        let served_stale = flag_stale(&mut response, &stale);
        (response, served_stale)
    })
    .map_err(|_| {
        RequestError::http(
            StatusCode::GATEWAY_TIMEOUT,
            "DEADLINE_EXCEEDED",
            "the request did not finish before its deadline",
        )
    });
    drop(tasks);
    answer
}
