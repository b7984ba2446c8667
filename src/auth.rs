//! Bearer-token authentication: who is asking.
//!
//! A token is a JWT signed with HS256 and the configured secret, whose `sub` is the
//! user's id and whose `exp` is checked. The algorithm is fixed here, never taken
//! from the token (so `alg: none` and algorithm confusion are refused). The only
//! way the rest of the gateway learns a [`UserId`] is [`Authenticator::authenticate`].

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::{config::AuthConfig, upstream::UserId};

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
}

/// Why a presented token was refused. Surfaces as HTTP 401 with the GraphQL error
/// code `UNAUTHENTICATED`; the variant's text is safe to show.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The `Authorization` header is not `Bearer <token>`.
    #[error("the Authorization header must be `Bearer <token>`")]
    Malformed,
    /// Signature, algorithm, expiry or format is wrong.
    #[error("the bearer token is invalid or expired")]
    Invalid,
    /// `sub` is missing or is not a positive user id.
    #[error("the bearer token does not name a user")]
    NoSubject,
}

/// Checks and mints bearer tokens.
#[derive(Clone)]
pub struct Authenticator {
    decoding: DecodingKey,
    encoding: EncodingKey,
    validation: Validation,
    token_ttl: Duration,
}

impl Authenticator {
    /// Builds it from the `auth` configuration.
    pub fn new(config: &AuthConfig) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = config.leeway.as_secs();
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Self {
            decoding: DecodingKey::from_secret(config.jwt_secret.as_bytes()),
            encoding: EncodingKey::from_secret(config.jwt_secret.as_bytes()),
            validation,
            token_ttl: config.token_ttl,
        }
    }

    /// The user an `Authorization` header value names. `Ok(None)` when there is no
    /// header (anonymous).
    pub fn authenticate(&self, header: Option<&[u8]>) -> Result<Option<UserId>, AuthError> {
        let Some(header) = header else {
            return Ok(None);
        };
        let header = std::str::from_utf8(header).map_err(|_| AuthError::Malformed)?;
        let (scheme, token) = header.trim().split_once(' ').ok_or(AuthError::Malformed)?;
        if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
            return Err(AuthError::Malformed);
        }
        let data = jsonwebtoken::decode::<Claims>(token.trim(), &self.decoding, &self.validation)
            .map_err(|_| AuthError::Invalid)?;
        let id: u64 = data.claims.sub.parse().map_err(|_| AuthError::NoSubject)?;
        if id == 0 {
            return Err(AuthError::NoSubject);
        }
        Ok(Some(UserId(id)))
    }

    /// A token for `user` that this configuration accepts, valid for `auth.token_ttl`.
    pub fn mint(&self, user: UserId) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let claims = Claims {
            sub: user.0.to_string(),
            exp: now + self.token_ttl.as_secs(),
            iat: Some(now),
        };
        // HS256 over a serialisable struct cannot fail with a valid key.
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).unwrap_or_default()
    }
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

    #[test]
    fn a_minted_token_names_its_user() {
        let auth = authenticator();
        let token = auth.mint(UserId(42));
        assert_eq!(auth.authenticate(Some(&bearer(&token))), Ok(Some(UserId(42))));
    }

    #[test]
    fn no_header_is_anonymous() {
        assert_eq!(authenticator().authenticate(None), Ok(None));
    }

    #[test]
    fn a_token_signed_with_another_secret_is_invalid() {
        let other = Authenticator::new(&AuthConfig {
            jwt_secret: "another-secret-that-is-long-enough-to-pass".into(),
            ..AuthConfig::default()
        });
        let token = other.mint(UserId(42));
        assert_eq!(
            authenticator().authenticate(Some(&bearer(&token))),
            Err(AuthError::Invalid)
        );
    }

    #[test]
    fn an_unsigned_token_is_invalid() {
        // {"alg":"none","typ":"JWT"} . {"sub":"42","exp":9999999999} . (no signature)
        let token = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiI0MiIsImV4cCI6OTk5OTk5OTk5OX0.";
        assert_eq!(
            authenticator().authenticate(Some(&bearer(token))),
            Err(AuthError::Invalid)
        );
    }

    #[test]
    fn an_expired_token_is_invalid() {
        let auth = authenticator();
        let claims = Claims {
            sub: "42".into(),
            exp: 1_000_000,
            iat: None,
        };
        let token = jsonwebtoken::encode(&Header::default(), &claims, &auth.encoding).unwrap();
        assert_eq!(auth.authenticate(Some(&bearer(&token))), Err(AuthError::Invalid));
    }

    #[test]
    fn a_subject_that_is_not_a_user_id_is_refused() {
        let auth = authenticator();
        for sub in ["0", "abc", "-1", "99999999999999999999999"] {
            let claims = Claims {
                sub: sub.into(),
                exp: 9_999_999_999,
                iat: None,
            };
            let token = jsonwebtoken::encode(&Header::default(), &claims, &auth.encoding).unwrap();
            assert_eq!(
                auth.authenticate(Some(&bearer(&token))),
                Err(AuthError::NoSubject),
                "{sub}"
            );
        }
    }

    #[test]
    fn other_schemes_are_malformed() {
        assert_eq!(
            authenticator().authenticate(Some(b"Basic abc")),
            Err(AuthError::Malformed)
        );
        assert_eq!(
            authenticator().authenticate(Some(b"Bearer ")),
            Err(AuthError::Malformed)
        );
    }
}
