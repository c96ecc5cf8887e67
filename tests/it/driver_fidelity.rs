//! What the VOLTTRON driver spec promises, seen through the device API on the simulator: reverts
//! touch only what was written, a limit alone is stored, plan refusals name their method,
//! cleared alarms read empty, the heartbeat reads, a station set's shed lease.

use std::time::Duration;

use crate::util::api::{
    api_of, call, point_uri, restricted_api, revert_device, supervised_api, unnumbered, write,
    DEVICE, RESTRICTED_DEVICE, TOKEN,
};
use crate::util::supervisor::{
    eventually, quick_options, supervise, supervise_spec, Supervised, TEST_INTERVAL,
};
use axum::http::{Method, StatusCode};
use chargepoint_supervisor::run::with_interval;
use serde_json::{json, Value};

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

    let body = revert_device(&app, DEVICE).await;
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
    let (supervised, app) = restricted_api().await;
    let device = RESTRICTED_DEVICE;
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
    let body = revert_device(&app, device).await;
    let outcomes: Vec<Value> = body["points"]
        .as_object()
        .expect("per-point outcomes")
        .values()
        .map(|v| unnumbered(v.clone()))
        .collect();
    assert_eq!(outcomes, [json!({"outcome": "stored"})], "{body}");
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
        unnumbered(write(&app, "port1.allowedLoad", json!(1.5), Some(TOKEN)).await),
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
        unnumbered(write(&app, "port1.shedState", json!(1), Some(TOKEN)).await),
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
    let (supervised, app) = restricted_api().await;
    let device = RESTRICTED_DEVICE;
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
        unnumbered(put("port1.allowedLoad", json!(2.0)).await),
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
        (status, unnumbered(body)),
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
        unnumbered(body["points"]["port1.shedState"].clone()),
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
