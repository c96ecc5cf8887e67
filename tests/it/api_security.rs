//! The device API's defences: loopback-only writes without a token, own Host and Origin, JSON
//! bodies and JSON errors, bounded connections and heads.

use crate::util::api::{
    call, point_uri, refusal, send, supervised_api, unnumbered, write, DEVICE, TOKEN,
};
use crate::util::supervisor::{
    self as supervisor_util, quick_options, supervise, wait_for_point, Supervised,
};
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use chargepoint_supervisor::http::{router, AppState};
use serde_json::json;

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
    // The limit alone is only stored (the port is not shed yet); the shed applies it.
    let writes = [
        ("port1.allowedLoad", "1.5", "stored"),
        ("port1.shedState", "1", "confirmed"),
    ];
    for (point, value, outcome) in writes {
        let request = from_peer(
            Method::PUT,
            &point_uri(point),
            "127.0.0.1:40000",
            &[JSON],
            &format!(r#"{{"value": {value}}}"#),
        );
        let (status, body) = send(app, request).await;
        assert_eq!(
            (status, unnumbered(body)),
            (StatusCode::OK, json!({"outcome": outcome}))
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
    // A wrong method on a write path is a 405 naming it, not a 415 about the content type,
    // which only POST and PUT need.
    for method in [Method::DELETE, Method::PATCH] {
        let (status, body) = call(
            &app,
            method.clone(),
            &point_uri("port1.allowedLoad"),
            None,
            Some(TOKEN),
        )
        .await;
        assert_eq!(
            (status, body),
            refusal(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                &format!(
                    "{method} is not allowed on {}",
                    point_uri("port1.allowedLoad")
                )
            ),
        );
    }
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

/// A body that never comes was held for the whole request timeout (60 s), so a thousand of
/// them kept the API from answering anyone: it is now refused after the body timeout.
#[tokio::test]
async fn a_body_that_never_comes_is_refused_after_the_body_timeout() {
    use chargepoint_supervisor::http::BODY_TIMEOUT;
    let (supervised, app) = open_api().await;
    let never = futures::stream::pending::<Result<axum::body::Bytes, std::io::Error>>();
    let mut request = Request::builder()
        .method(Method::PUT)
        .uri(point_uri("port1.allowedLoad"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(never))
        .expect("a valid request");
    let peer: std::net::SocketAddr = "127.0.0.1:40000".parse().expect("a socket address");
    request.extensions_mut().insert(ConnectInfo(peer));
    let started = std::time::Instant::now();
    let (status, body) = send(&app, request).await;
    assert_eq!(
        (status, body),
        refusal(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "bad request: the request body could not be read: it was cut off or did not arrive within 10 s"
        )
    );
    let took = started.elapsed();
    assert!(
        took >= BODY_TIMEOUT && took < BODY_TIMEOUT + std::time::Duration::from_secs(5),
        "answered after {took:?}"
    );
    supervised.stop().await;
}
