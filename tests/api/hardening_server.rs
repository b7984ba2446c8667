//! The December 2026 audit's server findings, each with the test that shows it
//! fixed (issue 15): persisted-query registrations go through the limits first
//! (finding 1), ...

use delivery_gateway::server::persisted::sha256_hex;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app, spawn_app_with};

const REDIS: &str = "redis://127.0.0.1:6379";

/// A POST body that registers `query` under its hash (Apollo APQ).
fn registration(query: &str) -> Value {
    json!({"query": query, "extensions": {"persistedQuery": {"version": 1, "sha256Hash": sha256_hex(query)}}})
}

/// A POST body that runs the document registered under `query`'s hash.
fn by_hash(query: &str) -> Value {
    json!({"extensions": {"persistedQuery": {"version": 1, "sha256Hash": sha256_hex(query)}}})
}

fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"].as_str().unwrap_or("")
}

async fn require_redis() {
    let reachable = tokio::net::TcpStream::connect("127.0.0.1:6379").await.is_ok();
    assert!(
        reachable,
        "this test needs Redis on 127.0.0.1:6379; start one with `redis-server --daemonize yes --save ''`"
    );
}

/// The keys under `prefix`, each with its time to live in seconds.
async fn redis_keys(prefix: &str) -> Vec<(String, i64)> {
    let client = redis::Client::open(REDIS).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut connection)
        .await
        .unwrap();
    let mut with_ttl = Vec::new();
    for key in keys {
        let ttl: i64 = redis::cmd("TTL").arg(&key).query_async(&mut connection).await.unwrap();
        with_ttl.push((key, ttl));
    }
    with_ttl
}

async fn post(app: &TestApp, body: &Value) -> Value {
    app.post_json(&app.url("/graphql"), body).await
}

// Item 1 (audit 1): a persisted-query registration is measured like any document
// before it is parsed or stored.

#[tokio::test]
async fn an_apq_registration_past_the_limits_is_not_kept() {
    let app = spawn_app().await;
    // Too long (16,384 characters is the limit), and short but with too many tokens.
    let too_long = format!("{{ {} b }}", "a ".repeat(10_000));
    let too_many_tokens = format!("{{ {} c }}", "a ".repeat(3_000));
    for (query, refused) in [(&too_long, "DOCUMENT_TOO_LONG"), (&too_many_tokens, "TOO_MANY_TOKENS")] {
        let answer = post(&app, &registration(query)).await;
        assert_eq!(code(&answer), refused, "{answer}");

        let answer = post(&app, &by_hash(query)).await;
        assert_eq!(
            code(&answer),
            "PERSISTED_QUERY_NOT_FOUND",
            "a refused registration was kept: {answer}"
        );
    }
    // A document within the limits still registers and runs by its hash.
    let fine = "{ __typename }";
    assert_eq!(post(&app, &registration(fine)).await["data"]["__typename"], "Query");
    assert_eq!(post(&app, &by_hash(fine)).await["data"]["__typename"], "Query");
}

#[tokio::test]
async fn apq_registrations_in_redis_are_within_the_limits_expire_and_are_capped() {
    require_redis().await;
    let prefix = crate::helpers::redis_prefix("apq-bounds");
    let one = spawn_app_with(|config| {
        config.cache.redis_url = Some(REDIS.into());
        config.cache.redis_prefix = prefix.clone();
        config.persisted_queries.redis_writes_per_minute = 2;
    })
    .await;
    let other = one.spawn_replica().await;

    let too_long = format!("{{ {} b }}", "a ".repeat(10_000));
    assert_eq!(code(&post(&one, &registration(&too_long)).await), "DOCUMENT_TOO_LONG");
    assert!(redis_keys(&prefix).await.is_empty(), "a refused document went to Redis");

    let documents: Vec<String> = (0..3).map(|i| format!("{{ __typename t{i}: __typename }}")).collect();
    for document in &documents {
        let answer = post(&one, &registration(document)).await;
        assert_eq!(answer["data"]["__typename"], "Query", "{answer}");
    }
    let keys = redis_keys(&prefix).await;
    assert_eq!(keys.len(), 2, "two writes a minute, no more: {keys:?}");
    let day = 24 * 3600;
    assert!(keys.iter().all(|(_, ttl)| (1..=day).contains(ttl)), "{keys:?}");
    // The third registration runs here by its hash (memory), not on the replica.
    assert_eq!(post(&one, &by_hash(&documents[2])).await["data"]["__typename"], "Query");
    assert_eq!(
        code(&post(&other, &by_hash(&documents[2])).await),
        "PERSISTED_QUERY_NOT_FOUND"
    );
    assert_eq!(
        post(&other, &by_hash(&documents[0])).await["data"]["__typename"],
        "Query"
    );
}
