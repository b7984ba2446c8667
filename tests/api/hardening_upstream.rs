//! Issue 15, the upstream layer's share of the December audit: one regression test
//! per finding, each of which fails on the code the audit read.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{TestApp, errors, spawn_app};

/// Polls `probe` until it holds, at most `limit` long (a condition, never a fixed
/// sleep); `false` if it never did.
async fn eventually<F, Fut>(limit: Duration, mut probe: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let started = Instant::now();
    let mut interval = tokio::time::interval(Duration::from_millis(5));
    while started.elapsed() < limit {
        interval.tick().await;
        if probe().await {
            return true;
        }
    }
    false
}

/// A `restaurant(id:)` query as anonymous clients send it, with a request timeout
/// header when `timeout_ms` is given.
async fn restaurant_name(app: &TestApp, id: u64, timeout_ms: Option<u64>) -> Value {
    let body = json!({"query": format!("{{ restaurant(id: \"{id}\") {{ name }} }}")});
    let mut request = app.graphql_post(&body, None);
    if let Some(ms) = timeout_ms {
        request = request.header("x-request-timeout-ms", ms.to_string());
    }
    app.send_json(request).await.body
}

fn codes(body: &Value) -> Vec<String> {
    errors(body)
        .iter()
        .map(|e| e["extensions"]["code"].as_str().unwrap_or("").to_owned())
        .collect()
}

// ---------------------------------------------------------------------------
// Item 4 (audit 6): a shared call runs under the longest deadline of its callers.
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_short_deadline_cannot_fail_another_request_that_shares_its_call() {
    let app = spawn_app().await;
    app.fault(json!({"service": "restaurants", "latencyMs": 800})).await;
    let restaurants = "restaurants GET /restaurants";

    for (round, id) in [2002u64, 2003].into_iter().enumerate() {
        // A: a client that allows itself 250 ms starts the call ...
        let short = {
            let app_url = app.url("/graphql");
            let client = app.client.clone();
            tokio::spawn(async move {
                let body = json!({"query": format!("{{ restaurant(id: \"{id}\") {{ name }} }}")});
                let response = client
                    .post(app_url)
                    .header("x-request-timeout-ms", "250")
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                response.json::<Value>().await.unwrap()
            })
        };
        let arrived = eventually(Duration::from_secs(5), || async {
            app.stats().await.calls(restaurants) == round as u64 + 1
        })
        .await;
        assert!(arrived, "the first call never reached the service");

        // ... B, with the server's 2 s, joins it while it is in flight.
        let shared = restaurant_name(&app, id, None).await;
        let short = short.await.unwrap();

        assert!(errors(&shared).is_empty(), "round {round}: {shared}");
        assert!(shared["data"]["restaurant"]["name"].is_string(), "{shared}");
        assert_eq!(codes(&short), ["DEADLINE_EXCEEDED"], "A gives up alone: {short}");
        assert_eq!(
            app.stats().await.calls(restaurants),
            round as u64 + 1,
            "B shared A's call"
        );
    }
}

#[tokio::test]
async fn an_eight_millisecond_client_never_fails_its_neighbour() {
    let app = spawn_app().await;
    app.fault(json!({"service": "restaurants", "latencyMs": 20})).await;

    for id in 2010..2016u64 {
        // The audit's reproduction: A with 8 ms, B a moment later with none.
        let (_, other) = tokio::join!(restaurant_name(&app, id, Some(8)), async {
            tokio::task::yield_now().await;
            restaurant_name(&app, id, None).await
        });
        assert!(errors(&other).is_empty(), "id {id}: {other}");
        assert!(other["data"]["restaurant"]["name"].is_string(), "{other}");
    }
}
