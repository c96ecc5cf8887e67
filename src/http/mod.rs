//! The device HTTP API (server) and its client (the CLI's `get`, `set`, ...).
//!
//! Endpoints (JSON; device paths keep their slashes, see `route`):
//!
//! | method | path | fleet call | token |
//! |---|---|---|---|
//! | GET  | `/healthz` | none: the process answers | no |
//! | GET  | `/api/health` | `health` | no |
//! | GET  | `/api/devices` | `devices` | no |
//! | GET  | `/api/devices/{device}/points/{point}` | `get_point` | no |
//! | GET  | `/api/devices/{device}/points?names=a,b` | `get_multiple_points` | no |
//! | POST | `/api/devices/{device}/scrape` | `scrape_all` (spends API quota) | yes |
//! | PUT  | `/api/devices/{device}/points/{point}` body `{"value": v}` | `set_point` | yes |
//! | PUT  | `/api/devices/{device}/points` body `{"points": {name: v}}` | `set_multiple_points` | yes |
//! | POST | `/api/devices/{device}/points/{point}/revert` | `revert_point` | yes |
//! | POST | `/api/devices/{device}/revert` | `revert_device` | yes |
//! | GET  | `/api/writes/{id}` | `write`: a write's outcome, settled or not | no |
//! | GET  | `/api/events` | `subscribe`, `subscribe_writes`: SSE `publish` / `write` / `lagged` events | no |
//!
//! A write is answered within the fleet's write-answer bound (`--write-answer-timeout`,
//! default 10 s): `{"write": id, "outcome": …}`, `pending` when it has not settled by then;
//! `GET /api/writes/{id}` and a `write` event tell how it settles.
//!
//! "token: yes" means: with a token configured, `Authorization: Bearer <token>`; without one,
//! the caller must be on loopback. Every POST and PUT needs `Content-Type: application/json`,
//! and without a token every request's `Host`/`Origin` must be the API's own: see `auth`.
//! Every error answer, including the 405, 413, 431 and 504 of the layers below the handlers,
//! is `{"error": {"kind", "message"}}`.
//!
//! Layout:
//! - `route`: reads `/api/devices/{*rest}` into a device path and an operation.
//! - `body`: JSON bodies of the write endpoints, shared by server and client.
//! - `auth`: who may call: token or loopback peer, content type, `Host`/`Origin`, head size.
//! - `error`: [`ApiError`] and its HTTP answers.
//! - `events`: the SSE stream of publish messages.
//! - `metrics`: the `/metrics` router for the separate Prometheus listener.
//! - `serve`: the accept loop: header timeout, connection cap, peer addresses, file limit.
//! - `client`: the reqwest client the CLI commands use.
mod auth;
mod body;
pub mod client;
mod error;
mod events;
mod metrics;
mod route;
mod serve;

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{middleware, Json, Router};
use cp_actors::{error_chain, DeviceError, Fleet, WriteId};
use cp_registry::Secret;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use tower_http::timeout::{RequestBodyTimeoutLayer, TimeoutLayer};

pub use error::ApiError;
pub use metrics::metrics_router;
pub use serve::{raise_file_limit, serve, ServeLimits, HEADER_TIMEOUT, MAX_CONNECTIONS};

use body::{PointsBody, ValueBody};
use route::DeviceRoute;

/// The longest a request may take. Writes answer well within it (the fleet's write-answer
/// bound, at most [`MAX_WRITE_ANSWER_TIMEOUT`]), so this only ends a scrape that waits too
/// long for ChargePoint, as a JSON 504.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The longest write-answer bound `run` accepts: with the station's routing and the answer's
/// way back, a write is then still answered well before [`REQUEST_TIMEOUT`].
pub const MAX_WRITE_ANSWER_TIMEOUT: Duration = Duration::from_secs(50);

/// The longest a client may take to send a request body. Real clients send a few KiB at
/// once; a body that trickles or never comes would otherwise hold a connection, one of
/// [`MAX_CONNECTIONS`], for the whole [`REQUEST_TIMEOUT`].
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest request body: a multi-point write of every point of a station is a few KiB.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The largest request head (request line and headers) the API reads: the CLI sends a few
/// hundred bytes and browsers a few KiB; 16 KiB leaves room for long device paths.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// The most header fields in a request; browsers send about 20.
pub const MAX_HEADERS: usize = 64;

/// What every handler needs. Cheap to clone: the fleet handle is shared.
#[derive(Clone)]
pub struct AppState {
    pub fleet: Fleet,
    /// When set, every POST and PUT must carry `Authorization: Bearer <token>`; when not, they
    /// are accepted from loopback peers only, and `Host`/`Origin` must be the API's own.
    pub token: Option<Secret>,
}

/// The device API: what `run` serves and what tests call with `oneshot`.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/api/health", get(health))
        .route("/api/devices", get(devices))
        .route(
            "/api/devices/{*rest}",
            get(device_get).put(device_put).post(device_post),
        )
        .route("/api/writes/{id}", get(write_outcome))
        .route("/api/events", get(events))
        .fallback(no_route)
        .layer(middleware::from_fn(error::log_server_errors))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::GATEWAY_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(RequestBodyTimeoutLayer::new(BODY_TIMEOUT))
        .layer(middleware::from_fn_with_state(state.clone(), auth::guard))
        .layer(middleware::from_fn(error::json_errors))
        .with_state(state)
}

async fn health(State(state): State<AppState>) -> Result<Response, ApiError> {
    Ok(Json(state.fleet.health().await?).into_response())
}

async fn devices(State(state): State<AppState>) -> Result<Response, ApiError> {
    Ok(Json(state.fleet.devices().await?).into_response())
}

async fn events(State(state): State<AppState>) -> impl IntoResponse {
    events::event_stream(state.fleet.subscribe(), state.fleet.subscribe_writes())
}

/// GET `/api/writes/{id}`: the write's entry in the write log, settled or not.
async fn write_outcome(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let record = id
        .parse::<WriteId>()
        .ok()
        .and_then(|write| state.fleet.write(write))
        .ok_or(ApiError::UnknownWrite { id })?;
    Ok(Json(record).into_response())
}

/// `?names=a,b` of get_multiple_points.
#[derive(Debug, Deserialize)]
struct NamesQuery {
    names: Option<String>,
}

/// GET: get_point and get_multiple_points.
async fn device_get(
    State(state): State<AppState>,
    Path(rest): Path<String>,
    query: Result<Query<NamesQuery>, axum::extract::rejection::QueryRejection>,
    uri: Uri,
) -> Result<Response, ApiError> {
    match parse_route(&Method::GET, &uri, &rest)? {
        DeviceRoute::Point { device, point } => {
            Ok(Json(state.fleet.get_point(&device, &point).await?).into_response())
        }
        DeviceRoute::Points { device } => {
            let Query(query) = query.map_err(|e| ApiError::BadRequest {
                detail: e.body_text(),
            })?;
            let names = point_names(query.names)?;
            let results = state.fleet.get_multiple_points(&device, &names).await?;
            Ok(per_point(&device, results).into_response())
        }
        _ => Err(method_not_allowed(&Method::GET, &uri)),
    }
}

/// PUT: set_point and set_multiple_points (`auth::guard` has let them through).
async fn device_put(
    State(state): State<AppState>,
    Path(rest): Path<String>,
    uri: Uri,
    body: Bytes,
) -> Result<Response, ApiError> {
    let route = parse_route(&Method::PUT, &uri, &rest)?;
    match route {
        DeviceRoute::Point { device, point } => {
            let ValueBody { value } = json_body(&body)?;
            Ok(Json(state.fleet.set_point(&device, &point, value).await?).into_response())
        }
        DeviceRoute::Points { device } => {
            let PointsBody { points } = json_body(&body)?;
            if points.0.is_empty() {
                return Err(ApiError::BadRequest {
                    detail: "'points' names no point".into(),
                });
            }
            let results = state.fleet.set_multiple_points(&device, points.0).await?;
            Ok(per_point(&device, results).into_response())
        }
        _ => Err(method_not_allowed(&Method::PUT, &uri)),
    }
}

/// POST: scrape_all, revert_point and revert_device (`auth::guard` has let them through).
async fn device_post(
    State(state): State<AppState>,
    Path(rest): Path<String>,
    uri: Uri,
) -> Result<Response, ApiError> {
    match parse_route(&Method::POST, &uri, &rest)? {
        DeviceRoute::Scrape { device } => {
            Ok(Json(state.fleet.scrape_all(&device).await?).into_response())
        }
        DeviceRoute::RevertPoint { device, point } => {
            Ok(Json(state.fleet.revert_point(&device, &point).await?).into_response())
        }
        DeviceRoute::Revert { device } => {
            let outcomes = state.fleet.revert_device(&device).await?;
            let results = outcomes
                .into_iter()
                .map(|(point, o)| (point, Ok(o)))
                .collect();
            Ok(per_point(&device, results).into_response())
        }
        _ => Err(method_not_allowed(&Method::POST, &uri)),
    }
}

async fn no_route(method: Method, uri: Uri) -> ApiError {
    ApiError::NoRoute {
        method: method.to_string(),
        path: uri.path().to_string(),
    }
}

fn parse_route(method: &Method, uri: &Uri, rest: &str) -> Result<DeviceRoute, ApiError> {
    DeviceRoute::parse(rest).ok_or_else(|| ApiError::NoRoute {
        method: method.to_string(),
        path: uri.path().to_string(),
    })
}

fn method_not_allowed(method: &Method, uri: &Uri) -> ApiError {
    ApiError::MethodNotAllowed {
        method: method.to_string(),
        path: uri.path().to_string(),
    }
}

/// A multi-point answer: `{"device", "points": {name: result}, "errors": {name: error}}`.
/// Each point stands alone: one refused point does not fail the others.
fn per_point<T: Serialize>(
    device: &str,
    results: Vec<(String, Result<T, DeviceError>)>,
) -> Json<Value> {
    let mut points = Map::new();
    let mut errors = Map::new();
    for (point, result) in results {
        match result {
            Ok(value) => {
                // `T` is one of the fleet's plain records: it always serialises.
                let value = serde_json::to_value(value).unwrap_or(Value::Null);
                points.insert(point, value);
            }
            Err(error) => {
                let error = ApiError::Device(error);
                if error.is_server_error() {
                    tracing::warn!(%device, %point, error = %error_chain(&error), "point failed");
                }
                errors.insert(point, error.public());
            }
        }
    }
    Json(json!({"device": device, "points": points, "errors": errors}))
}

fn json_body<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::BadRequest {
        detail: format!("body: {e}"),
    })
}

/// `a,b,c` into names; at least one, none empty.
fn point_names(names: Option<String>) -> Result<Vec<String>, ApiError> {
    let names: Vec<String> = names
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_string)
        .collect();
    if names.is_empty() {
        return Err(ApiError::BadRequest {
            detail: "'names' lists no point (expected ?names=a,b)".into(),
        });
    }
    Ok(names)
}
