//! The fleet driven through its [`Fleet`] handle against the in-memory fake account, on tokio's
//! paused clock: scrapes and publishes, the spec's write semantics, leases, supervision.
//! This module holds the fixtures; each suite has its own module.

mod answers;
mod fleet;
mod leases;
mod restarts;
mod scrape;
mod station_load;
mod writes;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use cp_registry::{
    Account, AccountId, Alarm, ApiMethod, DevicePattern, PointValue, PortNumber, Position,
    RefusedValue, Registry, Secret, StationSelection, StationSet,
};
use serde_json::json;
use tokio::sync::broadcast;

use crate::api::{ChargePointApi, ShedLimit};
use crate::fake_api::{station_id, Fail, FakeApi};
use crate::{
    DeviceError, FailureKind, Fleet, FleetOptions, GatewayOptions, Liveness, Publish, WriteAnswer,
    WriteOutcome,
};
use cp_registry::FleetConfig;

const REGISTRY: &str = "\
Volttron Point Name,Attribute Name,Register Name,Port #,Type,Units,Starting Value,Writable,Notes
Status,Status,StationStatusRegister,1,string,,,FALSE,
shedState,shedState,LoadRegister,1,integer,0 or 1,,TRUE,
portLoad,portLoad,LoadRegister,1,float,kW,,FALSE,
allowedLoad,allowedLoad,LoadRegister,1,float,kW,,TRUE,
percentShed,percentShed,LoadRegister,1,integer,percent,,TRUE,
alarmType,alarmType,AlarmRegister,,string,,,FALSE,
clearAlarms,clearAlarms,AlarmRegister,,integer,,0,TRUE,
";

const DEVICE: &str = "campus/bldg/1000";

fn spec(stations: usize) -> FleetConfig {
    spec_with(REGISTRY, stations)
}

fn spec_with(csv: &str, stations: usize) -> FleetConfig {
    let registry = Registry::parse_reader(csv.as_bytes(), Path::new("test.csv"))
        .expect("test registry parses");
    let account = AccountId("acct".into());
    FleetConfig {
        accounts: vec![Account {
            id: account.clone(),
            username: "acct".into(),
            password: Secret::new("pw"),
            rate_limit_per_minute: None,
            source: Position::new("fleet.json", 1),
        }],
        station_sets: vec![StationSet {
            account,
            registry: Arc::new(registry),
            stations: StationSelection::Listed((0..stations).map(station_id).collect()),
            device_path: DevicePattern::Template("campus/bldg/{station_number}".into()),
            interval: Duration::from_secs(60),
            heart_beat_point: Some("heartbeat".into()),
            timezone: Some("UTC".into()),
            cache_expiration: None,
            shed_lease_minutes: None,
            source: Position::new("fleet.json", 2),
        }],
        api_token: None,
    }
}

fn options() -> FleetOptions {
    FleetOptions {
        gateway: GatewayOptions {
            retry_deadline: Duration::from_secs(5),
            ..GatewayOptions::default()
        },
        confirm_timeout: Duration::from_secs(10),
        confirm_poll: Duration::from_secs(1),
        // Past the confirm timeout, so a write ChargePoint answers is answered with its
        // outcome; `writes` tests the bound itself.
        write_answer_timeout: Duration::from_secs(60),
        ..FleetOptions::default()
    }
}

async fn start(api: &Arc<FakeApi>, stations: usize) -> Fleet {
    start_with(api, spec(stations), options()).await
}

async fn start_with(api: &Arc<FakeApi>, spec: FleetConfig, options: FleetOptions) -> Fleet {
    let api = Arc::clone(api);
    Fleet::start(
        spec,
        Arc::new(move |_: &Account| Arc::clone(&api) as Arc<dyn ChargePointApi>),
        options,
    )
    .await
    .expect("fleet starts")
}

/// Starts a fleet and waits until its first station has scraped once.
async fn started(api: &Arc<FakeApi>, stations: usize) -> Fleet {
    let fleet = start(api, stations).await;
    fleet.scrape_all(DEVICE).await.expect("first scrape");
    fleet
}

/// A fleet of one one-port station that has scraped once.
async fn one_station() -> (Arc<FakeApi>, Fleet) {
    let api = Arc::new(FakeApi::new(1, 1, 1));
    let fleet = started(&api, 1).await;
    (api, fleet)
}

async fn next_publish(rx: &mut broadcast::Receiver<Publish>) -> Publish {
    tokio::time::timeout(Duration::from_secs(600), rx.recv())
        .await
        .expect("a publish within ten minutes")
        .expect("channel open")
}

async fn next_publish_of(rx: &mut broadcast::Receiver<Publish>, device: &str) -> Publish {
    loop {
        let publish = next_publish(rx).await;
        if publish.device == device {
            return publish;
        }
    }
}

async fn set(
    fleet: &Fleet,
    point: &str,
    value: serde_json::Value,
) -> Result<WriteOutcome, DeviceError> {
    fleet
        .set_point(DEVICE, point, value)
        .await
        .map(|answer| answer.outcome)
}

/// The outcomes of a device revert, by point.
fn outcomes(answers: Vec<(String, WriteAnswer)>) -> Vec<(String, WriteOutcome)> {
    answers
        .into_iter()
        .map(|(point, answer)| (point, answer.outcome))
        .collect()
}

/// Writes `point` and checks what became of the write.
async fn expect_write(fleet: &Fleet, point: &str, value: serde_json::Value, want: WriteOutcome) {
    match set(fleet, point, value).await {
        Ok(got) => assert_eq!(got, want, "writing {point}"),
        Err(e) => panic!("writing {point}: {e}"),
    }
}

/// Writes allowedLoad then shedState=1, as an operator capping a port does.
async fn shed_at(fleet: &Fleet, kw: f64) {
    set(fleet, "allowedLoad", json!(kw)).await.unwrap();
    set(fleet, "shedState", json!(1)).await.unwrap();
}

/// Sheds the port at 3 kW, then writes shedState=0 while ChargePoint accepts the clear but
/// does not apply it (it still shows the shed); the write is pending.
async fn clear_unseen_by_chargepoint(api: &FakeApi, fleet: &Fleet) {
    shed_at(fleet, 3.0).await;
    api.ignore_writes(true);
    assert_eq!(
        set(fleet, "shedState", json!(0)).await.unwrap(),
        WriteOutcome::Pending
    );
}

/// Waits 11 minutes and checks that the 3 kW shed sent at `shed_at` was sent once more, before
/// its 15-minute lease lapsed.
async fn assert_renewed_within_the_lease(api: &FakeApi, shed_at: tokio::time::Instant) {
    tokio::time::sleep(Duration::from_secs(11 * 60)).await;
    let calls = api.calls_of(ApiMethod::ShedLoad);
    assert_eq!(calls.len(), 2, "{calls:?}");
    let renewed_after = calls[1].at.duration_since(shed_at);
    assert!(
        renewed_after < Duration::from_secs(15 * 60),
        "{renewed_after:?}"
    );
    assert!(calls[1].detail.contains("AllowedLoad(3.0)"), "{calls:?}");
}

/// The paths of the fleet's devices.
async fn device_paths(fleet: &Fleet) -> Vec<String> {
    let devices = fleet.devices().await.expect("the fleet lists its devices");
    devices.into_iter().map(|d| d.path).collect()
}

fn shed_of(api: &FakeApi, n: usize) -> Option<ShedLimit> {
    api.with_station(&station_id(n), |s| s.ports[&PortNumber(1)].shed)
}

fn shed_calls(api: &FakeApi) -> Vec<String> {
    api.calls_of(ApiMethod::ShedLoad)
        .into_iter()
        .map(|c| c.detail)
        .collect()
}
