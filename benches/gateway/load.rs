//! The load generator: GraphQL POSTs to the gateway from one `reqwest::Client`, every
//! response checked, latencies in an HDR histogram.
//!
//! Two modes:
//! - [`closed_loop`]: `concurrency` clients, each sending its next query when the last
//!   one is answered, until a fixed number of queries is done;
//! - [`open_loop`]: queries started on a fixed schedule whatever the answers do, each
//!   latency measured from its *scheduled* start, so a server that falls behind shows
//!   its queueing instead of slowing the client down (coordinated omission).
//!
//! The client runs on the same machine as the gateway, so it is kept cheap: bodies are
//! serialised once into [`Bytes`], the connection pool is shared, and a response is
//! checked without building a JSON tree for its `data`.
//!
//! reqwest is built without its `gzip`, `brotli` and `zstd` features, so it neither
//! asks for a compressed answer nor decompresses one: an operation that sets
//! `Accept-Encoding` ([`Operation::accepting`]) gets the bytes as they crossed the
//! wire, counted in [`Outcome::body_bytes`].

use std::{
    io::Read as _,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use bytes::Bytes;
use hdrhistogram::Histogram;
use reqwest::{
    StatusCode,
    header::{ACCEPT, ACCEPT_ENCODING, AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, HeaderValue},
};
use serde::{Deserialize, de::IgnoredAny};
use tokio::{task::JoinSet, time::MissedTickBehavior};

/// How long one query may take before it counts as failed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Failure messages kept per run (all failures are counted).
const KEPT_FAILURES: usize = 5;
/// Bytes of a failing body kept in its message.
const SNIPPET: usize = 300;

/// One GraphQL operation, ready to send.
#[derive(Clone)]
pub struct Operation {
    /// The operation's name, for the report.
    pub name: String,
    /// `{"query", "variables"}`, serialised once.
    body: Bytes,
    /// `Bearer <token>`, for operations that need a signed-in user.
    authorization: Option<HeaderValue>,
    /// The one encoding asked for in `Accept-Encoding` (`identity`, `gzip`, `br`,
    /// `zstd`); no such header when `None`.
    accept_encoding: Option<&'static str>,
}

impl Operation {
    /// An operation named `name` sending `query` with `variables`, signed in with
    /// `token` when one is given.
    pub fn new(name: impl Into<String>, query: &str, variables: serde_json::Value, token: Option<&str>) -> Operation {
        let body = serde_json::to_vec(&serde_json::json!({ "query": query, "variables": variables }))
            .expect("a JSON value serialises");
        Operation {
            name: name.into(),
            body: Bytes::from(body),
            authorization: token.map(|t| HeaderValue::from_str(&format!("Bearer {t}")).expect("a token is ASCII")),
            accept_encoding: None,
        }
    }

    /// This operation sent with `Accept-Encoding: <encoding>` (one of `identity`,
    /// `gzip`, `br`, `zstd`); its answers must come in that encoding.
    pub fn accepting(mut self, encoding: &'static str) -> Operation {
        self.accept_encoding = Some(encoding);
        self
    }
}

/// The gateway's GraphQL endpoint and the one client that talks to it.
#[derive(Clone)]
pub struct Target {
    /// Shared by every query: one connection pool, kept alive.
    client: reqwest::Client,
    /// `http://<gateway>/graphql`.
    url: Arc<str>,
}

impl Target {
    /// The endpoint `url`, reached with `client`.
    pub fn new(client: reqwest::Client, url: String) -> Target {
        Target {
            client,
            url: url.into(),
        }
    }

    /// Sends `operation` once and reads the whole answer; the error is a message
    /// for the report. The latency ends here, when the last byte has arrived:
    /// checking the answer ([`Answer::check`]) is the load generator's own work.
    pub async fn query(&self, operation: &Operation) -> Result<Answer, String> {
        let mut request = self
            .client
            .post(&*self.url)
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, "application/json")
            .timeout(REQUEST_TIMEOUT)
            .body(operation.body.clone());
        if let Some(authorization) = &operation.authorization {
            request = request.header(AUTHORIZATION, authorization.clone());
        }
        if let Some(encoding) = operation.accept_encoding {
            request = request.header(ACCEPT_ENCODING, encoding);
        }
        let response = request.send().await.map_err(|e| format!("request failed: {e}"))?;
        let status = response.status();
        let encoding = response
            .headers()
            .get(CONTENT_ENCODING)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let body = response
            .bytes()
            .await
            .map_err(|e| format!("reading the body failed: {e}"))?;
        Ok(Answer {
            status,
            body,
            asked: operation.accept_encoding,
            encoding,
        })
    }
}

/// A whole answer of the gateway, not checked yet.
pub struct Answer {
    status: StatusCode,
    /// The body as it came over the wire (compressed if `encoding` says so).
    body: bytes::Bytes,
    /// The `Accept-Encoding` of the request, if it had one.
    asked: Option<&'static str>,
    /// The answer's `Content-Encoding`, if it had one.
    encoding: Option<String>,
}

impl Answer {
    /// Bytes of the body as they crossed the wire (headers and framing excluded).
    pub fn body_bytes(&self) -> u64 {
        self.body.len() as u64
    }

    /// Checks the answer: status 200, in the encoding asked for (none unless one
    /// was), a JSON body with non-null `data` and no `errors`. A gzip body is
    /// inflated and checked; a zstd body is checked for zstd's frame magic and a br
    /// body for being there at all: the benchmark has no decoder for them, so the
    /// scenario that asks for them also reads the gateway's own count of answers
    /// with errors ([`crate::stack::answers_with_errors`]). The error is a message
    /// for the report.
    pub fn check(&self) -> Result<(), String> {
        if self.status != StatusCode::OK {
            return Err(format!("HTTP {}: {}", self.status, snippet(&self.body)));
        }
        let expected = self.asked.filter(|&asked| asked != "identity");
        if self.encoding.is_none() {
            // An error answer is too short to compress: say what it says.
            check_json(&self.body)?;
        }
        if self.encoding.as_deref() != expected {
            return Err(format!(
                "asked for `Accept-Encoding: {}`, answered with `Content-Encoding: {}`",
                self.asked.unwrap_or("(none)"),
                self.encoding.as_deref().unwrap_or("(none)")
            ));
        }
        match expected {
            None => check_json(&self.body),
            Some("gzip") => {
                let mut inflated = Vec::with_capacity(self.body.len() * 8);
                flate2::read::GzDecoder::new(&self.body[..])
                    .read_to_end(&mut inflated)
                    .map_err(|e| format!("the gzip body does not inflate: {e}"))?;
                check_json(&inflated)
            }
            Some("zstd") if !self.body.starts_with(&ZSTD_MAGIC) => {
                Err("the zstd body does not start with a zstd frame".to_owned())
            }
            Some(_) if self.body.is_empty() => Err("empty compressed body".to_owned()),
            Some(_) => Ok(()),
        }
    }
}

/// The first bytes of a zstd frame (RFC 8878, 3.1.1).
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];

/// Checks a JSON body: a GraphQL response with non-null `data` and no `errors`.
fn check_json(body: &[u8]) -> Result<(), String> {
    let answer: GraphqlResponse =
        serde_json::from_slice(body).map_err(|e| format!("body is not a GraphQL response ({e}): {}", snippet(body)))?;
    match answer {
        GraphqlResponse {
            errors: Some(errors), ..
        } if !errors.is_empty() => Err(format!(
            "{} error(s): {}",
            errors.len(),
            truncate(&serde_json::to_string(&errors).unwrap_or_default())
        )),
        GraphqlResponse { data: None, .. } => Err("`data` is null or missing".to_owned()),
        _ => Ok(()),
    }
}

/// What a response is checked for; `data` is skipped over, not built.
#[derive(Deserialize)]
struct GraphqlResponse {
    /// `None` when absent or null.
    data: Option<IgnoredAny>,
    /// Present only when something went wrong.
    errors: Option<Vec<serde_json::Value>>,
}

/// What one run measured.
pub struct Outcome {
    /// Latency of each successful measured query, in microseconds.
    pub latency: Histogram<u64>,
    /// Measured queries answered correctly.
    pub ok: u64,
    /// Body bytes of those answers, as they crossed the wire.
    pub body_bytes: u64,
    /// Measured queries that failed.
    pub failed: u64,
    /// Warm-up queries sent (checked, not timed).
    pub warmup_sent: u64,
    /// Warm-up queries that failed.
    pub warmup_failed: u64,
    /// Queries answered as if they had succeeded but known from elsewhere to have
    /// failed ([`Outcome::failed_elsewhere`]); counted in `ok` or `warmup_sent` too.
    pub failed_elsewhere: u64,
    /// The first few failure messages, warm-up included.
    pub failures: Vec<String>,
    /// Wall time of the measured part.
    pub elapsed: Duration,
}

impl Outcome {
    /// An empty outcome.
    fn new() -> Outcome {
        Outcome {
            latency: Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds"),
            ok: 0,
            body_bytes: 0,
            failed: 0,
            warmup_sent: 0,
            warmup_failed: 0,
            failed_elsewhere: 0,
            failures: Vec::new(),
            elapsed: Duration::ZERO,
        }
    }

    /// Records one answer of a measured query that took `latency`: `Ok` with its
    /// body's bytes, or the failure's message.
    fn record(&mut self, result: Result<u64, String>, latency: Duration) {
        match result {
            Ok(bytes) => {
                self.ok += 1;
                self.body_bytes += bytes;
                self.latency.saturating_record(latency.as_micros().max(1) as u64);
            }
            Err(message) => {
                self.failed += 1;
                self.keep(message);
            }
        }
    }

    /// Keeps a failure message if there is room.
    fn keep(&mut self, message: String) {
        if self.failures.len() < KEPT_FAILURES {
            self.failures.push(message);
        }
    }

    /// Adds `other`'s counts, failure messages and latencies to this outcome.
    fn merge(&mut self, other: Outcome) {
        self.latency
            .add(&other.latency)
            .expect("histograms with the same bounds");
        self.ok += other.ok;
        self.body_bytes += other.body_bytes;
        self.failed += other.failed;
        self.warmup_sent += other.warmup_sent;
        self.warmup_failed += other.warmup_failed;
        self.failed_elsewhere += other.failed_elsewhere;
        for message in other.failures {
            self.keep(message);
        }
    }

    /// Counts `warm`, a warm-up run before this one: its queries as warm-up, its
    /// failures as failures, its latencies not at all.
    pub fn after_warmup(mut self, warm: Outcome) -> Outcome {
        self.warmup_sent += warm.ok + warm.failed;
        self.warmup_failed += warm.failed;
        let kept = std::mem::take(&mut self.failures);
        for message in warm.failures.into_iter().chain(kept) {
            self.keep(message);
        }
        self
    }

    /// Every query sent, warm-up included.
    pub fn sent(&self) -> u64 {
        self.ok + self.failed + self.warmup_sent
    }

    /// Every failed query, warm-up included.
    pub fn all_failed(&self) -> u64 {
        self.failed + self.warmup_failed + self.failed_elsewhere
    }

    /// Counts `queries` that passed [`Answer::check`] as failed, because something
    /// else (the gateway's own count) says so, with `message`.
    pub fn failed_elsewhere(&mut self, queries: u64, message: String) {
        self.failed_elsewhere += queries;
        self.keep(message);
    }

    /// The latency at `quantile` (0.5 for the median) of the successful measured queries.
    pub fn percentile(&self, quantile: f64) -> Duration {
        Duration::from_micros(self.latency.value_at_quantile(quantile))
    }

    /// Measured queries answered per second (failures included).
    pub fn rate(&self) -> f64 {
        (self.ok + self.failed) as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Mean body bytes of the successful measured answers (0 for none).
    pub fn mean_body_bytes(&self) -> f64 {
        self.body_bytes as f64 / self.ok.max(1) as f64
    }
}

/// What [`Outcome::record`] takes of an answer: its body's size once checked.
fn checked(answer: Result<Answer, String>) -> Result<u64, String> {
    let answer = answer?;
    answer.check()?;
    Ok(answer.body_bytes())
}

/// When a closed loop stops starting queries.
#[derive(Clone, Copy)]
enum Budget {
    /// After this many queries in all.
    Queries(u64),
    /// At this instant (the queries in flight then are finished and counted).
    Until(Instant),
}

/// Sends `requests` queries from `concurrency` clients that each send their next
/// query when the last one is answered; the clients share one ticket counter.
pub async fn closed_loop(target: &Target, operation: &Operation, concurrency: usize, requests: u64) -> Outcome {
    closed_loop_within(target, operation, concurrency, Budget::Queries(requests)).await
}

/// [`closed_loop`] for `duration`: the clients start queries until it has passed,
/// and the run ends when the last of them is answered.
pub async fn closed_loop_for(
    target: &Target,
    operation: &Operation,
    concurrency: usize,
    duration: Duration,
) -> Outcome {
    let until = Instant::now() + duration;
    closed_loop_within(target, operation, concurrency, Budget::Until(until)).await
}

/// [`closed_loop`] and [`closed_loop_for`]: `concurrency` clients sending until
/// `budget` says to stop.
async fn closed_loop_within(target: &Target, operation: &Operation, concurrency: usize, budget: Budget) -> Outcome {
    let started = Instant::now();
    let tickets = Arc::new(AtomicU64::new(0));
    let mut clients = JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (target, operation, tickets) = (target.clone(), operation.clone(), tickets.clone());
        clients.spawn(async move {
            let mut outcome = Outcome::new();
            let go_on = || match budget {
                Budget::Queries(requests) => tickets.fetch_add(1, Ordering::Relaxed) < requests,
                Budget::Until(until) => Instant::now() < until,
            };
            while go_on() {
                let sent = Instant::now();
                let answer = target.query(&operation).await;
                let latency = sent.elapsed();
                outcome.record(checked(answer), latency);
            }
            outcome
        });
    }
    let mut total = Outcome::new();
    while let Some(client) = clients.join_next().await {
        total.merge(client.expect("a load client panicked"));
    }
    total.elapsed = started.elapsed();
    total
}

/// Sends `requests` queries at `rate` per second on a fixed schedule, each latency
/// measured from the moment the schedule said to send it, and waits for them all.
pub async fn open_loop(target: &Target, operation: &Operation, rate: f64, requests: u64) -> Outcome {
    let mut schedule = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    // A late tick fires at once, keeping its scheduled instant: lateness is latency.
    schedule.set_missed_tick_behavior(MissedTickBehavior::Burst);
    let mut in_flight = JoinSet::new();
    let mut outcome = Outcome::new();
    let started = Instant::now();
    for _ in 0..requests {
        let scheduled = schedule.tick().await;
        let (target, operation) = (target.clone(), operation.clone());
        in_flight.spawn(async move {
            let answer = target.query(&operation).await;
            let latency = scheduled.elapsed();
            (checked(answer), latency)
        });
        while let Some(done) = in_flight.try_join_next() {
            let (result, latency) = done.expect("a query task panicked");
            outcome.record(result, latency);
        }
    }
    while let Some(done) = in_flight.join_next().await {
        let (result, latency) = done.expect("a query task panicked");
        outcome.record(result, latency);
    }
    outcome.elapsed = started.elapsed();
    outcome
}

/// The start of a body, as text, for a failure message.
fn snippet(body: &[u8]) -> String {
    truncate(&String::from_utf8_lossy(body))
}

/// `text` cut to [`SNIPPET`] bytes (at a character boundary).
fn truncate(text: &str) -> String {
    if text.len() <= SNIPPET {
        return text.to_owned();
    }
    let mut end = SNIPPET;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}
