//! What the server does to bytes and addresses, below HTTP semantics: response
//! compression, compressed request bodies, the client's address behind trusted
//! proxies, and `Connection: close` while draining.

use std::net::{IpAddr, SocketAddr};

use axum::{
    body::Body,
    extract::Request,
    http::{HeaderMap, HeaderValue, StatusCode, Version, header},
};
use tower::{Layer, Service, layer::util::Stack, util::MapRequestLayer};
use tower_http::{
    CompressionLevel,
    compression::{
        CompressionLayer,
        predicate::{NotForContentType, Predicate, SizeAbove},
    },
    decompression::RequestDecompressionLayer,
};

use crate::config::CompressionConfig;

/// The peer of a connection, put on each of its requests by [`super::serve_with`].
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub SocketAddr);

/// The client's address: the peer's, or behind a trusted proxy the last untrusted
/// address of `X-Forwarded-For`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

/// An IP address or a CIDR block (`10.0.0.0/8`, `fd00::/8`, `127.0.0.1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpBlock {
    network: IpAddr,
    prefix: u8,
}

impl IpBlock {
    /// Parses `a.b.c.d`, `a.b.c.d/n`, an IPv6 address or block; `None` if it is not one.
    pub fn parse(text: &str) -> Option<Self> {
        let (address, prefix) = match text.trim().split_once('/') {
            Some((address, prefix)) => (address, Some(prefix.parse::<u8>().ok()?)),
            None => (text.trim(), None),
        };
        let network: IpAddr = address.parse().ok()?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        (prefix <= max).then_some(Self { network, prefix })
    }

    /// Whether `ip` is inside the block (an IPv4-mapped IPv6 address counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.network, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// The client's address for a request from `peer` with `headers`: `X-Forwarded-For`
/// counts only when `peer` is one of `trusted`, read from the right, skipping the
/// trusted proxies; a malformed entry stops the walk at the last good address.
pub fn client_addr(peer: IpAddr, headers: &HeaderMap, trusted: &[IpBlock]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|block| block.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    let mut client = peer;
    let hops = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .collect::<Vec<_>>();
    for hop in hops.iter().rev() {
        let Ok(ip) = hop.trim().parse::<IpAddr>() else {
            break;
        };
        client = ip;
        if !is_trusted(ip) {
            break;
        }
    }
    client
}

/// Whether a response is worth compressing and safe to: not a protocol switch
/// (WebSocket), not an event stream or a multipart subscription (each event must go
/// out when it happens), not already-compressed media, and at least `min_bytes`
/// long (a body of unknown length counts as long). Never, with compression off
/// (then no `Vary: Accept-Encoding` either).
#[derive(Debug, Clone, Copy)]
pub struct WorthCompressing {
    on: bool,
    min_bytes: u16,
}

impl Predicate for WorthCompressing {
    fn should_compress<B>(&self, response: &axum::http::Response<B>) -> bool
    where
        B: axum::body::HttpBody,
    {
        self.on
            && response.status() != StatusCode::SWITCHING_PROTOCOLS
            && !response.headers().contains_key(header::UPGRADE)
            && SizeAbove::new(self.min_bytes)
                .and(NotForContentType::SSE)
                .and(NotForContentType::GRPC)
                .and(NotForContentType::IMAGES)
                .and(NotForContentType::const_new("multipart/mixed"))
                .should_compress(response)
    }
}

/// One encoding's compression, as tower-http does it.
type OneEncoding<S> = tower_http::compression::Compression<S, WorthCompressing>;

/// Response compression: zstd, then gzip, then br, the first one the client
/// accepts (`Accept-Encoding`; q-values only as far as `q=0` refuses), each at its
/// configured level, with `Vary: Accept-Encoding`; none when `config.enabled` is
/// false.
///
/// tower-http's layer compresses at one level for every encoding and picks the
/// encoding by the client's q-values; to keep a level per encoding and the
/// server's order, [`Negotiated`] holds one single-encoding layer per encoding
/// and sends each request through the one [`preferred`] names, so that a request
/// pays for one layer, and a response body holds one encoder's state (some
/// 5.8 KB inline, moved with the response).
///
/// The order follows the figures for HomeScreen's 69 KB answer (docs/performance.md):
/// zstd 3 makes 8.3 KB for about 0.2 ms of CPU, gzip 1 10.4 KB for about 0.1 ms,
/// while brotli needs level 4 (2.7 ms) to do better than gzip 1, so br goes only
/// to clients that take neither zstd nor gzip.
#[derive(Debug, Clone)]
pub struct ResponseCompression {
    zstd: CompressionLayer<WorthCompressing>,
    gzip: CompressionLayer<WorthCompressing>,
    br: CompressionLayer<WorthCompressing>,
}

/// [`ResponseCompression`] as `config` says.
pub fn compression(config: &CompressionConfig) -> ResponseCompression {
    let on = config.enabled;
    let worth = WorthCompressing {
        on,
        min_bytes: config.min_bytes,
    };
    let level = |n: u32| CompressionLevel::Precise(i32::try_from(n).unwrap_or(i32::MAX));
    let none = || CompressionLayer::new().no_gzip().no_br().no_zstd().no_deflate();
    ResponseCompression {
        zstd: none().zstd(on).quality(level(config.zstd_level)).compress_when(worth),
        gzip: none().gzip(on).quality(level(config.gzip_level)).compress_when(worth),
        br: none().br(on).quality(level(config.br_level)).compress_when(worth),
    }
}

impl<S: Clone> Layer<S> for ResponseCompression {
    type Service = Negotiated<S>;

    fn layer(&self, inner: S) -> Negotiated<S> {
        Negotiated {
            zstd: self.zstd.layer(inner.clone()),
            gzip: self.gzip.layer(inner.clone()),
            br: self.br.layer(inner),
        }
    }
}

/// The service [`ResponseCompression`] makes: `inner` behind one compression
/// layer per encoding, each request through one of them.
#[derive(Clone)]
pub struct Negotiated<S> {
    zstd: OneEncoding<S>,
    gzip: OneEncoding<S>,
    br: OneEncoding<S>,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Negotiated<S>
where
    S: Service<Request<ReqBody>, Response = axum::http::Response<ResBody>>,
    ResBody: axum::body::HttpBody,
{
    type Response = <OneEncoding<S> as Service<Request<ReqBody>>>::Response;
    type Error = S::Error;
    type Future = <OneEncoding<S> as Service<Request<ReqBody>>>::Future;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        // The three hold clones of one inner service; each is asked, as the one
        // `call` picks must be ready.
        std::task::ready!(self.zstd.poll_ready(cx))?;
        std::task::ready!(self.gzip.poll_ready(cx))?;
        self.br.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        // With none accepted, any of them answers identity (with `Vary`).
        match preferred(request.headers()) {
            Some(Coding::Gzip) => self.gzip.call(request),
            Some(Coding::Br) => self.br.call(request),
            Some(Coding::Zstd) | None => self.zstd.call(request),
        }
    }
}

/// The encodings the gateway compresses with, in the server's order of preference
/// (the first is the least: the best).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Coding {
    Zstd,
    Gzip,
    Br,
}

/// The first of zstd, gzip and br that the request's `Accept-Encoding` accepts:
/// named (gzip also as `x-gzip`, case aside) with no q-value or a q-value above 0.
/// tower-http parses the header again, the same way, in the layer it picks.
fn preferred(headers: &HeaderMap) -> Option<Coding> {
    let mut best: Option<Coding> = None;
    let accepted = headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','));
    for item in accepted {
        let mut parts = item.splitn(2, ';');
        let name = parts.next().unwrap_or_default().trim();
        let coding = if name.eq_ignore_ascii_case("zstd") {
            Coding::Zstd
        } else if name.eq_ignore_ascii_case("gzip") || name.eq_ignore_ascii_case("x-gzip") {
            Coding::Gzip
        } else if name.eq_ignore_ascii_case("br") {
            Coding::Br
        } else {
            continue;
        };
        let refused = parts.next().is_some_and(|q| !q_above_zero(q.trim()));
        if !refused && best.is_none_or(|best| coding < best) {
            best = Some(coding);
        }
    }
    best
}

/// Whether `q` is a q-value (`q=0`, `q=0.5`, `q=1.000`: RFC 9110, 12.4.2) above 0.
fn q_above_zero(q: &str) -> bool {
    let Some(value) = q.strip_prefix("q=").or_else(|| q.strip_prefix("Q=")) else {
        return false;
    };
    let (whole, fraction) = value.split_once('.').unwrap_or((value, ""));
    let digits = fraction.len() <= 3 && fraction.bytes().all(|b| b.is_ascii_digit());
    match whole {
        "1" => digits && fraction.bytes().all(|b| b == b'0'),
        "0" => digits && fraction.bytes().any(|b| b != b'0'),
        _ => false,
    }
}

/// Request bodies sent with `Content-Encoding: gzip`, inflated as they are read.
/// The inflated body is held to `max_body_bytes` by the handlers' own limit
/// (`DefaultBodyLimit`, `413`); the compressed bytes are held to the same bound
/// here, so a stream that inflates to nothing cannot run on for ever. Other
/// encodings pass through to the handler, which refuses them (`415`).
pub fn decompression(
    max_body_bytes: usize,
) -> Stack<RequestDecompressionLayer, MapRequestLayer<impl Fn(Request) -> Request + Clone>> {
    let limit = move |request: Request| {
        if !request.headers().contains_key(header::CONTENT_ENCODING) {
            return request;
        }
        let (parts, body) = request.into_parts();
        let limited = http_body_util::Limited::new(body, max_body_bytes);
        Request::from_parts(parts, Body::new(limited))
    };
    Stack::new(
        RequestDecompressionLayer::new()
            .gzip(true)
            .no_br()
            .no_zstd()
            .no_deflate()
            .pass_through_unaccepted(true),
        MapRequestLayer::new(limit),
    )
}

/// `Connection: close` on every HTTP/1 answer once the gateway is draining, so that
/// keep-alive clients and balancers open their next connection elsewhere.
pub fn close_when_draining(headers: &mut HeaderMap, version: Version) {
    if version <= Version::HTTP_11 {
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;

    fn blocks(list: &[&str]) -> Vec<IpBlock> {
        list.iter().map(|b| IpBlock::parse(b).unwrap()).collect()
    }

    fn xff(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", value.parse().unwrap());
        headers
    }

    async fn encoding_of(router: Router, path: &str) -> Option<String> {
        accepting(router, path, Some("gzip, br, zstd")).await.0
    }

    /// The `Content-Encoding` and `Vary` of `path`'s answer to a request with
    /// `accept_encoding`.
    async fn accepting(router: Router, path: &str, accept_encoding: Option<&str>) -> (Option<String>, Option<String>) {
        use tower::ServiceExt as _;
        let mut request = Request::get(path);
        if let Some(value) = accept_encoding {
            request = request.header(header::ACCEPT_ENCODING, value);
        }
        let response = router.oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
        let header = |name| {
            response
                .headers()
                .get(name)
                .map(|v: &HeaderValue| v.to_str().unwrap().to_owned())
        };
        (header(header::CONTENT_ENCODING), header(header::VARY))
    }

    #[tokio::test]
    async fn each_answer_goes_through_the_first_encoding_the_client_accepts() {
        use axum::routing::get;
        let router = Router::new().route(
            "/json",
            get(|| async { ([(header::CONTENT_TYPE, "application/json")], "[1]".repeat(1000)) }),
        );
        let router = router.layer(compression(&CompressionConfig::default()));
        let cases = [
            (Some("gzip, deflate, br, zstd"), Some("zstd")),
            (Some("br;q=1, gzip;q=0.5"), Some("gzip")),
            (Some("zstd;q=0, x-gzip"), Some("gzip")),
            (Some("br"), Some("br")),
            (Some("deflate, identity"), None),
            (None, None),
        ];
        for (accept, expected) in cases {
            let (encoding, vary) = accepting(router.clone(), "/json", accept).await;
            assert_eq!(encoding.as_deref(), expected, "Accept-Encoding: {accept:?}");
            assert_eq!(vary.as_deref(), Some("accept-encoding"), "Accept-Encoding: {accept:?}");
        }
    }

    #[tokio::test]
    async fn with_compression_off_nothing_is_compressed_or_varied() {
        use axum::routing::get;
        let router = Router::new().route("/json", get(|| async { "[1]".repeat(1000) }));
        let off = CompressionConfig {
            enabled: false,
            ..CompressionConfig::default()
        };
        let router = router.layer(compression(&off));
        assert_eq!(accepting(router, "/json", Some("gzip, zstd")).await, (None, None));
    }

    #[test]
    fn the_server_order_wins_and_q_zero_refuses() {
        let preferred_of = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::ACCEPT_ENCODING, value.parse().unwrap());
            preferred(&headers)
        };
        assert_eq!(preferred_of("br, gzip, zstd"), Some(Coding::Zstd));
        assert_eq!(preferred_of("br;q=1.0, GZIP;q=0.1"), Some(Coding::Gzip));
        assert_eq!(preferred_of("zstd;q=0.000, br"), Some(Coding::Br));
        assert_eq!(preferred_of("zstd;q=0.001"), Some(Coding::Zstd));
        assert_eq!(preferred_of("zstd;q=1.5, zstd;q=2, zstd;q=abc, gzip;q=0.5000"), None);
        assert_eq!(preferred_of("deflate, *"), None);
        assert_eq!(preferred(&HeaderMap::new()), None);
    }

    #[tokio::test]
    async fn event_streams_and_protocol_switches_are_never_compressed() {
        use axum::routing::get;
        let big = "data: x\n\n".repeat(1000);
        let router = Router::new()
            .route(
                "/events",
                get(move || async move { ([(header::CONTENT_TYPE, "text/event-stream")], big) }),
            )
            .route(
                "/json",
                get(|| async { ([(header::CONTENT_TYPE, "application/json")], "[1]".repeat(1000)) }),
            )
            .route(
                "/ws",
                get(|| async { (StatusCode::SWITCHING_PROTOCOLS, [(header::UPGRADE, "websocket")]) }),
            );
        let router = router.layer(compression(&CompressionConfig::default()));
        assert_eq!(encoding_of(router.clone(), "/json").await.as_deref(), Some("zstd"));
        assert_eq!(encoding_of(router.clone(), "/events").await, None);
        assert_eq!(encoding_of(router, "/ws").await, None);
    }

    #[test]
    fn blocks_parse_and_contain() {
        let block = IpBlock::parse("10.0.0.0/8").unwrap();
        assert!(block.contains("10.1.2.3".parse().unwrap()));
        assert!(block.contains("::ffff:10.1.2.3".parse().unwrap()));
        assert!(!block.contains("11.0.0.1".parse().unwrap()));
        assert!(IpBlock::parse("fd00::/8").unwrap().contains("fd12::1".parse().unwrap()));
        assert!(
            IpBlock::parse("0.0.0.0/0")
                .unwrap()
                .contains("8.8.8.8".parse().unwrap())
        );
        for bad in ["10.0.0.0/33", "nope", "10.0.0/8", "::/129", ""] {
            assert!(IpBlock::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn forwarded_for_counts_only_from_trusted_proxies() {
        let trusted = blocks(&["10.0.0.0/8"]);
        let client: IpAddr = "203.0.113.7".parse().unwrap();
        // From a trusted proxy: the last untrusted hop.
        let got = client_addr(
            "10.0.0.2".parse().unwrap(),
            &xff("198.51.100.1, 203.0.113.7, 10.0.0.9"),
            &trusted,
        );
        assert_eq!(got, client);
        // From anyone else: the header is ignored.
        let peer: IpAddr = "198.51.100.50".parse().unwrap();
        assert_eq!(client_addr(peer, &xff("1.2.3.4"), &trusted), peer);
        // No trusted proxies configured: never believed.
        assert_eq!(
            client_addr("10.0.0.2".parse().unwrap(), &xff("1.2.3.4"), &[]),
            "10.0.0.2".parse::<IpAddr>().unwrap()
        );
        // Garbage stops the walk at the last good address.
        let got = client_addr("10.0.0.2".parse().unwrap(), &xff("1.2.3.4, garbage"), &trusted);
        assert_eq!(got, "10.0.0.2".parse::<IpAddr>().unwrap());
    }
}
