//! Who may read private data: the user named by `X-User-Id`, and only that user.

use axum::http::HeaderMap;

use super::reply::ApiError;

/// The header through which the gateway names its authenticated user.
pub(crate) const USER_HEADER: &str = "x-user-id";

/// The raw `X-User-Id` value, if any (for the statistics).
pub(crate) fn user_header(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(USER_HEADER)?;
    let text = String::from_utf8_lossy(value.as_bytes());
    Some(text.trim().chars().take(64).collect())
}

/// `Ok` when `X-User-Id` names `user_id`; 403 when it is missing, unreadable or
/// names someone else.
pub(crate) fn require_user(headers: &HeaderMap, user_id: u64) -> Result<(), ApiError> {
    match named_user(headers)? {
        id if id == user_id => Ok(()),
        _ => Err(ApiError::Forbidden),
    }
}

/// The user `X-User-Id` names; 403 when it is missing or unreadable.
pub(crate) fn named_user(headers: &HeaderMap) -> Result<u64, ApiError> {
    headers
        .get(USER_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .ok_or(ApiError::Forbidden)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn only_the_named_user_passes() {
        let mut headers = HeaderMap::new();
        assert!(require_user(&headers, 42).is_err());
        headers.insert(USER_HEADER, HeaderValue::from_static("41"));
        assert!(require_user(&headers, 42).is_err());
        headers.insert(USER_HEADER, HeaderValue::from_static("42"));
        assert!(require_user(&headers, 42).is_ok());
        assert_eq!(named_user(&headers).ok(), Some(42));
        assert_eq!(user_header(&headers).as_deref(), Some("42"));
    }
}
