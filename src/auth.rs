//! Bearer-token authentication: who is asking.
//!
//! A token is a JWT whose `sub` is the user's id. The one accepted algorithm is
//! pinned by configuration (`auth.algorithm`), never taken from the token, so
//! `alg: none` and algorithm confusion are refused:
//!
//! - `HS256` with `auth.jwt_secret` (development, and the `token` command);
//! - `RS256` / `ES256` with a PEM public key (`auth.public_key_file`) or a JSON
//!   Web Key Set (`auth.jwks_url`), fetched at start, again every
//!   `auth.jwks_refresh`, and when a token names an unknown `kid` (at most once per
//!   `auth.jwks_cooldown`, so forged `kid`s cannot make the gateway hammer the
//!   key server).
//!
//! `exp` is required and `nbf` checked, both with `auth.leeway`; `iss` and `aud`
//! when configured (`aud` as one string or an array that holds the audience). The
//! JWKS client follows no redirect, and production refuses a plain-`http` JWKS URL
//! at start (`Config::validate`). The only way the rest of the gateway learns a [`UserId`] is
//! [`Authenticator::authenticate`].

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, RwLock},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use jsonwebtoken::{
    Algorithm, DecodingKey, EncodingKey, Header, Validation,
    jwk::{JwkSet, KeyAlgorithm, PublicKeyUse},
};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::{
    config::{AuthConfig, JwtAlgorithm},
    contract::UserId,
};

pub mod ring_jwt;

/// Largest JWKS document read.
const MAX_JWKS_BYTES: usize = 256 * 1024;

/// The claims the gateway reads and writes.
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    /// The user's id, as a decimal string.
    sub: String,
    /// Expiry, seconds since the epoch.
    exp: u64,
    /// Issued at, seconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    iat: Option<u64>,
    /// Issuer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    iss: Option<String>,
    /// Audience: one or several (jsonwebtoken checks it against `auth.audience`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    aud: Option<Audience>,
    /// Space-separated scopes (OAuth 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
}

/// The `aud` claim, which RFC 7519 (4.1.3) allows as one string or an array of
/// them; identity providers issue both. Only read so that either form decodes: the
/// check against `auth.audience` is jsonwebtoken's.
#[derive(Debug, Serialize, Deserialize)]
#[serde(untagged)]
enum Audience {
    /// `"aud": "delivery"`.
    One(String),
    /// `"aud": ["delivery", "billing"]`.
    Many(Vec<String>),
}

/// Who a valid token names, and what it may do beyond reading that user's data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The signed-in user.
    pub user: UserId,
    /// The token's scopes (`scope` claim).
    pub scopes: Vec<String>,
}

impl Identity {
    /// Whether the token carries `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

/// Why a presented token was refused. Surfaces as HTTP 401 with the GraphQL error
/// code `UNAUTHENTICATED`; the variant's text is safe to show.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The `Authorization` header is not `Bearer <token>`.
    #[error("the Authorization header must be `Bearer <token>`")]
    Malformed,
    /// Signature, algorithm, expiry, issuer, audience or format is wrong, or no
    /// key is known for the token's `kid`.
    #[error("the bearer token is invalid or expired")]
    Invalid,
    /// `sub` is missing or is not a positive user id.
    #[error("the bearer token does not name a user")]
    NoSubject,
}

/// Where verification keys come from.
#[derive(Clone)]
enum Keys {
    /// One key: the HS256 secret or a PEM public key.
    Static(DecodingKey),
    /// A JSON Web Key Set, cached.
    Jwks(Arc<Jwks>),
}

/// Checks and mints bearer tokens.
#[derive(Clone)]
pub struct Authenticator {
    keys: Keys,
    /// Only for HS256: the secret signs tokens too.
    encoding: Option<EncodingKey>,
    validation: Validation,
    token_ttl: Duration,
    issuer: Option<String>,
    audience: Option<String>,
}

impl Authenticator {
    /// Builds it from the `auth` configuration (validated by `Config::validate`).
    /// With a JWKS URL and inside a tokio runtime, starts the key refresher, which
    /// stops when the last clone of the authenticator is dropped.
    pub fn new(config: &AuthConfig) -> Self {
        ring_jwt::install();
        let algorithm = match config.algorithm {
            JwtAlgorithm::HS256 => Algorithm::HS256,
            JwtAlgorithm::RS256 => Algorithm::RS256,
            JwtAlgorithm::ES256 => Algorithm::ES256,
        };
        let mut validation = Validation::new(algorithm);
        validation.leeway = config.leeway.as_secs();
        validation.validate_nbf = true;
        // A configured `iss` / `aud` must be present, not only right when present.
        let mut required = vec!["exp", "sub"];
        required.extend(config.issuer.as_ref().map(|_| "iss"));
        required.extend(config.audience.as_ref().map(|_| "aud"));
        validation.set_required_spec_claims(&required);
        if let Some(issuer) = &config.issuer {
            validation.set_issuer(&[issuer]);
        }
        match &config.audience {
            Some(audience) => validation.set_audience(&[audience]),
            None => validation.validate_aud = false,
        }
        let (keys, encoding) = match (algorithm, &config.public_key_file, &config.jwks_url) {
            (Algorithm::HS256, _, _) => (
                Keys::Static(DecodingKey::from_secret(config.jwt_secret.as_bytes())),
                Some(EncodingKey::from_secret(config.jwt_secret.as_bytes())),
            ),
            (_, Some(file), _) => {
                let key = std::fs::read(file)
                    .map_err(|e| e.to_string())
                    .and_then(|pem| pem_key(algorithm, &pem).map_err(|e| e.to_string()));
                match key {
                    Ok(key) => (Keys::Static(key), None),
                    Err(error) => {
                        tracing::error!(%error, file = %file.display(), "auth.public_key_file cannot be read: every token is refused");
                        (Keys::Jwks(Arc::new(Jwks::empty(algorithm))), None)
                    }
                }
            }
            (_, None, Some(url)) => {
                let jwks = Arc::new(Jwks::new(
                    url.clone(),
                    algorithm,
                    config.jwks_cooldown,
                    &config.jwks_tls,
                ));
                Jwks::start_refresher(&jwks, config.jwks_refresh);
                (Keys::Jwks(jwks), None)
            }
            (_, None, None) => (Keys::Jwks(Arc::new(Jwks::empty(algorithm))), None),
        };
        Self {
            keys,
            encoding,
            validation,
            token_ttl: config.token_ttl,
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
        }
    }

    /// Who an `Authorization` header value names. `Ok(None)` when there is no
    /// header (anonymous).
    pub async fn authenticate(&self, header: Option<&[u8]>) -> Result<Option<Identity>, AuthError> {
        let Some(header) = header else {
            return Ok(None);
        };
        let header = std::str::from_utf8(header).map_err(|_| AuthError::Malformed)?;
        let (scheme, token) = header.trim().split_once(' ').ok_or(AuthError::Malformed)?;
        let token = token.trim();
        if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
            return Err(AuthError::Malformed);
        }
        let key = match &self.keys {
            Keys::Static(key) => key.clone(),
            Keys::Jwks(jwks) => {
                let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::Invalid)?;
                if header.alg != self.validation.algorithms[0] {
                    return Err(AuthError::Invalid);
                }
                jwks.key(header.kid.as_deref()).await.ok_or(AuthError::Invalid)?
            }
        };
        let data = jsonwebtoken::decode::<Claims>(token, &key, &self.validation).map_err(|_| AuthError::Invalid)?;
        let id: u64 = data.claims.sub.parse().map_err(|_| AuthError::NoSubject)?;
        if id == 0 {
            return Err(AuthError::NoSubject);
        }
        let scopes = data
            .claims
            .scope
            .as_deref()
            .unwrap_or("")
            .split_ascii_whitespace()
            .take(64)
            .map(str::to_owned)
            .collect();
        Ok(Some(Identity {
            user: UserId(id),
            scopes,
        }))
    }

    /// Whether [`Authenticator::mint`] can sign tokens: only with HS256, whose
    /// secret signs as well as verifies.
    pub fn can_mint(&self) -> bool {
        self.encoding.is_some()
    }

    /// A token for `user` that this configuration accepts, valid for
    /// `auth.token_ttl`; empty when the configuration holds no signing key
    /// (RS256/ES256: see [`Authenticator::can_mint`]).
    pub fn mint(&self, user: UserId) -> String {
        self.mint_with_scopes(user, &[])
    }

    /// Like [`Authenticator::mint`], with a `scope` claim.
    pub fn mint_with_scopes(&self, user: UserId, scopes: &[&str]) -> String {
        let Some(encoding) = &self.encoding else {
            return String::new();
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let claims = Claims {
            sub: user.0.to_string(),
            exp: now + self.token_ttl.as_secs(),
            iat: Some(now),
            iss: self.issuer.clone(),
            aud: self.audience.clone().map(Audience::One),
            scope: (!scopes.is_empty()).then(|| scopes.join(" ")),
        };
        // HS256 over a serialisable struct cannot fail with a valid key.
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, encoding).unwrap_or_default()
    }
}

/// A public key in PEM for `algorithm`.
pub fn pem_key(algorithm: Algorithm, pem: &[u8]) -> Result<DecodingKey, jsonwebtoken::errors::Error> {
    match algorithm {
        Algorithm::ES256 => DecodingKey::from_ec_pem(pem),
        _ => DecodingKey::from_rsa_pem(pem),
    }
}

/// A cached JSON Web Key Set.
struct Jwks {
    url: Option<Url>,
    algorithm: Algorithm,
    client: reqwest::Client,
    /// Keys by `kid` (`""` for a key without one).
    keys: RwLock<Arc<HashMap<String, DecodingKey>>>,
    /// When the last fetch started, for the unknown-`kid` rate limit.
    last_fetch: Mutex<Option<Instant>>,
    /// One fetch at a time; requests that missed wait for it, then look again.
    fetching: tokio::sync::Mutex<()>,
    cooldown: Duration,
}

impl Jwks {
    fn new(url: Url, algorithm: Algorithm, cooldown: Duration, tls: &crate::config::TlsFiles) -> Self {
        let empty = Self::empty(algorithm).with_cooldown(cooldown);
        // TLS: the platform's roots plus `auth.jwks_tls.ca_file`, an optional client
        // certificate. Files are checked at start (`Config::validate`).
        let client = crate::tls::client_builder(Self::client_builder(), tls).and_then(|builder| {
            builder
                .build()
                .map_err(|e| crate::tls::TlsError::from(format!("the JWKS client: {e}")))
        });
        match client {
            Ok(client) => Self {
                url: Some(url),
                client,
                ..empty
            },
            Err(error) => {
                tracing::error!(%error, "auth.jwks_tls: the key set cannot be fetched: every token is refused");
                empty
            }
        }
    }

    /// The JWKS client's settings, before TLS.
    fn client_builder() -> reqwest::ClientBuilder {
        // A redirect is an error, never followed: the key set comes from the
        // configured URL only (the audit's finding 4).
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(3))
            .connect_timeout(Duration::from_secs(1))
    }

    /// A set with no keys and nowhere to fetch them: refuses every token.
    fn empty(algorithm: Algorithm) -> Self {
        Self {
            url: None,
            algorithm,
            client: crate::tls::client_builder(Self::client_builder(), &Default::default())
                .and_then(|b| b.build().map_err(|e| crate::tls::TlsError::from(e.to_string())))
                .unwrap_or_default(),
            keys: RwLock::new(Arc::new(HashMap::new())),
            last_fetch: Mutex::new(None),
            fetching: tokio::sync::Mutex::new(()),
            cooldown: Duration::ZERO,
        }
    }

    fn with_cooldown(mut self, cooldown: Duration) -> Self {
        self.cooldown = cooldown;
        self
    }

    /// Fetches now and then every `every`, until the set is dropped.
    fn start_refresher(jwks: &Arc<Jwks>, every: Duration) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return; // no runtime (the `token` command): keys are fetched on demand
        };
        let weak = Arc::downgrade(jwks);
        runtime.spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let Some(jwks) = weak.upgrade() else { break };
                // Timer fetches do not count against the unknown-`kid` cooldown.
                let _one_at_a_time = jwks.fetching.lock().await;
                jwks.refresh().await;
            }
        });
    }

    /// The key for `kid` (the only key, for a token without one), fetching the
    /// set again when it is unknown and the cooldown allows.
    async fn key(&self, kid: Option<&str>) -> Option<DecodingKey> {
        if let Some(key) = self.lookup(kid) {
            return Some(key);
        }
        let _one_at_a_time = self.fetching.lock().await;
        if let Some(key) = self.lookup(kid) {
            return Some(key); // fetched while this request waited
        }
        if !self.may_fetch() {
            return None;
        }
        self.refresh().await;
        self.lookup(kid)
    }

    fn lookup(&self, kid: Option<&str>) -> Option<DecodingKey> {
        let keys = self.keys.read().map(|k| Arc::clone(&k)).ok()?;
        match kid {
            Some(kid) => keys.get(kid).cloned(),
            None if keys.len() == 1 => keys.values().next().cloned(),
            None => None,
        }
    }

    /// Whether the cooldown since the last fetch has passed; if so, counts a fetch.
    fn may_fetch(&self) -> bool {
        let Ok(mut last) = self.last_fetch.lock() else {
            return false;
        };
        match *last {
            Some(at) if at.elapsed() < self.cooldown => false,
            _ => {
                *last = Some(Instant::now());
                true
            }
        }
    }

    /// Fetches the set and replaces the cache; on failure keeps the old keys.
    async fn refresh(&self) {
        let Some(url) = &self.url else { return };
        match self.fetch(url).await {
            Ok(keys) => {
                tracing::debug!(keys = keys.len(), "JWKS fetched");
                if let Ok(mut cache) = self.keys.write() {
                    *cache = Arc::new(keys);
                }
            }
            Err(error) => tracing::warn!(%error, "JWKS fetch failed; keeping the keys we had"),
        }
    }

    async fn fetch(&self, url: &Url) -> Result<HashMap<String, DecodingKey>, JwksError> {
        let response = self.client.get(url.clone()).send().await?;
        if response.status().is_redirection() {
            return Err(JwksError::Redirect(response.status()));
        }
        let mut response = response.error_for_status()?;
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            if body.len() + chunk.len() > MAX_JWKS_BYTES {
                return Err(JwksError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        let set: JwkSet = serde_json::from_slice(&body)?;
        let wanted = match self.algorithm {
            Algorithm::ES256 => KeyAlgorithm::ES256,
            _ => KeyAlgorithm::RS256,
        };
        Ok(set
            .keys
            .iter()
            .filter(|jwk| matches!(jwk.common.public_key_use, None | Some(PublicKeyUse::Signature)))
            .filter(|jwk| jwk.common.key_algorithm.is_none_or(|a| a == wanted))
            .filter_map(|jwk| {
                let key = DecodingKey::from_jwk(jwk).ok()?;
                Some((jwk.common.key_id.clone().unwrap_or_default(), key))
            })
            .collect())
    }
}

/// Why a JWKS fetch failed (logged; the old keys stay).
#[derive(Debug, thiserror::Error)]
enum JwksError {
    #[error("JWKS request failed: {0}")]
    Http(#[from] reqwest::Error),
    #[error("JWKS is not a JSON Web Key Set: {0}")]
    Json(#[from] serde_json::Error),
    #[error("JWKS is larger than {MAX_JWKS_BYTES} bytes")]
    TooLarge,
    #[error("the JWKS URL answered {0}: redirects are not followed (set auth.jwks_url to where the keys are)")]
    Redirect(reqwest::StatusCode),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn authenticator() -> Authenticator {
        Authenticator::new(&AuthConfig::default())
    }

    fn bearer(token: &str) -> Vec<u8> {
        format!("Bearer {token}").into_bytes()
    }

    fn check(auth: &Authenticator, token: &str) -> Result<Option<UserId>, AuthError> {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        runtime
            .block_on(auth.authenticate(Some(&bearer(token))))
            .map(|id| id.map(|i| i.user))
    }

    fn claims(sub: &str, exp: u64) -> Claims {
        Claims {
            sub: sub.into(),
            exp,
            iat: None,
            iss: None,
            aud: None,
            scope: None,
        }
    }

    fn fixture(name: &str) -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name)
    }

    #[test]
    fn a_minted_token_names_its_user() {
        let auth = authenticator();
        let token = auth.mint(UserId(42));
        assert_eq!(check(&auth, &token), Ok(Some(UserId(42))));
    }

    #[tokio::test]
    async fn no_header_is_anonymous() {
        assert_eq!(authenticator().authenticate(None).await, Ok(None));
    }

    #[test]
    fn a_token_signed_with_another_secret_is_invalid() {
        let other = Authenticator::new(&AuthConfig {
            jwt_secret: "another-secret-that-is-long-enough-to-pass".into(),
            ..AuthConfig::default()
        });
        let token = other.mint(UserId(42));
        assert_eq!(check(&authenticator(), &token), Err(AuthError::Invalid));
    }

    #[test]
    fn an_unsigned_token_is_invalid() {
        // {"alg":"none","typ":"JWT"} . {"sub":"42","exp":9999999999} . (no signature)
        let token = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiI0MiIsImV4cCI6OTk5OTk5OTk5OX0.";
        assert_eq!(check(&authenticator(), token), Err(AuthError::Invalid));
    }

    #[test]
    fn an_expired_token_is_invalid() {
        let auth = authenticator();
        let encoding = auth.encoding.clone().unwrap();
        let token = jsonwebtoken::encode(&Header::default(), &claims("42", 1_000_000), &encoding).unwrap();
        assert_eq!(check(&auth, &token), Err(AuthError::Invalid));
    }

    #[test]
    fn a_subject_that_is_not_a_user_id_is_refused() {
        let auth = authenticator();
        let encoding = auth.encoding.clone().unwrap();
        for sub in ["0", "abc", "-1", "99999999999999999999999"] {
            let token = jsonwebtoken::encode(&Header::default(), &claims(sub, 9_999_999_999), &encoding).unwrap();
            assert_eq!(check(&auth, &token), Err(AuthError::NoSubject), "{sub}");
        }
    }

    #[test]
    fn other_schemes_are_malformed() {
        assert_eq!(check(&authenticator(), "").map(|_| ()), Err(AuthError::Malformed));
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        assert_eq!(
            runtime.block_on(authenticator().authenticate(Some(b"Basic abc"))),
            Err(AuthError::Malformed)
        );
    }

    #[test]
    fn issuer_and_audience_are_checked_when_configured() {
        let config = AuthConfig {
            issuer: Some("https://id.example".into()),
            audience: Some("delivery".into()),
            ..AuthConfig::default()
        };
        let strict = Authenticator::new(&config);
        assert_eq!(check(&strict, &strict.mint(UserId(7))), Ok(Some(UserId(7))));
        let plain = authenticator().mint(UserId(7));
        assert_eq!(check(&strict, &plain), Err(AuthError::Invalid));
        let other_audience = Authenticator::new(&AuthConfig {
            audience: Some("elsewhere".into()),
            ..config
        })
        .mint(UserId(7));
        assert_eq!(check(&strict, &other_audience), Err(AuthError::Invalid));
    }

    #[test]
    fn an_audience_array_is_accepted_when_it_holds_the_configured_audience() {
        let auth = Authenticator::new(&AuthConfig {
            audience: Some("delivery".into()),
            ..AuthConfig::default()
        });
        let encoding = auth.encoding.clone().unwrap();
        let token = |aud: serde_json::Value| {
            let claims = serde_json::json!({"sub": "7", "exp": 9_999_999_999u64, "aud": aud});
            jsonwebtoken::encode(&Header::default(), &claims, &encoding).unwrap()
        };
        let both = token(serde_json::json!(["billing", "delivery"]));
        assert_eq!(check(&auth, &both), Ok(Some(UserId(7))));
        let one = token(serde_json::json!("delivery"));
        assert_eq!(check(&auth, &one), Ok(Some(UserId(7))));
        let others = token(serde_json::json!(["billing", "elsewhere"]));
        assert_eq!(check(&auth, &others), Err(AuthError::Invalid));
        let none = token(serde_json::json!([]));
        assert_eq!(check(&auth, &none), Err(AuthError::Invalid));
    }

    #[test]
    fn rs256_and_es256_verify_with_a_pem_key_and_refuse_hs256() {
        for (algorithm, jwt, private, public) in [
            (
                Algorithm::RS256,
                JwtAlgorithm::RS256,
                "rs256-private.pem",
                "rs256-public.pem",
            ),
            (
                Algorithm::ES256,
                JwtAlgorithm::ES256,
                "es256-private.pem",
                "es256-public.pem",
            ),
        ] {
            let auth = Authenticator::new(&AuthConfig {
                algorithm: jwt,
                public_key_file: Some(fixture(public)),
                ..AuthConfig::default()
            });
            assert!(!auth.can_mint());
            let pem = std::fs::read(fixture(private)).unwrap();
            let key = match algorithm {
                Algorithm::ES256 => EncodingKey::from_ec_pem(&pem).unwrap(),
                _ => EncodingKey::from_rsa_pem(&pem).unwrap(),
            };
            let token = jsonwebtoken::encode(&Header::new(algorithm), &claims("9", 9_999_999_999), &key).unwrap();
            assert_eq!(check(&auth, &token), Ok(Some(UserId(9))), "{algorithm:?}");
            // An HS256 token "signed" with the public key's bytes: algorithm confusion.
            let public_pem = std::fs::read(fixture(public)).unwrap();
            let confused = jsonwebtoken::encode(
                &Header::new(Algorithm::HS256),
                &claims("9", 9_999_999_999),
                &EncodingKey::from_secret(&public_pem),
            )
            .unwrap();
            assert_eq!(check(&auth, &confused), Err(AuthError::Invalid));
        }
    }

    #[test]
    fn scopes_are_read_from_the_scope_claim() {
        let auth = authenticator();
        let token = auth.mint_with_scopes(UserId(3), &["schema:read", "x"]);
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let identity = runtime
            .block_on(auth.authenticate(Some(&bearer(&token))))
            .unwrap()
            .unwrap();
        assert!(identity.has_scope("schema:read"));
        assert!(!identity.has_scope("schema"));
    }
}
