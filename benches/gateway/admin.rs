//! The demo upstreams' admin API (`docs/upstreams.md`): set latency,
//! zero the counters, read how many upstream calls a query made.

use std::collections::BTreeMap;

use anyhow::{Context as _, ensure};
use serde::Deserialize;
use serde_json::json;

/// The admin API of one running demo.
pub struct DemoAdmin {
    /// The benchmark's client.
    client: reqwest::Client,
    /// `http://<demo>`.
    base: String,
}

/// What `GET /_admin/stats` answers, the part used here.
#[derive(Deserialize)]
pub struct Stats {
    /// Calls answered per `"<service> <METHOD> <route>"` since the last reset.
    pub calls: BTreeMap<String, u64>,
}

impl Stats {
    /// Calls answered, every route together.
    pub fn total(&self) -> u64 {
        self.calls.values().sum()
    }

    /// `route: n` for each route called, for the log.
    pub fn breakdown(&self) -> String {
        let routes: Vec<String> = self
            .calls
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(route, n)| format!("{route}: {n}"))
            .collect();
        routes.join(", ")
    }
}

impl DemoAdmin {
    /// The admin API of the demo at `base` (`http://host:port`).
    pub fn new(client: reqwest::Client, base: String) -> DemoAdmin {
        DemoAdmin { client, base }
    }

    /// `POST /_admin/reset`: zero the counters and clear every fault (latency 0).
    pub async fn reset(&self) -> anyhow::Result<()> {
        let response = self.client.post(format!("{}/_admin/reset", self.base)).send().await?;
        ensure!(
            response.status().is_success(),
            "POST /_admin/reset answered {}",
            response.status()
        );
        Ok(())
    }

    /// `PUT /_admin/faults`: every service answers after `latency_ms`.
    pub async fn set_latency(&self, latency_ms: u64) -> anyhow::Result<()> {
        let response = self
            .client
            .put(format!("{}/_admin/faults", self.base))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(json!({ "service": "*", "latencyMs": latency_ms }).to_string())
            .send()
            .await?;
        let status = response.status();
        ensure!(
            status.is_success(),
            "PUT /_admin/faults answered {status}: {}",
            response.text().await.unwrap_or_default()
        );
        Ok(())
    }

    /// `GET /_admin/stats`.
    pub async fn stats(&self) -> anyhow::Result<Stats> {
        let response = self.client.get(format!("{}/_admin/stats", self.base)).send().await?;
        ensure!(
            response.status().is_success(),
            "GET /_admin/stats answered {}",
            response.status()
        );
        let body = response.bytes().await?;
        serde_json::from_slice(&body).context("reading GET /_admin/stats")
    }
}
