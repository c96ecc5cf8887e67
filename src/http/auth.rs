//! Bearer-token check for write endpoints.
//!
//! Reads are open (the API binds to loopback by default); writes change what stations draw, so
//! when a token is configured every write must carry `Authorization: Bearer <token>`. The
//! write handlers call [`authorize`] before they read the body.

use axum::http::header::AUTHORIZATION;
use axum::http::HeaderMap;
use cp_registry::Secret;

use super::error::ApiError;
use super::AppState;

/// Checks a write's bearer token; always passes when no token is configured.
///
/// # Errors
/// [`ApiError::MissingToken`] without a bearer header, [`ApiError::WrongToken`] with another
/// token.
pub(crate) fn authorize(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(expected) = state.token.as_ref() else {
        return Ok(());
    };
    let given = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or(ApiError::MissingToken)?;
    if tokens_match(given.trim().as_bytes(), expected) {
        Ok(())
    } else {
        Err(ApiError::WrongToken)
    }
}

/// Compares in time that depends only on the expected token's length, so response timing does
/// not reveal how many leading bytes of a guess were right.
fn tokens_match(given: &[u8], expected: &Secret) -> bool {
    let expected = expected.expose().as_bytes();
    let mut diff = given.len() ^ expected.len();
    for (i, e) in expected.iter().enumerate() {
        diff |= usize::from(given.get(i).copied().unwrap_or(0) ^ e);
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_token_matches() {
        let secret = Secret::new("s3cret");
        assert!(tokens_match(b"s3cret", &secret));
        assert!(!tokens_match(b"s3cre", &secret));
        assert!(!tokens_match(b"s3cret!", &secret));
        assert!(!tokens_match(b"S3cret", &secret));
        assert!(!tokens_match(b"", &secret));
    }
}
