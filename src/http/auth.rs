//! Who may call the API: the checks every request passes before its handler.
//!
//! - Every POST and PUT (writes, and scrapes, which spend the account's API quota) needs
//!   `Authorization: Bearer <token>` when a token is configured. Without a token, they are
//!   accepted from loopback peers only (403 otherwise).
//! - Every POST and PUT needs `Content-Type: application/json` (415 otherwise): a browser sends
//!   that type cross-origin only after a CORS preflight, which this API never grants, so a form
//!   or `fetch` on another site cannot write.
//! - Without a token, a request whose `Host` is not a loopback name or an IP address, or whose
//!   `Origin` is not the API's own, is refused (403): a page on `evil.example` whose name
//!   resolves to 127.0.0.1 (DNS rebinding) sends its own name as `Host`.
//! - A request head over [`super::MAX_HEADER_BYTES`] or [`super::MAX_HEADERS`] is 431.
//!
//! The peer address comes from the [`ConnectInfo`] the accept loop (`super::serve`) attaches;
//! a request without one (a test's `oneshot`) is treated as not from loopback.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, HOST, ORIGIN};
use axum::http::{HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use cp_registry::Secret;

use super::error::ApiError;
use super::{AppState, MAX_HEADERS, MAX_HEADER_BYTES};

/// How much of a refused `Host` or `Origin` an error repeats.
const MAX_ECHO_CHARS: usize = 100;

/// Middleware: the checks of the module doc, in order: head size, `Host`/`Origin`, token or
/// loopback peer, content type.
pub(crate) async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    match check(&state, &request) {
        Ok(()) => next.run(request).await,
        Err(error) => error.into_response(),
    }
}

fn check(state: &AppState, request: &Request) -> Result<(), ApiError> {
    let headers = request.headers();
    head_size(request)?;
    if state.token.is_none() {
        same_origin(headers)?;
    }
    if is_write(request.method()) {
        match state.token.as_ref() {
            Some(expected) => authorize(expected, headers)?,
            None => {
                let peer = request
                    .extensions()
                    .get::<ConnectInfo<SocketAddr>>()
                    .map(|c| c.0);
                if !peer.is_some_and(|p| p.ip().is_loopback()) {
                    return Err(ApiError::NotLoopback { peer });
                }
            }
        }
        // Only POST and PUT carry a body; another method (DELETE, PATCH) passes on to the
        // router's 405, which names the method, rather than a 415 about a body it never takes.
        if matches!(*request.method(), Method::POST | Method::PUT) {
            json_content_type(headers)?;
        }
    }
    Ok(())
}

/// POST and PUT change state or spend the account's quota; every other method only reads (or
/// is answered 405 by the router).
fn is_write(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

fn head_size(request: &Request) -> Result<(), ApiError> {
    let headers = request.headers();
    let bytes = request.uri().to_string().len()
        + headers
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len() + 4)
            .sum::<usize>();
    if headers.len() > MAX_HEADERS || bytes > MAX_HEADER_BYTES {
        return Err(ApiError::HeadersTooLarge);
    }
    Ok(())
}

/// `Host` must be `localhost` or an IP address (names cannot be rebound to loopback when they
/// are not names); `Origin`, when sent, must be this `Host` over http or https. A missing
/// `Host` (HTTP/1.0 tools) passes: browsers always send one.
fn same_origin(headers: &HeaderMap) -> Result<(), ApiError> {
    let text = |name| {
        headers
            .get(name)
            .map(|v: &axum::http::HeaderValue| String::from_utf8_lossy(v.as_bytes()).into_owned())
    };
    let host = text(HOST);
    if let Some(host) = &host {
        if !is_own_host(host) {
            return Err(ApiError::ForeignHost { host: echo(host) });
        }
    }
    if let Some(origin) = text(ORIGIN) {
        let own = host.as_deref().is_some_and(|host| {
            ["http://", "https://"].iter().any(|scheme| {
                origin
                    .strip_prefix(scheme)
                    .is_some_and(|rest| rest.eq_ignore_ascii_case(host))
            })
        });
        if !own {
            return Err(ApiError::ForeignOrigin {
                origin: echo(&origin),
            });
        }
    }
    Ok(())
}

/// `localhost`, `127.0.0.1`, `[::1]`, `192.0.2.7:8080`: a loopback name or an IP literal, with
/// an optional port.
fn is_own_host(host: &str) -> bool {
    let name = match host.rsplit_once(':') {
        // `[::1]:8080`, `localhost:8080`; a bare IPv6 address without brackets is not a Host.
        Some((name, port)) if port.parse::<u16>().is_ok() && !name.ends_with(':') => name,
        _ => host,
    };
    let name = name
        .strip_prefix('[')
        .and_then(|n| n.strip_suffix(']'))
        .unwrap_or(name);
    name.eq_ignore_ascii_case("localhost") || name.parse::<IpAddr>().is_ok()
}

fn echo(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control())
        .take(MAX_ECHO_CHARS)
        .collect()
}

fn json_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let found = headers
        .get(CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let essence = found
        .as_deref()
        .map(|t| t.split(';').next().unwrap_or_default().trim());
    if essence.is_some_and(|e| e.eq_ignore_ascii_case("application/json")) {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType {
            found: found.as_deref().map(echo),
        })
    }
}

/// Checks a request's bearer token against the configured one.
///
/// # Errors
/// [`ApiError::MissingToken`] without a bearer header, [`ApiError::WrongToken`] with another
/// token.
fn authorize(expected: &Secret, headers: &HeaderMap) -> Result<(), ApiError> {
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

    #[test]
    fn own_hosts_are_loopback_names_and_ip_literals() {
        for host in [
            "localhost",
            "LOCALHOST:8080",
            "127.0.0.1",
            "127.0.0.1:9000",
            "[::1]",
            "[::1]:9000",
            "192.0.2.7:80",
        ] {
            assert!(is_own_host(host), "{host}");
        }
        for host in [
            "evil.example",
            "evil.example:9000",
            "localhost.evil.example",
            "127.0.0.1.nip.io",
            "",
        ] {
            assert!(!is_own_host(host), "{host}");
        }
    }

    #[test]
    fn json_content_type_allows_parameters_only() {
        let mut headers = HeaderMap::new();
        assert!(json_content_type(&headers).is_err());
        headers.insert(
            CONTENT_TYPE,
            "application/json; charset=utf-8".parse().unwrap(),
        );
        assert!(json_content_type(&headers).is_ok());
        headers.insert(CONTENT_TYPE, "text/plain".parse().unwrap());
        assert!(json_content_type(&headers).is_err());
        headers.insert(
            CONTENT_TYPE,
            "application/x-www-form-urlencoded".parse().unwrap(),
        );
        assert!(json_content_type(&headers).is_err());
    }
}
