//! The device HTTP API over a real fleet supervising the simulator: requests go through
//! `router(state).oneshot(..)` (no socket); the fleet talks SOAP to the simulator on loopback.

use std::time::Duration;

use crate::util::supervisor::{
    self as supervisor_util, eventually, quick_options, supervise, supervise_spec, wait_for_point,
    Supervised, TEST_INTERVAL,
};
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use chargepoint_supervisor::http::{router, AppState};
use chargepoint_supervisor::run::with_interval;
use cp_registry::Secret;
use futures::StreamExt;
use serde_json::{json, Value};
use tower::ServiceExt;

const TOKEN: &str = "test-token";
const DEVICE: &str = "sim/account1/10001";

async fn supervised_api() -> (Supervised, Router) {
    let supervised = supervise(2, 1, quick_options()).await;
    api_of(supervised).await
}

/// The API over `supervised`, once [`DEVICE`]'s load is readable.
async fn api_of(supervised: Supervised) -> (Supervised, Router) {
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
        (StatusCode::OK, json!({"outcome": "stored"}))
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

/// The clearShedState calls the simulator received since `reset_calls`, as their bodies.
fn clear_shed_bodies(supervised: &Supervised) -> Vec<String> {
    supervised
        .sim
        .state()
        .calls()
        .recent
        .iter()
        .filter(|c| c.method == "clearShedState")
        .map(|c| c.body.clone())
        .collect()
}

/// Issue 13 item 9: a device revert undoes what this supervisor changed and nothing else. The
/// example registry gives every shedState a Starting Value of 0; port 2 was never written, so
/// no clearShedState goes to it.
#[tokio::test]
async fn device_revert_clears_only_the_ports_this_supervisor_shed() {
    let (supervised, app) = supervised_api().await;
    write(&app, "port1.allowedLoad", json!(1.5), Some(TOKEN)).await;
    let (status, _) = write(&app, "port1.shedState", json!(1), Some(TOKEN)).await;
    assert_eq!(status, StatusCode::OK);
    supervised.sim.state().reset_calls();

    let (status, body) = call(
        &app,
        Method::POST,
        &format!("/api/devices/{DEVICE}/revert"),
        None,
        Some(TOKEN),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["errors"], json!({}), "{body}");
    let names: Vec<&String> = body["points"]
        .as_object()
        .expect("per-point outcomes")
        .keys()
        .collect();
    assert_eq!(names, ["port1.allowedLoad", "port1.shedState"], "{body}");
    let clears = clear_shed_bodies(&supervised);
    assert_eq!(clears.len(), 1, "{clears:?}");
    assert!(
        clears[0].contains("<portNumber>1</portNumber>"),
        "{}",
        clears[0]
    );
    assert!(!supervised.port("1:10001", 1).load.shed_state);
    supervised.stop().await;
}

/// Issue 13 item 9 on a restricted plan (account2 cannot clearShedState): a revert after a
/// limit-only write sends nothing, so nothing fails.
#[tokio::test]
async fn device_revert_on_a_restricted_station_sends_no_clear_it_never_needed() {
    let supervised = supervise(2, 2, quick_options()).await;
    let app = router(AppState {
        fleet: supervised.fleet.clone(),
        token: Some(Secret::new(TOKEN)),
    });
    let device = "sim/account2/20001";
    wait_for_point(&supervised.fleet, device, "port1.Status").await;
    let (status, _) = call(
        &app,
        Method::PUT,
        &format!("/api/devices/{device}/points/port1.allowedLoad"),
        Some(json!({"value": 2.0})),
        Some(TOKEN),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    supervised.sim.state().reset_calls();
    let (status, body) = call(
        &app,
        Method::POST,
        &format!("/api/devices/{device}/revert"),
        None,
        Some(TOKEN),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["errors"], json!({}), "{body}");
    let outcomes: Vec<&Value> = body["points"]
        .as_object()
        .expect("per-point outcomes")
        .values()
        .collect();
    assert_eq!(outcomes, [&json!({"outcome": "stored"})], "{body}");
    assert!(clear_shed_bodies(&supervised).is_empty());
    supervised.stop().await;
}

/// Issue 13 item 2: a limit written to an unshed port is only stored, and says so; a read
/// shows the value in force (getLoad's) with the stored intent beside it, until a shed
/// applies it.
#[tokio::test]
async fn a_limit_written_alone_is_stored_and_read_beside_the_value_in_force() {
    let (supervised, app) = supervised_api().await;
    assert_eq!(
        write(&app, "port1.allowedLoad", json!(1.5), Some(TOKEN)).await,
        (StatusCode::OK, json!({"outcome": "stored"}))
    );
    let (status, body) = call(
        &app,
        Method::GET,
        &point_uri("port1.allowedLoad"),
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (&body["value"], &body["stored"]),
        (&json!(0.0), &json!(1.5)),
        "{body}"
    );
    let (_, other) = call(
        &app,
        Method::GET,
        &point_uri("port1.percentShed"),
        None,
        None,
    )
    .await;
    assert!(other.get("stored").is_none(), "{other}");

    assert_eq!(
        write(&app, "port1.shedState", json!(1), Some(TOKEN)).await,
        (StatusCode::OK, json!({"outcome": "confirmed"}))
    );
    let (_, body) = call(
        &app,
        Method::GET,
        &point_uri("port1.allowedLoad"),
        None,
        None,
    )
    .await;
    assert_eq!(body["value"], json!(1.5), "{body}");
    assert!(
        body.get("stored").is_none(),
        "applied: nothing stored apart: {body}"
    );
    supervised.stop().await;
}

/// Issue 13 item 2 on account2, whose plan refuses shedLoad: the limit is stored; shedState=1
/// is `refused` naming the method and the account's plan; once ChargePoint has refused it,
/// the next one is refused at once, without a call.
#[tokio::test]
async fn shed_on_a_plan_without_shed_load_is_refused_and_then_not_sent_again() {
    let supervised = supervise(2, 2, quick_options()).await;
    let app = router(AppState {
        fleet: supervised.fleet.clone(),
        token: Some(Secret::new(TOKEN)),
    });
    let device = "sim/account2/20001";
    wait_for_point(&supervised.fleet, device, "port1.Status").await;
    let put = |point: &str, value: Value| {
        let uri = format!("/api/devices/{device}/points/{point}");
        let app = app.clone();
        async move {
            call(
                &app,
                Method::PUT,
                &uri,
                Some(json!({ "value": value })),
                Some(TOKEN),
            )
            .await
        }
    };
    assert_eq!(
        put("port1.allowedLoad", json!(2.0)).await,
        (StatusCode::OK, json!({"outcome": "stored"}))
    );
    let (status, first) = put("port1.shedState", json!(1)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(first["outcome"], "refused", "{first}");
    let reason = first["reason"].as_str().expect("a reason");
    assert!(
        reason.contains("account account2")
            && reason.contains("shedLoad")
            && reason.contains("plan"),
        "{reason}"
    );

    supervised.sim.state().reset_calls();
    let (status, second) = put("port1.shedState", json!(1)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(second["outcome"], "refused", "{second}");
    assert_eq!(supervised.sim.state().calls().count("shedLoad"), 0);
}

/// After an accepted clearAlarms the alarm points read empty at once, not after the next
/// getAlarms (here, as with the shipped registry, 300 s away).
#[tokio::test]
async fn cleared_alarms_read_empty_at_once() {
    let supervised = supervise_spec(6, 1, quick_options(), |spec| {
        let mut spec = with_interval(spec, TEST_INTERVAL);
        for set in &mut spec.station_sets {
            let mut registry = (*set.registry).clone();
            for point in &mut registry.points {
                if point.method() == cp_registry::ApiMethod::GetAlarms {
                    point.scrape_interval = Some(Duration::from_secs(300));
                    point.data_currency = Some(Duration::from_secs(300));
                }
            }
            set.registry = std::sync::Arc::new(registry);
        }
        spec
    })
    .await;
    let (supervised, app) = api_of(supervised).await;
    // The simulator's day of history leaves alarms on most stations.
    let device = eventually("a station with an alarm", || async {
        for n in 1..=6 {
            let device = format!("sim/account1/{}", 10000 + n);
            let uri = format!("/api/devices/{device}/points/alarmType");
            let (status, body) = call(&app, Method::GET, &uri, None, None).await;
            if status == StatusCode::OK && body["value"].is_string() {
                return Some(device);
            }
        }
        None
    })
    .await;
    let (status, body) = call(
        &app,
        Method::PUT,
        &format!("/api/devices/{device}/points/clearAlarms"),
        Some(json!({"value": 1})),
        Some(TOKEN),
    )
    .await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({"outcome": "confirmed"}))
    );
    for point in ["alarmType", "alarmTime"] {
        let uri = format!("/api/devices/{device}/points/{point}");
        let (status, body) = call(&app, Method::GET, &uri, None, None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            body["value"],
            Value::Null,
            "{point} after the clear: {body}"
        );
    }
    supervised.stop().await;
}

/// A plan refusal names the method the plan refuses, in the message and on its own.
#[tokio::test]
async fn plan_rights_refusal_names_the_refused_method() {
    let supervised = supervise(4, 2, quick_options()).await;
    let (supervised, app) = api_of(supervised).await;
    let uri = "/api/devices/sim/account2/20001/points/port1.portLoad";
    let answer = eventually("getLoad refused for account2", || async {
        let answer = call(&app, Method::GET, uri, None, None).await;
        (answer.1["error"]["kind"] == "plan_rights").then_some(answer)
    })
    .await;
    assert_eq!(
        answer,
        (
            StatusCode::BAD_GATEWAY,
            json!({"error": {
                "kind": "plan_rights",
                "message": "the account's plan does not permit getLoad, the ChargePoint method behind this point",
                "method": "getLoad",
            }})
        )
    );
    supervised.stop().await;
}

/// The device's heartbeat point reads as the latest publish carried it (the simulated fleet,
/// as `run` supervises it, has one).
#[tokio::test]
async fn heartbeat_point_is_readable() {
    let (supervised, app) = supervised_api().await;
    let (status, body) = call(&app, Method::GET, &point_uri("Heartbeat"), None, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["point"], "Heartbeat");
    assert_eq!(body["meta"]["type"], "integer");
    let beat = body["value"].as_i64().expect("an integer heartbeat");
    assert!(beat == 0 || beat == 1, "{beat}");
    // It toggles with each publish.
    eventually("the heartbeat toggles", || async {
        let (_, body) = call(&app, Method::GET, &point_uri("Heartbeat"), None, None).await;
        (body["value"].as_i64() == Some(1 - beat)).then_some(())
    })
    .await;
    supervised.stop().await;
}

/// A station set's `shed_lease_minutes` is the `timeInterval` its sheds carry: a 5-minute
/// shed has lapsed at the simulator 6 minutes on, where the 15-minute default would hold.
#[tokio::test]
async fn a_station_sets_shed_lease_is_the_sheds_time_interval() {
    let supervised = supervise_spec(2, 1, quick_options(), |spec| {
        let mut spec = with_interval(spec, TEST_INTERVAL);
        for set in &mut spec.station_sets {
            set.shed_lease_minutes = Some(5);
        }
        spec
    })
    .await;
    let (supervised, app) = api_of(supervised).await;
    let (status, body) = call(
        &app,
        Method::PUT,
        &format!("/api/devices/{DEVICE}/points"),
        Some(json!({"points": {"port1.allowedLoad": 1.0, "port1.shedState": 1}})),
        Some(TOKEN),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["points"]["port1.shedState"],
        json!({"outcome": "confirmed"})
    );
    let state = supervised.sim.state();
    state.advance(Duration::from_secs(4 * 60));
    assert!(
        supervised.port("1:10001", 1).load.shed_state,
        "held within the lease"
    );
    state.advance(Duration::from_secs(2 * 60));
    assert!(
        !supervised.port("1:10001", 1).load.shed_state,
        "lapsed after the 5-minute lease"
    );
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
            (status, body),
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
