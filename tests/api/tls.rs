//! TLS to the upstreams: certificates made at test time (a CA, a server and a
//! client certificate), the demo upstreams serving TLS with them, and a gateway
//! calling them with `upstreams.tls`.

use std::{net::SocketAddr, path::PathBuf};

use delivery_gateway::{
    app,
    config::{Config, TlsFiles},
    demo::{self, Demo, DemoConfig},
    tls::{self, TestCa},
};
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::helpers::{assert_no_errors, errors};

/// A directory of its own for one test's PEM files.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dg-tls-{test}-{}-{:x}", std::process::id(), fastrand::u64(..)));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(dir: &std::path::Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// The demo upstreams over TLS with a certificate for 127.0.0.1 signed by `ca`;
/// with `client_ca`, it asks every client for a certificate `client_ca` signed.
async fn tls_demo(ca: &TestCa, client_ca: Option<&TestCa>) -> (SocketAddr, Demo) {
    let (chain, key) = ca.server(&["localhost", "127.0.0.1"]).unwrap().der().unwrap();
    let client_roots = client_ca.map(|ca| tls::certificates_from_pem(ca.cert_pem.as_bytes()).unwrap());
    let config = tls::server_config(chain, key, client_roots).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let demo = Demo::new(DemoConfig::default());
    tokio::spawn(demo::tls::serve_tls(
        listener,
        demo.clone(),
        config,
        std::future::pending(),
    ));
    (addr, demo)
}

/// A gateway calling `https://<demo>` with `files`.
async fn gateway(demo: SocketAddr, files: TlsFiles) -> SocketAddr {
    let mut config = Config::default();
    config.upstreams.base_url = Some(format!("https://{demo}").parse().unwrap());
    config.upstreams.tls = files;
    // One attempt: a refused handshake is not worth retrying here.
    config.upstreams.retry.max_attempts = 1;
    config.validate().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { app::run(&config, listener, std::future::pending()).await });
    addr
}

/// `{ restaurant(id: "17") { name } }` through the gateway at `addr`.
async fn restaurant(addr: SocketAddr) -> Value {
    let response = reqwest::Client::new()
        .post(format!("http://{addr}/graphql"))
        .json(&json!({"query": r#"{ restaurant(id: "17") { id name } }"#}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

fn assert_unavailable(body: &Value) {
    let errors = errors(body);
    assert!(!errors.is_empty(), "{body}");
    assert!(
        errors.iter().all(|e| e["extensions"]["code"] == "UPSTREAM_UNAVAILABLE"),
        "{body}"
    );
}

#[tokio::test]
async fn an_upstream_whose_ca_is_trusted_is_called_over_tls() {
    let ca = TestCa::new("test upstream CA").unwrap();
    let (demo_addr, demo) = tls_demo(&ca, None).await;
    let dir = scratch("trusted");
    let files = TlsFiles {
        ca_file: Some(write(&dir, "ca.pem", &ca.cert_pem)),
        ..TlsFiles::default()
    };
    let addr = gateway(demo_addr, files).await;

    let body = restaurant(addr).await;
    assert_no_errors(&body);
    assert_eq!(body["data"]["restaurant"]["id"], "17");
    assert_eq!(demo.stats().total_calls(), 1);
}

#[tokio::test]
async fn an_upstream_with_an_unknown_ca_is_refused_never_called_in_plain_http() {
    let ca = TestCa::new("a CA nobody trusts").unwrap();
    let (demo_addr, demo) = tls_demo(&ca, None).await;
    // The platform's roots only: the test CA is not among them.
    let addr = gateway(demo_addr, TlsFiles::default()).await;

    let body = restaurant(addr).await;
    assert_unavailable(&body);
    assert_eq!(body["data"]["restaurant"], Value::Null, "{body}");
    // The handshake failed, so no request reached the demo, in TLS or otherwise.
    assert_eq!(demo.stats().total_calls(), 0);
}

#[tokio::test]
async fn mutual_tls_works_with_the_client_certificate_and_is_refused_without() {
    let server_ca = TestCa::new("test upstream CA").unwrap();
    let client_ca = TestCa::new("test client CA").unwrap();
    let (demo_addr, demo) = tls_demo(&server_ca, Some(&client_ca)).await;
    let dir = scratch("mutual");
    let ca_file = write(&dir, "ca.pem", &server_ca.cert_pem);
    let client = client_ca.client("delivery-gateway").unwrap();

    let with_cert = gateway(
        demo_addr,
        TlsFiles {
            ca_file: Some(ca_file.clone()),
            client_cert_file: Some(write(&dir, "client.pem", &client.cert_pem)),
            client_key_file: Some(write(&dir, "client.key", &client.key_pem)),
        },
    )
    .await;
    let body = restaurant(with_cert).await;
    assert_no_errors(&body);
    assert_eq!(body["data"]["restaurant"]["id"], "17");
    assert_eq!(demo.stats().total_calls(), 1);

    let without_cert = gateway(
        demo_addr,
        TlsFiles {
            ca_file: Some(ca_file),
            ..TlsFiles::default()
        },
    )
    .await;
    let body = restaurant(without_cert).await;
    assert_unavailable(&body);
    assert_eq!(
        demo.stats().total_calls(),
        1,
        "no call got through without the certificate"
    );
}

#[tokio::test]
async fn the_upstream_client_speaks_http2_when_the_upstream_offers_it() {
    let ca = TestCa::new("test upstream CA").unwrap();
    let (demo_addr, _demo) = tls_demo(&ca, None).await;
    let dir = scratch("h2");
    let files = TlsFiles {
        ca_file: Some(write(&dir, "ca.pem", &ca.cert_pem)),
        ..TlsFiles::default()
    };
    // The builder the gateway's upstream clients are made with.
    let client = tls::client_builder(reqwest::Client::builder(), &files)
        .unwrap()
        .build()
        .unwrap();
    let response = client
        .get(format!("https://127.0.0.1:{}/_admin/stats", demo_addr.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
}

#[test]
fn tls_files_that_do_not_fit_are_refused_at_start_naming_the_key() {
    let ca = TestCa::new("test CA").unwrap();
    let other = TestCa::new("another CA").unwrap();
    let dir = scratch("config");
    let cert = ca.client("a").unwrap();
    let wrong_key = other.client("b").unwrap();
    let mut config = Config::default();
    config.cache.redis_tls = TlsFiles {
        ca_file: None,
        client_cert_file: Some(write(&dir, "c.pem", &cert.cert_pem)),
        client_key_file: Some(write(&dir, "k.pem", &wrong_key.key_pem)),
    };
    let error = config.validate().unwrap_err().to_string();
    assert!(error.contains("cache.redis_tls.client_key_file"), "{error}");

    let mut config = Config::default();
    config.upstreams.tls.ca_file = Some(dir.join("missing.pem"));
    let error = config.validate().unwrap_err().to_string();
    assert!(error.contains("upstreams.tls.ca_file"), "{error}");

    let mut config = Config::default();
    config.auth.jwks_tls.client_cert_file = Some(write(&dir, "c2.pem", &cert.cert_pem));
    let error = config.validate().unwrap_err().to_string();
    assert!(error.contains("auth.jwks_tls.client_key_file"), "{error}");
}

#[tokio::test]
async fn a_rediss_url_builds_a_tls_client_with_the_configured_files() {
    let ca = TestCa::new("redis CA").unwrap();
    let dir = scratch("redis");
    let client = ca.client("gateway").unwrap();
    let files = TlsFiles {
        ca_file: Some(write(&dir, "ca.pem", &ca.cert_pem)),
        client_cert_file: Some(write(&dir, "c.pem", &client.cert_pem)),
        client_key_file: Some(write(&dir, "k.pem", &client.key_pem)),
    };
    let built = tls::redis_client("rediss://127.0.0.1:1/", &files).unwrap();
    assert!(matches!(
        built.get_connection_info().addr(),
        redis::ConnectionAddr::TcpTls { .. }
    ));
}
