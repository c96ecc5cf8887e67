//! The device HTTP API over a real fleet supervising the simulator: requests go through
//! `router(state).oneshot(..)` (no socket); the fleet talks SOAP to the simulator on loopback.

use crate::util::supervisor::{
    self as supervisor_util, eventually, quick_options, supervise, wait_for_point, Supervised,
};
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use chargepoint_supervisor::http::{router, AppState};
use cp_registry::Secret;
use futures::StreamExt;
use serde_json::{json, Value};
use tower::ServiceExt;

const TOKEN: &str = "test-token";
const DEVICE: &str = "sim/account1/10001";

async fn supervised_api() -> (Supervised, Router) {
    let supervised = supervise(2, 1, quick_options()).await;
    let app = router(AppState {
        fleet: supervised.fleet.clone(),
        token: Some(Secret::new(TOKEN)),
    });
    wait_for_point(&supervised.fleet, DEVICE, "port1.portLoad").await;
    (supervised, app)
}

/// Sends one request and returns the status and the JSON body.
async fn call(
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
async fn send(app: &Router, request: Request<Body>) -> (StatusCode, Value) {
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

fn point_uri(point: &str) -> String {
    format!("/api/devices/{DEVICE}/points/{point}")
}

/// `PUT …/points/{point}` with `{"value": value}`.
async fn write(
    app: &Router,
    point: &str,
    value: Value,
    token: Option<&str>,
) -> (StatusCode, Value) {
    let body = json!({ "value": value });
    call(app, Method::PUT, &point_uri(point), Some(body), token).await
}

/// The answer to a refused request: its status and `{"error": {kind, message}}`.
fn refusal(status: StatusCode, kind: &str, message: &str) -> (StatusCode, Value) {
    (status, json!({"error": {"kind": kind, "message": message}}))
}

#[tokio::test]
async fn device_list_names_every_simulated_station() {
    let (supervised, app) = supervised_api().await;
    let paths = eventually("both stations listed", || async {
        let (status, body) = call(&app, Method::GET, "/api/devices", None, None).await;
        assert_eq!(status, StatusCode::OK);
        let mut paths: Vec<String> = body
            .as_array()?
            .iter()
            .filter_map(|d| d["path"].as_str().map(str::to_string))
            .collect();
        paths.sort();
        (paths.len() == 2).then_some(paths)
    })
    .await;
    assert_eq!(paths, ["sim/account1/10001", "sim/account1/10002"]);
    supervised.stop().await;
}

#[tokio::test]
async fn get_point_reads_what_the_simulator_reports() {
    let (supervised, app) = supervised_api().await;
    let (status, body) = call(&app, Method::GET, &point_uri("port1.portLoad"), None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["point"], "port1.portLoad");
    assert_eq!(body["meta"]["units"], "kW");
    let reported = body["value"].as_f64().expect("portLoad is a number");
    let simulated = supervised.port("1:10001", 1).load.load_kw;
    assert!(
        (reported - simulated).abs() < 1e-3,
        "API {reported} kW, simulator {simulated} kW"
    );

    let (status, body) = call(
        &app,
        Method::GET,
        &format!("/api/devices/{DEVICE}/points?names=port1.portLoad,port2.shedState,nope"),
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["points"]["port2.shedState"]["value"], 0);
    assert!(body["points"]["port1.portLoad"]["value"].is_number());
    assert_eq!(
        body["errors"]["nope"],
        json!({"kind": "unknown_point", "message": "device sim/account1/10001: unknown point 'nope'"})
    );
    supervised.stop().await;
}

#[tokio::test]
async fn allowed_load_then_shed_state_is_confirmed_and_caps_the_port() {
    let (supervised, app) = supervised_api().await;
    let (status, body) = write(&app, "port1.allowedLoad", json!(1.5), Some(TOKEN)).await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({"outcome": "confirmed"}))
    );
    assert!(
        !supervised.port("1:10001", 1).load.shed_state,
        "storing an intent does not shed"
    );

    let (status, body) = write(&app, "port1.shedState", json!(1), Some(TOKEN)).await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({"outcome": "confirmed"}))
    );
    // Simulated time is frozen: step it so the port's draw follows the new cap.
    supervised
        .sim
        .state()
        .advance(std::time::Duration::from_secs(1));
    let port = supervised.port("1:10001", 1);
    assert!(port.load.shed_state);
    assert_eq!(port.load.allowed_load, 1.5);
    assert!(
        port.load.load_kw <= 1.5,
        "{} kW under a 1.5 kW cap",
        port.load.load_kw
    );

    let (status, _) = call(
        &app,
        Method::POST,
        &format!("/api/devices/{DEVICE}/revert"),
        None,
        Some(TOKEN),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        !supervised.port("1:10001", 1).load.shed_state,
        "revert clears the shed"
    );
    supervised.stop().await;
}

#[tokio::test]
async fn multi_point_write_applies_in_the_order_given() {
    let (supervised, app) = supervised_api().await;
    let (status, body) = call(
        &app,
        Method::PUT,
        &format!("/api/devices/{DEVICE}/points"),
        Some(json!({"points": {"port2.percentShed": 40, "port2.shedState": 1}})),
        Some(TOKEN),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["errors"], json!({}));
    assert_eq!(
        body["points"]["port2.shedState"],
        json!({"outcome": "confirmed"})
    );
    let port = supervised.port("1:10001", 2);
    assert!(port.load.shed_state);
    assert_eq!(port.load.percent_shed, 40);
    supervised.stop().await;
}

#[tokio::test]
async fn bad_value_is_400_naming_the_point() {
    let (supervised, app) = supervised_api().await;
    assert_eq!(
        write(&app, "port1.percentShed", json!(150), Some(TOKEN)).await,
        refusal(StatusCode::BAD_REQUEST, "bad_value", "device sim/account1/10001: point port1.percentShed: expected an integer 0..=100, found 150")
    );
    assert_eq!(
        write(&app, "port1.portLoad", json!(1), Some(TOKEN)).await,
        refusal(
            StatusCode::BAD_REQUEST,
            "not_writable",
            "device sim/account1/10001: point port1.portLoad is read-only"
        )
    );
    let (status, body) = call(
        &app,
        Method::PUT,
        &point_uri("port1.shedState"),
        Some(json!({"velue": 1})),
        Some(TOKEN),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["kind"], "bad_request");
    supervised.stop().await;
}

#[tokio::test]
async fn shed_without_a_stored_limit_is_409() {
    let (supervised, app) = supervised_api().await;
    assert_eq!(
        write(&app, "port2.shedState", json!(1), Some(TOKEN)).await,
        refusal(StatusCode::CONFLICT, "no_shed_intent", "device sim/account1/10001: point port2.shedState: no allowedLoad or percentShed written for port 2; write one first")
    );
    assert!(!supervised.port("1:10001", 2).load.shed_state);
    supervised.stop().await;
}

#[tokio::test]
async fn unknown_device_and_unknown_route_are_404() {
    let (supervised, app) = supervised_api().await;
    assert_eq!(
        call(
            &app,
            Method::GET,
            "/api/devices/sim/account1/99999/points/port1.portLoad",
            None,
            None,
        )
        .await,
        refusal(
            StatusCode::NOT_FOUND,
            "unknown_device",
            "unknown device 'sim/account1/99999'"
        )
    );
    assert_eq!(
        call(
            &app,
            Method::GET,
            "/api/devices/sim/account1/10001",
            None,
            None,
        )
        .await,
        refusal(
            StatusCode::NOT_FOUND,
            "not_found",
            "no endpoint GET /api/devices/sim/account1/10001"
        )
    );
    supervised.stop().await;
}

#[tokio::test]
async fn writes_and_scrapes_need_the_token_and_reads_do_not() {
    let (supervised, app) = supervised_api().await;
    let uri = point_uri("port1.allowedLoad");
    assert_eq!(
        write(&app, "port1.allowedLoad", json!(2.0), None).await,
        refusal(
            StatusCode::UNAUTHORIZED,
            "missing_token",
            "writes need an 'Authorization: Bearer <token>' header"
        )
    );
    assert_eq!(
        write(&app, "port1.allowedLoad", json!(2.0), Some("guess")).await,
        refusal(
            StatusCode::UNAUTHORIZED,
            "wrong_token",
            "the bearer token is not valid"
        )
    );
    let (status, _) = call(
        &app,
        Method::POST,
        &format!("/api/devices/{DEVICE}/revert"),
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = call(&app, Method::GET, &uri, None, None).await;
    assert_eq!(status, StatusCode::OK);
    let scrape = format!("/api/devices/{DEVICE}/scrape");
    let (status, _) = call(&app, Method::POST, &scrape, None, None).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a scrape spends API quota"
    );
    let (status, body) = call(&app, Method::POST, &scrape, None, Some(TOKEN)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["topic"], "devices/sim/account1/10001/all");
    supervised.stop().await;
}

#[tokio::test]
async fn event_stream_yields_a_publish() {
    let (supervised, app) = supervised_api().await;
    let request = Request::builder()
        .uri("/api/events")
        .body(Body::empty())
        .expect("a valid request");
    let response = app.oneshot(request).await.expect("the router answers");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "text/event-stream"
    );
    let mut stream = response.into_body().into_data_stream();
    let mut text = String::new();
    let read_publish = async {
        loop {
            let chunk = stream
                .next()
                .await
                .expect("the stream stays open")
                .expect("the stream stays readable");
            text.push_str(&String::from_utf8_lossy(&chunk));
            let data = text
                .split("\n\n")
                .filter(|e| e.starts_with("event: publish"))
                .find_map(|e| e.lines().find_map(|l| l.strip_prefix("data: ")));
            if let Some(data) = data {
                return serde_json::from_str::<Value>(data).expect("publish data is JSON");
            }
        }
    };
    let publish = tokio::time::timeout(supervisor_util::PATIENCE, read_publish)
        .await
        .expect("a publish event within the test's patience");
    let topic = publish["topic"].as_str().expect("a topic");
    assert!(
        topic.starts_with("devices/sim/account1/") && topic.ends_with("/all"),
        "{topic}"
    );
    assert!(publish["message"].is_array() || publish["message"].is_object());
    supervised.stop().await;
}

#[tokio::test]
async fn health_reports_every_station() {
    let (supervised, app) = supervised_api().await;
    let (status, body) = call(&app, Method::GET, "/healthz", None, None).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"status": "ok"})));
    let total = eventually("both stations in health", || async {
        let (_, body) = call(&app, Method::GET, "/api/health", None, None).await;
        (body["stations_total"] == 2).then_some(body["stations_total"].clone())
    })
    .await;
    assert_eq!(total, 2);
    supervised.stop().await;
}

/// The API as `run` serves it without `--token`.
async fn open_api() -> (Supervised, Router) {
    let supervised = supervise(2, 1, quick_options()).await;
    let app = router(AppState {
        fleet: supervised.fleet.clone(),
        token: None,
    });
    wait_for_point(&supervised.fleet, DEVICE, "port1.portLoad").await;
    (supervised, app)
}

/// A request as the accept loop hands it on: from `peer`, with `headers`.
fn from_peer(
    method: Method,
    uri: &str,
    peer: &str,
    headers: &[(header::HeaderName, &str)],
    body: &str,
) -> Request<Body> {
    let mut request = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        request = request.header(name, *value);
    }
    let mut request = request
        .body(Body::from(body.to_string()))
        .expect("a valid request");
    let peer: std::net::SocketAddr = peer.parse().expect("a socket address");
    request.extensions_mut().insert(ConnectInfo(peer));
    request
}

const JSON: (header::HeaderName, &str) = (header::CONTENT_TYPE, "application/json");

/// Sheds port 1 at 1.5 kW through the open API, from loopback.
async fn shed_port1(app: &Router) {
    for (point, value) in [("port1.allowedLoad", "1.5"), ("port1.shedState", "1")] {
        let request = from_peer(
            Method::PUT,
            &point_uri(point),
            "127.0.0.1:40000",
            &[JSON],
            &format!(r#"{{"value": {value}}}"#),
        );
        let (status, body) = send(app, request).await;
        assert_eq!(
            (status, body),
            (StatusCode::OK, json!({"outcome": "confirmed"}))
        );
    }
}

#[tokio::test]
async fn without_a_token_only_loopback_peers_may_write() {
    let (supervised, app) = open_api().await;
    shed_port1(&app).await;
    let revert = format!("/api/devices/{DEVICE}/revert");
    let request = from_peer(Method::POST, &revert, "192.0.2.7:5555", &[JSON], "");
    assert_eq!(
        send(&app, request).await,
        refusal(
            StatusCode::FORBIDDEN,
            "loopback_only",
            "without a configured token, writes are accepted from loopback callers only, not from 192.0.2.7"
        )
    );
    // A request with no peer address (no accept loop in between) is not trusted either.
    let (status, body) = call(&app, Method::POST, &revert, None, None).await;
    assert_eq!(
        (status, &body["error"]["kind"]),
        (StatusCode::FORBIDDEN, &json!("loopback_only"))
    );
    assert!(
        supervised.port("1:10001", 1).load.shed_state,
        "no write got through"
    );
    // Reads stay open to everyone.
    let request = from_peer(
        Method::GET,
        &point_uri("port1.shedState"),
        "192.0.2.7:5555",
        &[],
        "",
    );
    assert_eq!(send(&app, request).await.0, StatusCode::OK);

    let request = from_peer(Method::POST, &revert, "[::1]:5555", &[JSON], "");
    assert_eq!(send(&app, request).await.0, StatusCode::OK);
    assert!(!supervised.port("1:10001", 1).load.shed_state);
    supervised.stop().await;
}

#[tokio::test]
async fn cross_origin_forms_and_rebound_hosts_cannot_revert() {
    let (supervised, app) = open_api().await;
    shed_port1(&app).await;
    let revert = format!("/api/devices/{DEVICE}/revert");
    let loopback = "127.0.0.1:40001";
    // The browser form of the report: a simple request, no preflight.
    let form = from_peer(
        Method::POST,
        &revert,
        loopback,
        &[
            (header::HOST, "127.0.0.1:8080"),
            (header::ORIGIN, "http://evil.example"),
            (header::CONTENT_TYPE, "application/x-www-form-urlencoded"),
        ],
        "",
    );
    assert_eq!(
        send(&app, form).await,
        refusal(
            StatusCode::FORBIDDEN,
            "foreign_origin",
            "Origin 'http://evil.example' is not this API's origin"
        )
    );
    // DNS rebinding: evil.example resolves to 127.0.0.1, so the page is same-origin.
    let rebound = from_peer(
        Method::POST,
        &revert,
        loopback,
        &[
            (header::HOST, "evil.example:8080"),
            (header::ORIGIN, "http://evil.example:8080"),
            JSON,
        ],
        "",
    );
    assert_eq!(
        send(&app, rebound).await,
        refusal(
            StatusCode::FORBIDDEN,
            "foreign_host",
            "Host 'evil.example:8080' is not this API's (expected localhost or an IP address); configure a token to serve other names"
        )
    );
    let read = from_peer(
        Method::GET,
        &point_uri("port1.shedState"),
        loopback,
        &[(header::HOST, "evil.example")],
        "",
    );
    assert_eq!(send(&app, read).await.0, StatusCode::FORBIDDEN);
    // Same origin, but a form's content type.
    let text = from_peer(
        Method::POST,
        &revert,
        loopback,
        &[
            (header::HOST, "localhost:8080"),
            (header::CONTENT_TYPE, "text/plain"),
        ],
        "",
    );
    assert_eq!(
        send(&app, text).await,
        refusal(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "POST and PUT need 'Content-Type: application/json', not 'text/plain'"
        )
    );
    assert!(
        supervised.port("1:10001", 1).load.shed_state,
        "the shed survived"
    );

    let own = from_peer(
        Method::POST,
        &revert,
        loopback,
        &[
            (header::HOST, "localhost:8080"),
            (header::ORIGIN, "http://localhost:8080"),
            JSON,
        ],
        "",
    );
    assert_eq!(send(&app, own).await.0, StatusCode::OK);
    assert!(!supervised.port("1:10001", 1).load.shed_state);
    supervised.stop().await;
}

#[tokio::test]
async fn huge_allowed_load_and_non_json_bodies_are_refused() {
    let (supervised, app) = supervised_api().await;
    let (status, body) = write(&app, "port1.allowedLoad", json!(1e308), Some(TOKEN)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["kind"], "bad_value");
    assert_eq!(
        body["error"]["message"],
        "device sim/account1/10001: point port1.allowedLoad: expected a number of kW from 0 to 1000, found 1e+308"
    );
    let request = Request::builder()
        .method(Method::PUT)
        .uri(point_uri("port1.allowedLoad"))
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::from("value=2"))
        .expect("a valid request");
    assert_eq!(
        send(&app, request).await.0,
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
    let request = Request::builder()
        .method(Method::PUT)
        .uri(point_uri("port1.allowedLoad"))
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("value=2"))
        .expect("a valid request");
    let (status, body) = send(&app, request).await;
    assert_eq!(
        (status, &body["error"]["kind"]),
        (StatusCode::BAD_REQUEST, &json!("bad_request"))
    );
    assert_eq!(
        supervised.port("1:10001", 1).load.allowed_load,
        0.0,
        "nothing was sent"
    );
    supervised.stop().await;
}

#[tokio::test]
async fn every_error_answer_is_json() {
    let (supervised, app) = supervised_api().await;
    let (status, body) = call(&app, Method::POST, "/healthz", None, Some(TOKEN)).await;
    assert_eq!(
        (status, body),
        refusal(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "POST is not allowed on /healthz"
        )
    );
    let huge = json!({"value": "x".repeat(100 * 1024)});
    let (status, body) = write(&app, "port1.allowedLoad", huge, Some(TOKEN)).await;
    assert_eq!(
        (status, body),
        refusal(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            "the request body is over 65536 bytes"
        )
    );
    let request = Request::builder()
        .uri("/api/devices")
        .header("x-padding", "y".repeat(20 * 1024))
        .body(Body::empty())
        .expect("a valid request");
    assert_eq!(
        send(&app, request).await,
        refusal(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            "the request head is over 16384 bytes or 64 fields"
        )
    );
    supervised.stop().await;
}

#[tokio::test]
async fn half_open_requests_are_dropped_and_connections_are_capped() {
    use chargepoint_supervisor::http::{serve, ServeLimits};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local addr");
    let app = Router::new().route("/", axum::routing::get(|| async { "ok" }));
    let limits = ServeLimits {
        header_timeout: std::time::Duration::from_millis(300),
        max_connections: 1,
    };
    let stop = tokio_util::sync::CancellationToken::new();
    let server = tokio::spawn(serve(listener, app, limits, stop.clone()));

    // A request head that never ends holds the only slot, until the header timeout.
    let mut half_open = tokio::net::TcpStream::connect(addr).await.expect("connect");
    half_open
        .write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .await
        .expect("write");
    let started = std::time::Instant::now();
    let mut second = tokio::net::TcpStream::connect(addr).await.expect("connect");
    second
        .write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let mut answer = String::new();
    tokio::time::timeout(
        supervisor_util::PATIENCE,
        second.read_to_string(&mut answer),
    )
    .await
    .expect("answered once the slot is free")
    .expect("read");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(250),
        "the second connection waited for the first's slot"
    );
    let mut rest = Vec::new();
    let read = tokio::time::timeout(supervisor_util::PATIENCE, half_open.read_to_end(&mut rest))
        .await
        .expect("the half-open connection is closed");
    assert!(read.is_ok() || rest.is_empty());
    stop.cancel();
    server.await.expect("the accept loop stops");
}
