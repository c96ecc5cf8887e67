//! [`ApiError`]: every way a device API request can fail, and the HTTP answer for each.
//!
//! The answer is always `{"error": {"kind": "...", "message": "..."}}`. Client errors (4xx) say
//! exactly what was wrong (the message names the point) and are not logged as errors: they are
//! the caller's business. Server errors (5xx) give the client a generic message and leave the
//! full error, with its source chain, in the response extensions, where [`log_server_errors`]
//! logs it once.

use std::net::SocketAddr;

use axum::extract::Request;
use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use cp_actors::{
    error_chain, DeviceError, FailureKind, FleetError, MAX_WRITES_KEPT, SETTLED_WRITES_KEPT_FOR,
};
use cp_registry::ApiMethod;
use serde_json::{json, Value};

use super::{MAX_BODY_BYTES, MAX_HEADERS, MAX_HEADER_BYTES, REQUEST_TIMEOUT};

fn not_loopback(peer: Option<SocketAddr>) -> String {
    let from = peer.map_or("an unknown peer".to_string(), |p| p.ip().to_string());
    format!(
        "without a configured token, writes are accepted from loopback callers only, not from {from}"
    )
}

/// Why a device API request failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The path names no endpoint (including device paths with no operation).
    #[error("no endpoint {method} {path}")]
    NoRoute { method: String, path: String },
    /// The path exists but not for this method (e.g. `GET …/scrape`).
    #[error("{method} is not allowed on {path}")]
    MethodNotAllowed { method: String, path: String },
    /// A write came without `Authorization: Bearer …` while a token is configured.
    #[error("writes need an 'Authorization: Bearer <token>' header")]
    MissingToken,
    /// A write came with the wrong token.
    #[error("the bearer token is not valid")]
    WrongToken,
    /// A write without a configured token, from a peer that is not on loopback (`None`: the
    /// request came with no peer address).
    #[error("{}", not_loopback(*peer))]
    NotLoopback { peer: Option<SocketAddr> },
    /// No token is configured and the `Host` is not a loopback name or IP address.
    #[error("Host '{host}' is not this API's (expected localhost or an IP address); configure a token to serve other names")]
    ForeignHost { host: String },
    /// No token is configured and the `Origin` is not the API's own.
    #[error("Origin '{origin}' is not this API's origin")]
    ForeignOrigin { origin: String },
    /// A POST or PUT without `Content-Type: application/json`.
    #[error("POST and PUT need 'Content-Type: application/json', not {}", found.as_deref().map_or("none".to_string(), |t| format!("'{t}'")))]
    UnsupportedMediaType { found: Option<String> },
    /// The request head is over the API's limits.
    #[error("the request head is over {MAX_HEADER_BYTES} bytes or {MAX_HEADERS} fields")]
    HeadersTooLarge,
    /// The request body is over [`MAX_BODY_BYTES`].
    #[error("the request body is over {MAX_BODY_BYTES} bytes")]
    BodyTooLarge,
    /// The request took longer than [`REQUEST_TIMEOUT`].
    #[error("no answer within {REQUEST_TIMEOUT:?}")]
    Timeout,
    /// Any other error status a layer below the handlers answered with.
    #[error("HTTP status {status}")]
    Http { status: u16 },
    /// The request body or query string could not be read.
    #[error("bad request: {detail}")]
    BadRequest { detail: String },
    /// `GET /api/writes/{id}` of an id the write log does not hold: never given, or no longer
    /// kept.
    #[error("no write '{id}' (the supervisor keeps the last {MAX_WRITES_KEPT} writes, settled ones for {} min)", SETTLED_WRITES_KEPT_FOR.as_secs() / 60)]
    UnknownWrite { id: String },
    /// A device operation failed; the fleet's classification picks the status.
    #[error(transparent)]
    Device(#[from] DeviceError),
    /// The fleet itself did not answer (stopped, or its supervisor is busy).
    #[error(transparent)]
    Fleet(#[from] FleetError),
}

/// The full text of a 5xx error, attached to the response for [`log_server_errors`], with the
/// ChargePoint method that failed when there is one.
#[derive(Debug, Clone)]
struct ServerErrorReport {
    error: String,
    op: Option<ApiMethod>,
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            ApiError::NoRoute { .. } => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::MissingToken | ApiError::WrongToken => StatusCode::UNAUTHORIZED,
            ApiError::NotLoopback { .. }
            | ApiError::ForeignHost { .. }
            | ApiError::ForeignOrigin { .. } => StatusCode::FORBIDDEN,
            ApiError::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ApiError::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Timeout => StatusCode::GATEWAY_TIMEOUT,
            ApiError::Http { status } => {
                StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            }
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::UnknownWrite { .. } => StatusCode::NOT_FOUND,
            ApiError::Device(error) => StatusCode::from_u16(error.status_hint())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            ApiError::Fleet(error) => match error {
                FleetError::UnknownDevice { .. } => StatusCode::NOT_FOUND,
                FleetError::DuplicateDevice { .. } => StatusCode::CONFLICT,
                FleetError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
                FleetError::Start { .. } | FleetError::UnknownAccount { .. } => {
                    StatusCode::INTERNAL_SERVER_ERROR
                }
            },
        }
    }

    /// A short, stable name for the kind of failure; clients may match on it.
    fn kind(&self) -> &'static str {
        match self {
            ApiError::NoRoute { .. } => "not_found",
            ApiError::MethodNotAllowed { .. } => "method_not_allowed",
            ApiError::MissingToken => "missing_token",
            ApiError::WrongToken => "wrong_token",
            ApiError::NotLoopback { .. } => "loopback_only",
            ApiError::ForeignHost { .. } => "foreign_host",
            ApiError::ForeignOrigin { .. } => "foreign_origin",
            ApiError::UnsupportedMediaType { .. } => "unsupported_media_type",
            ApiError::HeadersTooLarge => "headers_too_large",
            ApiError::BodyTooLarge => "body_too_large",
            ApiError::Timeout => "timeout",
            ApiError::Http { .. } => "http",
            ApiError::BadRequest { .. } => "bad_request",
            ApiError::UnknownWrite { .. } => "unknown_write",
            ApiError::Device(error) => match error {
                DeviceError::UnknownDevice { .. } => "unknown_device",
                DeviceError::UnknownPoint { .. } => "unknown_point",
                DeviceError::NotWritable { .. } => "not_writable",
                DeviceError::BadValue { .. } => "bad_value",
                DeviceError::NoShedIntent { .. } => "no_shed_intent",
                DeviceError::NoData { .. } => "no_data",
                // A plan refusal is the one upstream failure a user can act on (another
                // registry), so it keeps its own kind.
                DeviceError::PointUnavailable { kind, .. } if kind.is_plan_rights() => {
                    "plan_rights"
                }
                DeviceError::PointUnavailable {
                    kind: FailureKind::ImpossibleValue,
                    ..
                } => "impossible_value",
                DeviceError::PointUnavailable { .. } => "point_unavailable",
                DeviceError::Gateway { .. } => "gateway",
                DeviceError::Overloaded { .. } => "overloaded",
                DeviceError::PortBusy { .. } => "port_busy",
                DeviceError::Unavailable { .. } => "unavailable",
            },
            ApiError::Fleet(error) => match error {
                FleetError::UnknownDevice { .. } => "unknown_device",
                FleetError::DuplicateDevice { .. } => "duplicate_device",
                FleetError::Unavailable { .. } => "unavailable",
                FleetError::Start { .. } | FleetError::UnknownAccount { .. } => "internal",
            },
        }
    }

    /// The ChargePoint method whose failure this is, when one is known.
    fn method(&self) -> Option<ApiMethod> {
        match self {
            ApiError::Device(
                DeviceError::PointUnavailable { method, .. } | DeviceError::NoData { method, .. },
            ) => Some(*method),
            _ => None,
        }
    }

    /// `{"kind", "message"}` as a client may see it: the whole message for a client error, a
    /// generic one for a server error. A plan refusal also names the method the plan refuses
    /// (`"method": "getLoad"`, and in the message): that is what the user takes to their
    /// ChargePoint plan or removes from the registry.
    pub(crate) fn public(&self) -> Value {
        let status = self.status();
        let kind = self.kind();
        match self.method() {
            Some(method) if kind == "plan_rights" => json!({
                "kind": kind,
                "message": format!(
                    "the account's plan does not permit {method}, the ChargePoint method behind this point"
                ),
                "method": method.name(),
            }),
            // What the service sent is no secret, and it is what the user takes to ChargePoint.
            _ if kind == "impossible_value" => json!({"kind": kind, "message": self.to_string()}),
            _ => {
                let message = if status.is_server_error() {
                    generic_message(kind).to_string()
                } else {
                    self.to_string()
                };
                json!({"kind": kind, "message": message})
            }
        }
    }

    pub(crate) fn is_server_error(&self) -> bool {
        self.status().is_server_error()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut response = (status, Json(json!({"error": self.public()}))).into_response();
        if status.is_server_error() {
            response.extensions_mut().insert(ServerErrorReport {
                error: error_chain(&self),
                op: self.method(),
            });
        }
        response
    }
}

/// What a client sees for a 5xx, by kind: what to do next, nothing internal.
fn generic_message(kind: &str) -> &'static str {
    match kind {
        "no_data" => "no data yet for this point; try again after the next scrape",
        "overloaded" => "the account's request queue is full; try again later",
        "port_busy" => "too many writes are waiting for this port; try again later",
        "unavailable" => "the station is not answering; try again",
        "timeout" => "the request took too long; its outcome is unknown, read the point back",
        "point_unavailable" | "gateway" => {
            "the ChargePoint call behind this point failed; see the supervisor's log"
        }
        _ => "internal error; see the supervisor's log",
    }
}

/// Middleware: logs the full error behind every 5xx answer, with the route template.
pub(crate) async fn log_server_errors(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let response = next.run(request).await;
    if let Some(report) = response.extensions().get::<ServerErrorReport>() {
        let error = &report.error;
        let status = response.status().as_u16();
        match report.op {
            Some(op) => {
                tracing::error!(%method, %route, status, op = %op, %error, "request failed")
            }
            None => tracing::error!(%method, %route, status, %error, "request failed"),
        }
    }
    response
}

/// Middleware, outermost: every error answer is the API's JSON. Layers below the handlers
/// answer some errors themselves with a text or empty body: the router's 405, the body limit's
/// 413, the body extractor's 400 (a body cut off or too slow), the timeout's 504. Those become the matching [`ApiError`].
pub(crate) async fn json_errors(request: Request, next: Next) -> Response {
    let method = request.method().to_string();
    let path = request.uri().path().to_string();
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(CONTENT_TYPE)
        .is_some_and(|t| t.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let error = match status {
        StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed {
            method: method.clone(),
            path: path.clone(),
        },
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::BodyTooLarge,
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => ApiError::HeadersTooLarge,
        StatusCode::GATEWAY_TIMEOUT => ApiError::Timeout,
        // Handlers answer their own 400s in JSON; a bare one is the body extractor's.
        StatusCode::BAD_REQUEST => ApiError::BadRequest {
            detail: format!(
                "the request body could not be read: it was cut off or did not arrive within {} s",
                super::BODY_TIMEOUT.as_secs()
            ),
        },
        StatusCode::NOT_FOUND => ApiError::NoRoute {
            method: method.clone(),
            path: path.clone(),
        },
        _ => ApiError::Http {
            status: status.as_u16(),
        },
    };
    if status.is_server_error() {
        tracing::error!(%method, %path, status = status.as_u16(), error = %error, "request failed");
    }
    let mut answer = error.into_response();
    // Keep what the lower layer said beyond its body (an `Allow` on 405, for instance).
    for (name, value) in response.headers() {
        if name != CONTENT_TYPE && name != axum::http::header::CONTENT_LENGTH {
            answer.headers_mut().insert(name.clone(), value.clone());
        }
    }
    answer.extensions_mut().remove::<ServerErrorReport>();
    answer
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::routing::get;
    use axum::{middleware, Router};
    use tower::ServiceExt;

    use super::*;

    async fn answer_of(status: StatusCode) -> (StatusCode, Value) {
        let app = Router::new()
            .route("/", get(move || async move { status }))
            .layer(middleware::from_fn(json_errors));
        let request = Request::builder()
            .uri("/")
            .body(Body::empty())
            .expect("a valid request");
        let response = app.oneshot(request).await.expect("the router answers");
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .expect("a body");
        (status, serde_json::from_slice(&bytes).expect("a JSON body"))
    }

    #[tokio::test]
    async fn bare_error_statuses_become_the_apis_json() {
        assert_eq!(
            answer_of(StatusCode::GATEWAY_TIMEOUT).await,
            (
                StatusCode::GATEWAY_TIMEOUT,
                json!({"error": {"kind": "timeout", "message": "the request took too long; its outcome is unknown, read the point back"}})
            )
        );
        assert_eq!(
            answer_of(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)
                .await
                .1["error"]["kind"],
            "headers_too_large"
        );
        assert_eq!(
            answer_of(StatusCode::IM_A_TEAPOT).await,
            (
                StatusCode::IM_A_TEAPOT,
                json!({"error": {"kind": "http", "message": "HTTP status 418"}})
            )
        );
    }

    #[test]
    fn an_impossible_value_names_what_the_service_sent() {
        let error = ApiError::Device(DeviceError::PointUnavailable {
            device: "sim/account1/10001".into(),
            point: "port1.portLoad".into(),
            method: ApiMethod::GetLoad,
            kind: FailureKind::ImpossibleValue,
            text: "<portLoad> is NaN, outside its physical range 0..=1000 kW".into(),
        });
        assert_eq!(error.status(), StatusCode::BAD_GATEWAY);
        assert_eq!(
            error.public(),
            json!({
                "kind": "impossible_value",
                "message": "device sim/account1/10001: point port1.portLoad: getLoad failed (impossible_value): <portLoad> is NaN, outside its physical range 0..=1000 kW"
            })
        );
    }
}
