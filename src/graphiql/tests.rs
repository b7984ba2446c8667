//! Unit tests of the playground page and its asset routes.

use super::*;
use axum::body::{Body, to_bytes};
use axum::http::{Method, Request, StatusCode};
use tower::ServiceExt;

fn options_with_query(query: &str) -> PageOptions {
    PageOptions {
        endpoint: "/graphql".to_owned(),
        tabs: vec![Tab {
            query: query.to_owned(),
            variables: Some(r#"{"id": "r-1"}"#.to_owned()),
            headers: None,
        }],
        default_headers: Some(r#"{"Authorization": "Bearer demo"}"#.to_owned()),
        title: "Gateway <playground>".to_owned(),
        show_upstream: false,
        notice: None,
        carry: None,
    }
}

/// The text between the config block's tags, as the browser would hand it to JSON.parse.
fn config_block(html: &str) -> &str {
    let open = r#"<script id="graphiql-config" type="application/json">"#;
    let start = html.find(open).expect("config block") + open.len();
    let end = start + html[start..].find("</script>").expect("end of config block");
    &html[start..end]
}

async fn get(path: &str) -> axum::response::Response {
    let request = Request::get(path).body(Body::empty()).unwrap();
    asset_router().oneshot(request).await.unwrap()
}

#[test]
fn the_page_references_every_asset_by_the_versioned_prefix() {
    let html = page(&options_with_query("{ __typename }"));
    for asset in ASSETS {
        let url = format!(r#"href="{ASSET_PREFIX}{name}""#, name = asset.name);
        let script = format!(r#"src="{ASSET_PREFIX}{name}""#, name = asset.name);
        assert!(
            html.contains(&url) || html.contains(&script),
            "{} is not referenced:\n{html}",
            asset.name
        );
    }
    assert!(ASSET_PREFIX.starts_with("/graphiql/4.1.2"));
    assert!(ASSET_PREFIX.ends_with('/'));
}

#[test]
fn the_page_has_no_inline_script() {
    let html = page(&options_with_query("{ __typename }"));
    for (i, _) in html.match_indices("<script") {
        let tag = &html[i..i + html[i..].find('>').unwrap()];
        assert!(
            tag.contains(" src=") || tag.contains(r#"type="application/json""#),
            "inline script: {tag}"
        );
    }
}

#[test]
fn a_query_cannot_close_the_config_script_tag() {
    let query = "{ a } # </script><script>alert(1)</script> <!-- & -->";
    let html = page(&options_with_query(query));

    assert_eq!(html.matches("</script>").count(), 1 + 4, "config + 4 scripts");
    let block = config_block(&html);
    assert!(!block.contains('<') && !block.contains('>') && !block.contains('&'));
    assert!(block.contains(r"\u003c/script\u003e"));

    let config: Value = serde_json::from_str(block).unwrap();
    assert_eq!(config["tabs"][0]["query"], query, "JSON.parse gives it back");
}

#[test]
fn the_config_carries_endpoint_tabs_and_default_headers() {
    let mut options = options_with_query("query Menu { __typename }");
    options.tabs.push(Tab {
        query: "{ second }".to_owned(),
        variables: None,
        headers: Some("{}".to_owned()),
    });
    let html = page(&options);
    let config: Value = serde_json::from_str(config_block(&html)).unwrap();

    assert_eq!(config["endpoint"], "/graphql");
    assert_eq!(config["defaultHeaders"], r#"{"Authorization": "Bearer demo"}"#);
    assert_eq!(config["tabs"][0]["query"], "query Menu { __typename }");
    assert_eq!(config["tabs"][0]["variables"], r#"{"id": "r-1"}"#);
    assert_eq!(
        config["tabs"][0]["headers"], r#"{"Authorization": "Bearer demo"}"#,
        "a tab without headers gets the default ones"
    );
    assert_eq!(config["tabs"][1]["variables"], Value::Null);
    assert_eq!(config["tabs"][1]["headers"], "{}");
    assert!(html.contains("<title>Gateway &lt;playground&gt;</title>"));
    assert_eq!(config["freshKey"], FRESH_KEY);
    assert_eq!(config["carry"], Value::Null);
}

#[test]
fn the_config_carries_what_goes_from_an_answer_into_another_tab() {
    let mut options = options_with_query("mutation Place { place { id } }");
    options.carry = Some(Carry {
        path: vec!["place".to_owned(), "id".to_owned()],
        placeholder: "<the id Place answers>".to_owned(),
    });
    let config: Value = serde_json::from_str(config_block(&page(&options))).unwrap();
    assert_eq!(
        config["carry"],
        json!({"path": ["place", "id"], "placeholder": "<the id Place answers>"})
    );
}

#[tokio::test]
async fn every_asset_answers_200_with_its_content_type_and_caching_headers() {
    for asset in ASSETS {
        let response = get(&format!("{ASSET_PREFIX}{}", asset.name)).await;
        assert_eq!(response.status(), StatusCode::OK, "{}", asset.name);
        let headers = response.headers();
        assert_eq!(headers[header::CONTENT_TYPE], asset.content_type);
        assert_eq!(headers[header::CACHE_CONTROL], "public, max-age=31536000, immutable");
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        let body = to_bytes(response.into_body(), usize::MAX).await.unwrap();
        assert_eq!(body.as_ref(), asset.body, "{}", asset.name);
    }
    let js = get(&format!("{ASSET_PREFIX}graphiql.min.js")).await;
    assert_eq!(js.headers()[header::CONTENT_TYPE], "text/javascript; charset=utf-8");
    let css = get(&format!("{ASSET_PREFIX}graphiql.min.css")).await;
    assert_eq!(css.headers()[header::CONTENT_TYPE], "text/css; charset=utf-8");
}

#[tokio::test]
async fn an_unknown_asset_is_404() {
    for path in [
        format!("{ASSET_PREFIX}graphiql.min.js.map"),
        format!("{ASSET_PREFIX}../Cargo.toml"),
        "/graphiql/0.0.0/graphiql.min.js".to_owned(),
        ASSET_PREFIX.to_owned(),
    ] {
        assert_eq!(get(&path).await.status(), StatusCode::NOT_FOUND, "{path}");
    }
}

#[tokio::test]
async fn assets_answer_only_get_and_head() {
    let url = format!("{ASSET_PREFIX}init.js");
    let head = Request::head(&url).body(Body::empty()).unwrap();
    assert_eq!(asset_router().oneshot(head).await.unwrap().status(), StatusCode::OK);
    let post = Request::builder()
        .method(Method::POST)
        .uri(&url)
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        asset_router().oneshot(post).await.unwrap().status(),
        StatusCode::METHOD_NOT_ALLOWED
    );
}

/// The `connect-src` directive of the policy for `host`.
fn connect_src(host: Option<&str>) -> String {
    content_security_policy(host)
        .split(';')
        .map(str::trim)
        .find(|directive| directive.starts_with("connect-src"))
        .expect("connect-src")
        .to_owned()
}

#[test]
fn the_csp_lets_the_page_open_websockets_to_its_own_host() {
    assert_eq!(
        connect_src(Some("127.0.0.1:4000")),
        "connect-src 'self' ws://127.0.0.1:4000 wss://127.0.0.1:4000"
    );
    assert_eq!(
        connect_src(Some("gateway.example")),
        "connect-src 'self' ws://gateway.example wss://gateway.example"
    );
    assert_eq!(
        connect_src(Some("[::1]:4000")),
        "connect-src 'self' ws://[::1]:4000 wss://[::1]:4000"
    );
    assert_eq!(connect_src(None), "connect-src 'self'");
}

#[test]
fn a_host_that_is_not_a_plain_name_and_port_adds_no_source() {
    for host in [
        "",
        "evil.example; script-src *",
        "a b",
        "*",
        "x:",
        "x:123456",
        "x:80:80",
        "user@x",
        "[::1",
        "[]:80",
        "[::1]x",
        "[zz]",
    ] {
        assert_eq!(connect_src(Some(host)), "connect-src 'self'", "{host:?}");
    }
}

#[test]
fn the_csp_allows_no_inline_or_eval_script() {
    let csp = content_security_policy(Some("127.0.0.1:4000"));
    let script_src = csp
        .split(';')
        .map(str::trim)
        .find(|directive| directive.starts_with("script-src"))
        .expect("script-src");
    assert_eq!(script_src, "script-src 'self'");
    assert!(!csp.contains("unsafe-eval"));
    assert!(csp.contains("frame-ancestors 'none'"));
}

#[test]
fn a_notice_is_one_escaped_line_above_the_playground() {
    let mut options = options_with_query("{ __typename }");
    assert!(!page(&options).contains("graphiql-notice"));
    options.notice = Some(r#"Add "Authorization": "Bearer <token>""#.to_owned());
    let html = page(&options);
    let notice = html.find(r#"<p class="graphiql-notice">"#).expect("the notice");
    assert!(notice < html.find(r#"<div id="graphiql">"#).unwrap());
    assert!(html.contains("Add &quot;Authorization&quot;: &quot;Bearer &lt;token&gt;&quot;</p>"));
}
