//! The self-hosted GraphiQL playground: its HTML page and the pinned, embedded files it
//! loads (GraphiQL 4.1.2 and React 18.3.1 UMD builds, plus our `init.js` and `page.css`).
//!
//! It owns the page markup, the asset routes under [`ASSET_PREFIX`] and the
//! Content-Security-Policy the page works under. Everything is compiled into the binary
//! (`include_bytes!`), so the playground works on machines without internet and the build
//! fetches nothing; `update-assets.sh` refreshes the third-party files and records their
//! hashes in `assets/SHA256SUMS`.
//!
//! It must not know the schema or where the GraphQL route lives: the caller mounts
//! [`asset_router`], serves [`page`] wherever it likes and sets the
//! [`content_security_policy`] header on that response.
//!
//! The page has no inline script: its configuration is a JSON data block
//! (`<script id="graphiql-config" type="application/json">`) that the static `init.js`
//! reads, so `script-src 'self'` suffices.
//!
//! Subscriptions run over a WebSocket (`graphql-transport-ws`) to the page's own
//! origin, at the endpoint's path: GraphiQL 4.1.2's UMD build bundles the `graphql-ws`
//! client that its `createFetcher({ subscriptionUrl })` loads, so no other file is
//! needed. `init.js` sends the headers pane (its `Authorization`) as the
//! `connection_init` payload.

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::{Value, json};

/// URL path prefix of every playground asset.
///
/// It names the GraphiQL version and a revision of our own files (`init.js`,
/// `page.css`): bump the revision whenever either changes, because browsers cache these
/// URLs for a year without asking again.
pub const ASSET_PREFIX: &str = "/graphiql/4.1.2-r4/";

/// A JSON string in a tab's variables (`"idempotencyKey": "<fresh on each page
/// load>"`) that `init.js` replaces with a key of its own on each page load:
/// `graphiql-` and 32 random hex digits. A key it wrote on an earlier load, kept in
/// the browser's stored tabs, is replaced too, so a reload never sends an old key.
pub const FRESH_KEY: &str = "<fresh on each page load>";

/// One tab the playground opens with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tab {
    /// GraphQL document shown in the query editor.
    pub query: String,
    /// JSON text for the variables editor, if any.
    pub variables: Option<String>,
    /// JSON text for the headers editor; `None` takes [`PageOptions::default_headers`].
    pub headers: Option<String>,
}

/// What the page is configured with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageOptions {
    /// URL (usually a path such as `/graphql`) that queries are POSTed to.
    pub endpoint: String,
    /// Tabs opened on a browser's first visit; the first is the active one. GraphiQL
    /// restores a browser's own stored tabs instead when it has some.
    pub tabs: Vec<Tab>,
    /// JSON text put into the headers pane of new tabs, e.g.
    /// `{"Authorization": "Bearer ..."}`; when set, the headers pane starts open.
    pub default_headers: Option<String>,
    /// Text of the page's `<title>`.
    pub title: String,
    /// Open the "Upstream calls" panel at start (the page asks for the upstream
    /// waterfall by default).
    pub show_upstream: bool,
    /// A line of text above the playground, e.g. where a token goes; `None`: no line.
    pub notice: Option<String>,
    /// A value carried from one answer into another tab's variables, e.g. the id of
    /// the order a mutation placed into the variables of the tab that follows it.
    pub carry: Option<Carry>,
}

/// A value the page carries from an answer into the variables of the tab that is
/// shown next: once an answer holds a string at `path`, `init.js` writes it in place
/// of the JSON string `placeholder` (or of the value it carried before) in the
/// variables of each tab the user opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Carry {
    /// Where the value is in an answer's `data`, e.g. `["placeOrder", "order", "id"]`.
    pub path: Vec<String>,
    /// The JSON string in a tab's variables that the value replaces.
    pub placeholder: String,
}

/// One embedded file served under [`ASSET_PREFIX`].
struct Asset {
    /// File name, the last segment of its URL.
    name: &'static str,
    /// `Content-Type` it is served with.
    content_type: &'static str,
    /// The file itself.
    body: &'static [u8],
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";

/// Every file the playground serves. Scripts are listed in load order.
const ASSETS: &[Asset] = &[
    Asset {
        name: "graphiql.min.css",
        content_type: CSS,
        body: include_bytes!("assets/graphiql.min.css"),
    },
    Asset {
        name: "page.css",
        content_type: CSS,
        body: include_bytes!("page.css"),
    },
    Asset {
        name: "react.production.min.js",
        content_type: JS,
        body: include_bytes!("assets/react.production.min.js"),
    },
    Asset {
        name: "react-dom.production.min.js",
        content_type: JS,
        body: include_bytes!("assets/react-dom.production.min.js"),
    },
    Asset {
        name: "graphiql.min.js",
        content_type: JS,
        body: include_bytes!("assets/graphiql.min.js"),
    },
    Asset {
        name: "init.js",
        content_type: JS,
        body: include_bytes!("init.js"),
    },
    Asset {
        name: "LICENSE-graphiql",
        content_type: TEXT,
        body: include_bytes!("assets/LICENSE-graphiql"),
    },
    Asset {
        name: "LICENSE-react",
        content_type: TEXT,
        body: include_bytes!("assets/LICENSE-react"),
    },
    Asset {
        name: "LICENSE-react-dom",
        content_type: TEXT,
        body: include_bytes!("assets/LICENSE-react-dom"),
    },
];

/// The full HTML page: GraphiQL talking to `options.endpoint`, loading its files from
/// [`ASSET_PREFIX`]. Serve it with the [`content_security_policy`] header.
pub fn page(options: &PageOptions) -> String {
    let mut head = String::new();
    for asset in ASSETS {
        let url = format!("{ASSET_PREFIX}{}", asset.name);
        let tag = match asset.content_type {
            CSS => format!(r#"<link rel="stylesheet" href="{url}">"#),
            // `defer` keeps the order and runs after the config block is parsed.
            JS => format!(r#"<script src="{url}" defer></script>"#),
            _ => format!(r#"<link rel="license" href="{url}">"#),
        };
        head.push_str("    ");
        head.push_str(&tag);
        head.push('\n');
    }
    format!(
        r#"<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <meta name="robots" content="noindex">
    <link rel="icon" href="data:,">
    <title>{title}</title>
    <script id="graphiql-config" type="application/json">{config}</script>
{head}  </head>
  <body>
{notice}    <div id="graphiql">Loading…</div>
  </body>
</html>
"#,
        notice = options
            .notice
            .as_deref()
            .map(|text| format!("    <p class=\"graphiql-notice\">{}</p>\n", escape_html(text)))
            .unwrap_or_default(),
        title = escape_html(&options.title),
        config = script_safe_json(&config_json(options)),
    )
}

/// The `Content-Security-Policy` value the page works under, checked in headless
/// Chromium (see `browser-check.mjs`): rendering, running a query, the docs and
/// history panes, autocompletion, the settings and shortcuts dialogs and a
/// subscription raise no violation.
///
/// `connect-src` allows the page's own origin and, for subscriptions, WebSockets to
/// `host` (the request's `Host`, as the browser sees it): `ws://host` and
/// `wss://host`, since the TLS may end at a proxy in front of the gateway. CSP 3
/// lets `'self'` match them too, which older browsers do not; a `host` that is not
/// a plain `name[:port]` or `[IPv6][:port]` adds nothing.
///
/// No inline or eval'd script. `style-src 'unsafe-inline'` is needed because GraphiQL's
/// dialogs insert a `<style>` element at run time (react-remove-scroll-bar, whose text
/// holds the scrollbar width, so a hash would not be stable); without it they log a
/// violation. Its fonts and icons are `data:` URLs inside its CSS, and the page's
/// favicon is `data:` (so the browser does not ask for `/favicon.ico`).
pub fn content_security_policy(host: Option<&str>) -> String {
    let websockets = host
        .filter(|host| is_plain_host(host))
        .map(|host| format!(" ws://{host} wss://{host}"))
        .unwrap_or_default();
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
         img-src 'self' data:; font-src 'self' data:; connect-src 'self'{websockets}; \
         base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
}

/// Whether `host` is a host name or address with an optional port and nothing
/// else, so that it can stand in a CSP source list as it is.
fn is_plain_host(host: &str) -> bool {
    let (name_ok, port) = match host.strip_prefix('[') {
        Some(rest) => {
            let Some((address, port)) = rest.split_once(']') else {
                return false;
            };
            let address_ok =
                !address.is_empty() && address.chars().all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.');
            (address_ok, port)
        }
        None => {
            let (name, port) = host.split_at(host.find(':').unwrap_or(host.len()));
            let name_ok = !name.is_empty()
                && name.len() <= 253
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
            (name_ok, port)
        }
    };
    let port_ok = port.is_empty()
        || port
            .strip_prefix(':')
            .is_some_and(|digits| (1..=5).contains(&digits.len()) && digits.chars().all(|c| c.is_ascii_digit()));
    name_ok && port_ok
}

/// Router serving the pinned assets under [`ASSET_PREFIX`] (GET, and so HEAD, only),
/// each with its content type, `Cache-Control: public, max-age=31536000, immutable`
/// (the URL carries the version) and `X-Content-Type-Options: nosniff`. Any other
/// path under the prefix answers 404.
pub fn asset_router() -> Router {
    ASSETS.iter().fold(Router::new(), |router, asset| {
        let path = format!("{ASSET_PREFIX}{}", asset.name);
        let (content_type, body) = (asset.content_type, asset.body);
        router.route(
            &path,
            get(move || async move {
                (
                    [
                        (header::CONTENT_TYPE, content_type),
                        (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
                        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
                    ],
                    body,
                )
                    .into_response()
            }),
        )
    })
}

/// The configuration `init.js` reads. A tab without headers gets the default headers,
/// since GraphiQL applies `defaultHeaders` only to tabs opened later.
fn config_json(options: &PageOptions) -> Value {
    let tabs: Vec<Value> = options
        .tabs
        .iter()
        .map(|tab| {
            json!({
                "query": tab.query,
                "variables": tab.variables,
                "headers": tab.headers.as_ref().or(options.default_headers.as_ref()),
            })
        })
        .collect();
    json!({
        "endpoint": options.endpoint,
        "tabs": tabs,
        "defaultHeaders": options.default_headers,
        "showUpstream": options.show_upstream,
        "freshKey": FRESH_KEY,
        "carry": options.carry.as_ref().map(|carry| json!({
            "path": carry.path,
            "placeholder": carry.placeholder,
        })),
    })
}

/// JSON text that can sit inside `<script>…</script>`: `<`, `>` and `&` become `\u003c`
/// and friends, so no string in it can close the tag or open a comment. JSON.parse
/// reads them back unchanged.
fn script_safe_json(value: &Value) -> String {
    let text = value.to_string();
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            // Outside strings JSON has none of these, so escaping is always valid.
            c => out.push(c),
        }
    }
    out
}

/// Text safe as HTML element content or a quoted attribute value.
fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests;
