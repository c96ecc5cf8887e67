//! The device API as the API suites drive it: a router over a supervised simulator fleet,
//! requests sent with `oneshot`, answers read as JSON.

use crate::util::supervisor::{quick_options, supervise, wait_for_point, Supervised};
use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use chargepoint_supervisor::http::{router, AppState};
use cp_registry::Secret;
use serde_json::{json, Value};
use tower::ServiceExt;
pub const TOKEN: &str = "test-token";
pub const DEVICE: &str = "sim/account1/10001";

pub async fn supervised_api() -> (Supervised, Router) {
    let supervised = supervise(2, 1, quick_options()).await;
    api_of(supervised).await
}

/// The API over `supervised`, once [`DEVICE`]'s load is readable.
pub async fn api_of(supervised: Supervised) -> (Supervised, Router) {
    let app = router(AppState {
        fleet: supervised.fleet.clone(),
        token: Some(Secret::new(TOKEN)),
    });
    wait_for_point(&supervised.fleet, DEVICE, "port1.portLoad").await;
    (supervised, app)
}

/// Sends one request and returns the status and the JSON body.
pub async fn call(
    app: &Router,
    method: Method,
    uri: &str,
    body: Option<Value>,
    token: Option<&str>,
) -> (StatusCode, Value) {
    let mut request = Request::builder().method(method.clone()).uri(uri);
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    // Every POST and PUT must say it is JSON, even without a body.
    if method == Method::POST || method == Method::PUT {
        request = request.header(header::CONTENT_TYPE, "application/json");
    }
    let request = match body {
        Some(body) => request.body(Body::from(body.to_string())),
        None => request.body(Body::empty()),
    }
    .expect("a valid request");
    send(app, request).await
}

/// Sends a prepared request and returns the status and the JSON body (every answer is JSON).
pub async fn send(app: &Router, request: Request<Body>) -> (StatusCode, Value) {
    let response = app
        .clone()
        .oneshot(request)
        .await
        .expect("the router answers");
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("a readable body");
    let body = serde_json::from_slice(&bytes).expect("a JSON body");
    (status, body)
}

pub fn point_uri(point: &str) -> String {
    format!("/api/devices/{DEVICE}/points/{point}")
}

/// `PUT …/points/{point}` with `{"value": value}`.
pub async fn write(
    app: &Router,
    point: &str,
    value: Value,
    token: Option<&str>,
) -> (StatusCode, Value) {
    let body = json!({ "value": value });
    call(app, Method::PUT, &point_uri(point), Some(body), token).await
}

/// A write answer (or a request's status and answer, or a multi-point answer) without the
/// writes' ids, which depend on how many writes came before: `{"outcome": "confirmed"}`.
pub fn unnumbered<T: Unnumber>(answer: T) -> T {
    answer.unnumber()
}

/// What [`unnumbered`] takes.
pub trait Unnumber {
    fn unnumber(self) -> Self;
}

impl Unnumber for Value {
    fn unnumber(mut self) -> Self {
        strip_ids(&mut self);
        self
    }
}

impl Unnumber for (StatusCode, Value) {
    fn unnumber(self) -> Self {
        (self.0, self.1.unnumber())
    }
}

fn strip_ids(value: &mut Value) {
    if let Some(map) = value.as_object_mut() {
        if map.get("write").is_some_and(Value::is_u64) {
            map.remove("write");
        }
        map.values_mut().for_each(strip_ids);
    }
}

/// The answer to a refused request: its status and `{"error": {kind, message}}`.
pub fn refusal(status: StatusCode, kind: &str, message: &str) -> (StatusCode, Value) {
    (status, json!({"error": {"kind": kind, "message": message}}))
}

/// `POST …/{device}/revert` with the token: the 200 answer's body, which names no error.
pub async fn revert_device(app: &Router, device: &str) -> Value {
    let uri = format!("/api/devices/{device}/revert");
    let (status, body) = call(app, Method::POST, &uri, None, Some(TOKEN)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["errors"], json!({}), "{body}");
    body
}

/// A station of `account2`, whose plan refuses getLoad, shedLoad and clearShedState.
pub const RESTRICTED_DEVICE: &str = "sim/account2/20001";

/// The API (with the token) over two accounts, once [`RESTRICTED_DEVICE`] has answered
/// getStationStatus (its load never comes).
pub async fn restricted_api() -> (Supervised, Router) {
    let supervised = supervise(2, 2, quick_options()).await;
    let app = router(AppState {
        fleet: supervised.fleet.clone(),
        token: Some(Secret::new(TOKEN)),
    });
    wait_for_point(&supervised.fleet, RESTRICTED_DEVICE, "port1.Status").await;
    (supervised, app)
}

/// Reads the server-sent events of `response` (from `/api/events`) until an event of `kind`
/// whose JSON data `wanted` accepts; panics after the test's patience.
pub async fn sse_event(
    response: axum::response::Response,
    kind: &str,
    wanted: impl Fn(&Value) -> bool,
) -> Value {
    use futures::StreamExt;
    let mut stream = response.into_body().into_data_stream();
    let mut text = String::new();
    let header = format!("event: {kind}\n");
    let find = async {
        loop {
            let chunk = stream
                .next()
                .await
                .expect("the stream stays open")
                .expect("the stream stays readable");
            text.push_str(&String::from_utf8_lossy(&chunk));
            let found = text
                .split("\n\n")
                .filter(|e| e.starts_with(&header))
                .filter_map(|e| e.lines().find_map(|l| l.strip_prefix("data: ")))
                .filter_map(|data| serde_json::from_str::<Value>(data).ok())
                .find(|data| wanted(data));
            if let Some(data) = found {
                return data;
            }
        }
    };
    tokio::time::timeout(crate::util::supervisor::PATIENCE, find)
        .await
        .unwrap_or_else(|_| panic!("no {kind} event within the test's patience"))
}
