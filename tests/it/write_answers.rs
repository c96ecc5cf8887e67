//! Every write gets an answer within the bound, and the answer is true (issue 14), through the
//! device API over a fleet supervising the simulator, with the simulator's faults: a hanging
//! shedLoad, a truncated one that applied, fifty writes at once to one point.

use std::time::{Duration, Instant};

use crate::util::api::{api_of, call, sse_event, write, DEVICE, TOKEN};
use crate::util::sim::add_fault;
use crate::util::supervisor::{eventually, quick_options, supervise, Supervised};
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use axum::Router;
use cp_actors::{FleetOptions, GatewayOptions};
use futures::future::join_all;
use serde_json::{json, Value};
use tower::ServiceExt;

/// The write-answer bound of these fleets.
const BOUND: Duration = Duration::from_secs(2);

/// Time for the station to route a write and the answer to come back, beyond the bound.
const ROUTING: Duration = Duration::from_secs(1);

/// Quick options with a short write-answer bound, and a gateway that gives up on a hung call
/// within seconds, so a hung write settles within a test's patience.
fn options() -> FleetOptions {
    let quick = quick_options();
    FleetOptions {
        gateway: GatewayOptions {
            call_timeout: Duration::from_secs(2),
            retry_deadline: Duration::from_secs(1),
            ..quick.gateway.clone()
        },
        confirm_timeout: Duration::from_secs(2),
        write_answer_timeout: BOUND,
        ..quick
    }
}

async fn api(options: FleetOptions) -> (Supervised, Router) {
    api_of(supervise(2, 1, options).await).await
}

/// `PUT` of `point`, checked to be answered within the bound: the answer's JSON.
async fn answered(app: &Router, point: &str, value: Value) -> Value {
    let asked = Instant::now();
    let (status, body) = write(app, point, value, Some(TOKEN)).await;
    let took = asked.elapsed();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(took <= BOUND + ROUTING, "answered after {took:?}: {body}");
    assert!(
        body["write"].is_u64(),
        "every routed write has an id: {body}"
    );
    body
}

/// `GET /api/writes/{id}`.
async fn write_entry(app: &Router, id: u64) -> Value {
    let (status, body) = call(app, Method::GET, &format!("/api/writes/{id}"), None, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// The write log's entry of `id` once it has settled.
async fn settled(app: &Router, id: u64) -> Value {
    eventually(&format!("write {id} settled"), || async {
        let entry = write_entry(app, id).await;
        (entry["settled"] == true).then_some(entry)
    })
    .await
}

#[tokio::test]
async fn a_hanging_shed_is_answered_pending_in_time_then_read_and_announced_as_failed() {
    let (supervised, app) = api(options()).await;
    let events = app
        .clone()
        .oneshot(
            Request::builder()
                .uri("/api/events")
                .body(Body::empty())
                .expect("a valid request"),
        )
        .await
        .expect("the router answers");
    assert_eq!(
        answered(&app, "port1.allowedLoad", json!(1.5)).await["outcome"],
        "stored"
    );
    add_fault(&supervised.sim, "shedLoad=hang").await;

    let answer = answered(&app, "port1.shedState", json!(1)).await;
    assert_eq!(answer["outcome"], "pending", "{answer}");
    let id = answer["write"].as_u64().expect("an id");
    let entry = write_entry(&app, id).await;
    assert_eq!(
        (&entry["device"], &entry["point"], &entry["value"]),
        (&json!(DEVICE), &json!("port1.shedState"), &json!(1))
    );

    // The call times out; getLoad, read back, shows no shed: the write failed, and says why.
    let entry = settled(&app, id).await;
    assert_eq!(entry["outcome"], "failed", "{entry}");
    let reason = entry["reason"].as_str().expect("a reason");
    assert!(
        reason.contains("shedLoad: no answer within")
            && reason.ends_with("getLoad read back does not show a shed at 1.5 kW on port 1"),
        "{reason}"
    );
    assert!(!supervised.port("1:10001", 1).load.shed_state);
    assert_eq!(
        sse_event(events, "write", |e| e["write"] == id).await,
        entry
    );
    supervised.stop().await;
}

#[tokio::test]
async fn a_truncated_answer_to_a_shed_in_force_is_confirmed_by_reading_it_back() {
    let options = options();
    let (supervised, app) = api(FleetOptions {
        write_answer_timeout: Duration::from_secs(10),
        // Retries for as long as in production: a write whose answer was lost is not re-sent
        // for them, it is read back at once.
        gateway: GatewayOptions {
            retry_deadline: Duration::from_secs(60),
            ..options.gateway.clone()
        },
        ..options
    })
    .await;
    answered(&app, "port1.allowedLoad", json!(1.5)).await;
    // Every shedLoad is carried out, and its answer cut in half.
    add_fault(&supervised.sim, "shedLoad=truncated").await;
    let asked = Instant::now();
    let (status, answer) = write(&app, "port1.shedState", json!(1), Some(TOKEN)).await;
    assert!(asked.elapsed() <= Duration::from_secs(11), "{answer}");
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["outcome"], "confirmed", "{answer}");
    let port = supervised.port("1:10001", 1);
    assert!(port.load.shed_state);
    assert_eq!(port.load.allowed_load, 1.5);
    let id = answer["write"].as_u64().expect("an id");
    assert_eq!(write_entry(&app, id).await["outcome"], "confirmed");
    let calls = crate::util::sim::admin_get(&supervised.sim, "calls").await;
    assert_eq!(calls["by_method"]["shedLoad"], 1, "the shed was re-sent");
    for unknown in ["999999", "abc"] {
        let (status, body) = call(
            &app,
            Method::GET,
            &format!("/api/writes/{unknown}"),
            None,
            None,
        )
        .await;
        assert_eq!(
            (status, body),
            (
                StatusCode::NOT_FOUND,
                json!({"error": {"kind": "unknown_write", "message": format!(
                    "no write '{unknown}' (the supervisor keeps the last 10000 writes, settled ones for 60 min)"
                )}})
            )
        );
    }
    supervised.stop().await;
}

#[tokio::test]
async fn fifty_writes_at_once_to_one_point_are_answered_and_the_latest_is_in_force() {
    let (supervised, app) = api(FleetOptions {
        write_answer_timeout: Duration::from_secs(10),
        ..options()
    })
    .await;
    answered(&app, "port1.allowedLoad", json!(1.0)).await;
    assert_eq!(
        answered(&app, "port1.shedState", json!(1)).await["outcome"],
        "confirmed"
    );
    // Each shed takes a while: the writes behind it wait, and coalesce.
    add_fault(&supervised.sim, "shedLoad=latency:500ms").await;
    supervised.sim.state().reset_calls();

    let asked = Instant::now();
    let writes = (1..=50).map(|n| {
        let app = &app;
        let kw = 1.0 + f64::from(n) / 10.0;
        async move {
            (
                kw,
                write(app, "port1.allowedLoad", json!(kw), Some(TOKEN)).await,
            )
        }
    });
    let answers = join_all(writes).await;
    assert!(asked.elapsed() <= Duration::from_secs(11));

    let mut latest: Option<(u64, f64)> = None;
    let mut ids = Vec::new();
    for (kw, (status, answer)) in &answers {
        assert_eq!(*status, StatusCode::OK, "{kw} kW: {answer}");
        let id = answer["write"].as_u64().expect("an id");
        ids.push(id);
        match answer["outcome"].as_str() {
            Some("confirmed") => {}
            Some("superseded") => {
                let by = answer["by"].as_u64().expect("superseded by a write");
                assert!(by > id, "{kw} kW: {answer}");
            }
            _ => panic!("{kw} kW: {answer}"),
        }
        if latest.is_none_or(|(latest, _)| id > latest) {
            latest = Some((id, *kw));
        }
    }
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 50, "every write has its own id");
    let (latest_id, latest_kw) = latest.expect("fifty answers");
    let latest_answer = answers
        .iter()
        .find(|(_, (_, a))| a["write"] == latest_id)
        .map(|(_, (_, a))| a)
        .expect("the latest answer");
    assert_eq!(latest_answer["outcome"], "confirmed", "{latest_answer}");
    let port = supervised.port("1:10001", 1);
    assert!(port.load.shed_state);
    assert!(
        (port.load.allowed_load - latest_kw).abs() < 1e-3,
        "{} kW in force, the latest write {latest_kw} kW",
        port.load.allowed_load
    );
    // The write running when the others came and the latest were sent; the rest were not.
    let sheds = supervised.sim.state().calls().count("shedLoad");
    assert!(sheds <= 3, "{sheds} sheds for 50 writes");
    supervised.stop().await;
}
