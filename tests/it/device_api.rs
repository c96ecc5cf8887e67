//! The device HTTP API over a real fleet supervising the simulator: requests go through
//! `router(state).oneshot(..)` (no socket); the fleet talks SOAP to the simulator on loopback.
//! Reads, writes, the token, events and health; the driver spec's promises are in
//! `driver_fidelity`, the API's defences in `api_security`.

use crate::util::api::{
    call, point_uri, refusal, revert_device, sse_event, supervised_api, unnumbered, write, DEVICE,
    TOKEN,
};
use crate::util::supervisor::eventually;
use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use serde_json::json;
use tower::ServiceExt;

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
        (status, unnumbered(body)),
        (StatusCode::OK, json!({"outcome": "stored"}))
    );
    assert!(
        !supervised.port("1:10001", 1).load.shed_state,
        "storing an intent does not shed"
    );

    let (status, body) = write(&app, "port1.shedState", json!(1), Some(TOKEN)).await;
    assert_eq!(
        (status, unnumbered(body)),
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

    revert_device(&app, DEVICE).await;
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
        unnumbered(body["points"]["port2.shedState"].clone()),
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
    let publish = sse_event(response, "publish", |_| true).await;
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
