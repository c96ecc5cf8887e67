//! Issue 13 item 1: Load points with an empty `Port #` are the whole station, as in VOLTTRON's
//! driver. Through the device API on the simulator, with the shipped example registry
//! `registry/configs/station-load.csv`: a limit alone is stored, shedState 1 sheds the station
//! (`shedStation` with `allowedLoadPerStation` / `percentShedPerStation`, no `Ports`), reads are
//! VOLTTRON's (the largest limit among the shed ports), 0 clears the station, the shed carries
//! the lease, a revert clears only what was written, and port-level points mix in.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::util::api::{api_of, call, point_uri, revert_device, unnumbered, write, DEVICE, TOKEN};
use crate::util::schema::assert_body_valid;
use crate::util::supervisor::{quick_options, supervise_spec, Supervised, TEST_INTERVAL};
use crate::util::{tools_present, XMLLINT};
use axum::http::{Method, StatusCode};
use axum::Router;
use chargepoint_supervisor::run::with_interval;
use cp_registry::{FleetConfig, Registry};
use serde_json::{json, Value};

/// The shipped example of station-level Load points.
fn example() -> Registry {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("registry/configs/station-load.csv");
    Registry::parse(&path).expect("the shipped example is valid")
}

/// The simulator's stations supervised with `registry`, every point at [`TEST_INTERVAL`], and
/// `shape` applied to the spec; the API over them once [`DEVICE`]'s load reads.
async fn api_with(
    registry: Registry,
    shape: impl FnOnce(FleetConfig) -> FleetConfig,
) -> (Supervised, Router) {
    let supervised = supervise_spec(2, 1, quick_options(), |mut spec| {
        for set in &mut spec.station_sets {
            set.registry = Arc::new(registry.clone());
        }
        shape(with_interval(spec, TEST_INTERVAL))
    })
    .await;
    api_of(supervised).await
}

async fn read(app: &Router, point: &str) -> Value {
    let (status, body) = call(app, Method::GET, &point_uri(point), None, None).await;
    assert_eq!(status, StatusCode::OK, "{point}: {body}");
    body
}

/// The bodies of the simulator's `method` calls since the last `reset_calls`.
fn bodies(supervised: &Supervised, method: &str) -> Vec<String> {
    let calls = supervised.sim.state().calls();
    calls
        .recent
        .iter()
        .filter(|c| c.method == method)
        .map(|c| c.body.clone())
        .collect()
}

/// One body, checked against ChargePoint's schema when xmllint is there.
fn only_valid(bodies: &[String], what: &str) -> String {
    assert_eq!(bodies.len(), 1, "{what}: {bodies:?}");
    if tools_present(&[XMLLINT]) {
        assert_body_valid(bodies[0].as_bytes(), what);
    }
    bodies[0].clone()
}

#[tokio::test]
async fn a_station_limit_is_stored_then_shed_state_sheds_and_clears_the_whole_station() {
    let (supervised, app) = api_with(example(), |spec| spec).await;
    assert_eq!(
        unnumbered(write(&app, "allowedLoad", json!(6.0), Some(TOKEN)).await),
        (StatusCode::OK, json!({"outcome": "stored"}))
    );
    let body = read(&app, "allowedLoad").await;
    assert_eq!(
        (&body["value"], &body["stored"]),
        (&json!(0.0), &json!(6.0)),
        "{body}"
    );

    supervised.sim.state().reset_calls();
    assert_eq!(
        unnumbered(write(&app, "shedState", json!(1), Some(TOKEN)).await),
        (StatusCode::OK, json!({"outcome": "confirmed"}))
    );
    let shed = only_valid(&bodies(&supervised, "shedLoad"), "the station's shedLoad");
    assert!(
        shed.contains("allowedLoadPerStation>6") && !shed.contains("Ports"),
        "{shed}"
    );
    // The simulator divides the station's 6 kW evenly: each port is capped at 3 kW.
    for port in [1, 2] {
        let load = supervised.port("1:10001", port).load;
        assert!(load.shed_state, "port {port}");
        assert_eq!(load.allowed_load, 3.0, "port {port}");
    }
    // VOLTTRON reads the station's allowedLoad as the largest among its shed ports: a share.
    let body = read(&app, "allowedLoad").await;
    assert_eq!(body["value"], json!(3.0), "{body}");
    assert!(body.get("stored").is_none(), "applied: {body}");
    assert_eq!(read(&app, "shedState").await["value"], json!(1));
    assert!(read(&app, "stationLoad").await["value"].is_number());

    supervised.sim.state().reset_calls();
    assert_eq!(
        unnumbered(write(&app, "shedState", json!(0), Some(TOKEN)).await),
        (StatusCode::OK, json!({"outcome": "confirmed"}))
    );
    let clear = only_valid(
        &bodies(&supervised, "clearShedState"),
        "the station's clear",
    );
    assert!(!clear.contains("portNumber"), "{clear}");
    for port in [1, 2] {
        assert!(
            !supervised.port("1:10001", port).load.shed_state,
            "port {port}"
        );
    }
    assert_eq!(read(&app, "shedState").await["value"], json!(0));
    supervised.stop().await;
}

#[tokio::test]
async fn station_shed_state_without_a_station_limit_is_refused_and_sends_nothing() {
    let (supervised, app) = api_with(example(), |spec| spec).await;
    supervised.sim.state().reset_calls();
    let (status, body) = write(&app, "shedState", json!(1), Some(TOKEN)).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::CONFLICT,
            json!({"error": {
                "kind": "no_shed_intent",
                "message": "device sim/account1/10001: point shedState: no allowedLoad or percentShed written for the station; write one first",
            }})
        )
    );
    assert!(bodies(&supervised, "shedLoad").is_empty());
    supervised.stop().await;
}

/// The station's shed carries the station set's lease as its `timeInterval`: 5 minutes on, with
/// no renewal yet, the simulator has lifted it.
#[tokio::test]
async fn a_station_shed_carries_the_lease_as_its_time_interval() {
    let (supervised, app) = api_with(example(), |mut spec| {
        for set in &mut spec.station_sets {
            set.shed_lease_minutes = Some(5);
        }
        spec
    })
    .await;
    let (status, body) = call(
        &app,
        Method::PUT,
        &format!("/api/devices/{DEVICE}/points"),
        Some(json!({"points": {"percentShed": 40, "shedState": 1}})),
        Some(TOKEN),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        unnumbered(body["points"]["shedState"].clone()),
        json!({"outcome": "confirmed"})
    );
    assert_eq!(supervised.port("1:10001", 2).load.percent_shed, 40);
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

/// A device revert clears the station this supervisor shed (one clearShedState for the whole
/// station) and forgets the station's limit; nothing else is sent.
#[tokio::test]
async fn device_revert_clears_the_station_and_forgets_its_limit() {
    let (supervised, app) = api_with(example(), |spec| spec).await;
    write(&app, "percentShed", json!(25), Some(TOKEN)).await;
    let (status, _) = write(&app, "shedState", json!(1), Some(TOKEN)).await;
    assert_eq!(status, StatusCode::OK);
    supervised.sim.state().reset_calls();

    let body = revert_device(&app, DEVICE).await;
    assert_eq!(
        unnumbered(body["points"].clone()),
        json!({
            "shedState": {"outcome": "confirmed"},
            "percentShed": {"outcome": "stored"},
        }),
        "{body}"
    );
    let clear = only_valid(&bodies(&supervised, "clearShedState"), "the revert's clear");
    assert!(!clear.contains("portNumber"), "{clear}");
    assert!(bodies(&supervised, "shedLoad").is_empty());
    assert!(!supervised.port("1:10001", 1).load.shed_state);
    assert!(read(&app, "percentShed").await.get("stored").is_none());
    supervised.stop().await;
}

/// One registry may hold both: the example's station-level points beside port 1's. A port's
/// shed and the station's live side by side; clearing the station clears the port too, which
/// keeps its limit for its next shed.
#[tokio::test]
async fn station_and_port_load_points_mix_in_one_registry() {
    let mut registry = example();
    let port_rows = "\
Volttron Point Name,Attribute Name,Register Name,Port #,Type,Units,Starting Value,Writable,Notes
port1.shedState,shedState,LoadRegister,1,integer,0 or 1,,TRUE,
port1.allowedLoad,allowedLoad,LoadRegister,1,float,kW,,TRUE,
";
    let ports = Registry::parse_reader(port_rows.as_bytes(), Path::new("ports.csv"))
        .expect("port rows are valid");
    registry.points.extend(ports.points);
    let (supervised, app) = api_with(registry, |spec| spec).await;

    write(&app, "percentShed", json!(50), Some(TOKEN)).await;
    assert_eq!(
        unnumbered(write(&app, "shedState", json!(1), Some(TOKEN)).await),
        (StatusCode::OK, json!({"outcome": "confirmed"}))
    );
    write(&app, "port1.allowedLoad", json!(1.0), Some(TOKEN)).await;
    assert_eq!(
        unnumbered(write(&app, "port1.shedState", json!(1), Some(TOKEN)).await),
        (StatusCode::OK, json!({"outcome": "confirmed"}))
    );
    // Port 1 shows its own cap, port 2 the station's percentShed; the station reads both.
    assert_eq!(read(&app, "port1.allowedLoad").await["value"], json!(1.0));
    assert_eq!(supervised.port("1:10001", 2).load.percent_shed, 50);
    assert_eq!(read(&app, "percentShed").await["value"], json!(50));
    assert_eq!(read(&app, "allowedLoad").await["value"], json!(1.0));

    assert_eq!(
        unnumbered(write(&app, "shedState", json!(0), Some(TOKEN)).await),
        (StatusCode::OK, json!({"outcome": "confirmed"}))
    );
    assert!(!supervised.port("1:10001", 1).load.shed_state);
    assert_eq!(read(&app, "port1.shedState").await["value"], json!(0));
    assert_eq!(
        unnumbered(write(&app, "port1.shedState", json!(1), Some(TOKEN)).await),
        (StatusCode::OK, json!({"outcome": "confirmed"}))
    );
    assert_eq!(supervised.port("1:10001", 1).load.allowed_load, 1.0);
    supervised.stop().await;
}
