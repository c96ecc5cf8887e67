//! The fleet driven through its [`Fleet`] handle against the in-memory fake account, on tokio's
//! paused clock: scrapes and publishes, the spec's write semantics, leases, supervision.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use cp_registry::{
    Account, AccountId, Alarm, ApiMethod, DevicePattern, PointValue, PortNumber, Position,
    Registry, Secret, StationSelection, StationSet,
};
use serde_json::json;
use tokio::sync::broadcast;

use crate::api::{ChargePointApi, ShedLimit};
use crate::fake_api::{station_id, Fail, FakeApi};
use crate::{DeviceError, Fleet, FleetOptions, FleetSpec, GatewayOptions, Publish, WriteOutcome};

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

fn spec(stations: usize) -> FleetSpec {
    spec_with(REGISTRY, stations)
}

fn spec_with(csv: &str, stations: usize) -> FleetSpec {
    let registry = Registry::parse_reader(csv.as_bytes(), Path::new("test.csv"))
        .expect("test registry parses");
    let account = AccountId("acct".into());
    FleetSpec {
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
        ..FleetOptions::default()
    }
}

async fn start(api: &Arc<FakeApi>, stations: usize) -> Fleet {
    start_with(api, spec(stations), options()).await
}

async fn start_with(api: &Arc<FakeApi>, spec: FleetSpec, options: FleetOptions) -> Fleet {
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
    fleet.set_point(DEVICE, point, value).await
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

#[tokio::test(start_paused = true)]
async fn a_scrape_publishes_the_volttron_all_message_and_toggles_the_heartbeat() {
    let api = Arc::new(FakeApi::new(1, 2, 1));
    let fleet = start(&api, 1).await;
    let mut rx = fleet.subscribe();
    let first = next_publish_of(&mut rx, DEVICE).await;
    let second = next_publish_of(&mut rx, DEVICE).await;
    assert_eq!(first.topic, "devices/campus/bldg/1000/all");
    let body = serde_json::to_value(&first.message).unwrap();
    assert_eq!(body[0]["Status"], "AVAILABLE");
    assert_eq!(body[0]["shedState"], 0);
    assert_eq!(body[0]["portLoad"], 0.0);
    assert_eq!(
        body[1]["portLoad"],
        json!({"type": "float", "units": "kW", "tz": "UTC"})
    );
    assert!(chrono::DateTime::parse_from_rfc3339(&first.headers.date).is_ok());
    assert_eq!(first.headers.date, first.headers.timestamp);
    let beat = |p: &Publish| p.message.values.get("heartbeat").cloned();
    assert_ne!(beat(&first), beat(&second));
    assert!(matches!(beat(&first), Some(PointValue::Int(0 | 1))));
}

#[tokio::test(start_paused = true)]
async fn first_scrapes_are_spread_in_slots_whose_reads_merge() {
    // Twelve stations in groups of two: six slots of two neighbours, ten seconds apart.
    let api = Arc::new(FakeApi::new(12, 1, 2));
    let fleet = start(&api, 12).await;
    let mut rx = fleet.subscribe();
    let origin = tokio::time::Instant::now();
    let mut firsts = std::collections::BTreeMap::new();
    while firsts.len() < 12 {
        let publish = next_publish(&mut rx).await;
        firsts
            .entry(publish.device)
            .or_insert_with(|| origin.elapsed().as_secs());
    }
    let times: Vec<u64> = firsts.into_values().collect();
    assert_eq!(times, vec![0, 0, 10, 10, 20, 20, 30, 30, 40, 40, 50, 50]);
    let first_minute = |method| {
        api.calls_of(method)
            .into_iter()
            .filter(|c| c.at.duration_since(origin) < Duration::from_secs(60))
            .map(|c| c.detail)
            .collect::<Vec<_>>()
    };
    let status = first_minute(ApiMethod::GetStationStatus);
    assert_eq!(status.len(), 6, "{status:?}");
    let loads = first_minute(ApiMethod::GetLoad);
    assert_eq!(loads.len(), 6, "{loads:?}");
    assert!(loads.iter().all(|d| d.starts_with("Group(")), "{loads:?}");
}

/// When getLoad and getStationStatus are called over ten scrapes a minute apart, with the
/// device's `cacheExpiration` set to `cache`.
async fn call_times(cache: Option<Duration>) -> Vec<(ApiMethod, Vec<u64>)> {
    let api = Arc::new(FakeApi::new(1, 1, 1));
    let mut spec = spec(1);
    spec.station_sets[0].cache_expiration = cache;
    let fleet = start_with(&api, spec, options()).await;
    let mut rx = fleet.subscribe();
    let origin = tokio::time::Instant::now();
    let mut scrapes = Vec::new();
    while scrapes.len() < 10 {
        next_publish_of(&mut rx, DEVICE).await;
        scrapes.push(origin.elapsed().as_secs());
    }
    assert_eq!(scrapes, (0..10).map(|n| n * 60).collect::<Vec<_>>());
    [ApiMethod::GetLoad, ApiMethod::GetStationStatus]
        .into_iter()
        .map(|method| {
            let at = api.calls_of(method).into_iter();
            (
                method,
                at.map(|c| c.at.duration_since(origin).as_secs()).collect(),
            )
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn every_scrape_reads_fresh_data_without_cache_expiration() {
    let every_minute: Vec<u64> = (0..10).map(|n| n * 60).collect();
    for (method, at) in call_times(None).await {
        assert_eq!(at, every_minute, "{method:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn cache_expiration_spaces_out_the_calls_but_not_the_scrapes() {
    for (method, at) in call_times(Some(Duration::from_secs(180))).await {
        assert_eq!(at, vec![0, 180, 360, 540], "{method:?}");
    }
    // Between two ticks, the later one: never sooner than cacheExpiration allows.
    for (method, at) in call_times(Some(Duration::from_secs(90))).await {
        assert_eq!(at, vec![0, 120, 240, 360, 480], "{method:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn allowed_load_replaces_percent_shed_as_the_intent_used_by_shed_state() {
    let (api, fleet) = one_station().await;
    expect_write(&fleet, "percentShed", json!(40), WriteOutcome::Confirmed).await;
    expect_write(&fleet, "allowedLoad", json!(3.0), WriteOutcome::Confirmed).await;
    // Storing an intent on an unshed port sends nothing.
    assert!(shed_calls(&api).is_empty());
    expect_write(&fleet, "shedState", json!(1), WriteOutcome::Confirmed).await;
    assert_eq!(shed_of(&api, 0), Some(ShedLimit::AllowedLoad(3.0)));
    let calls = shed_calls(&api);
    assert_eq!(calls.len(), 1);
    assert!(
        calls[0].contains("AllowedLoad(3.0)") && calls[0].contains("time_interval_minutes: 15"),
        "{calls:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_confirmed_write_is_visible_to_the_next_read() {
    let (_api, fleet) = one_station().await;
    let value = |point: &'static str| {
        let fleet = &fleet;
        async move { fleet.get_point(DEVICE, point).await.unwrap().value }
    };
    assert_eq!(value("shedState").await, PointValue::Int(0));
    shed_at(&fleet, 3.0).await;
    // No scrape ran in between: the write's own read-back shows the shed.
    assert_eq!(value("shedState").await, PointValue::Int(1));
    assert_eq!(value("allowedLoad").await, PointValue::Float(3.0));
    let publish = fleet.scrape_all(DEVICE).await.unwrap();
    assert_eq!(
        publish.message.values.get("shedState"),
        Some(&PointValue::Int(1))
    );

    expect_write(&fleet, "shedState", json!(0), WriteOutcome::Confirmed).await;
    assert_eq!(value("shedState").await, PointValue::Int(0));
}

#[tokio::test(start_paused = true)]
async fn shed_state_without_a_written_limit_is_refused() {
    let (api, fleet) = one_station().await;
    let error = set(&fleet, "shedState", json!(1)).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "device campus/bldg/1000: point shedState: no allowedLoad or percentShed written for port 1; write one first"
    );
    assert_eq!(error.status_hint(), 409);
    assert!(shed_calls(&api).is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_new_limit_on_a_shed_port_is_applied_at_once() {
    let (api, fleet) = one_station().await;
    shed_at(&fleet, 3.0).await;
    expect_write(&fleet, "percentShed", json!(50), WriteOutcome::Confirmed).await;
    assert_eq!(shed_of(&api, 0), Some(ShedLimit::PercentShed(50)));
    assert_eq!(shed_calls(&api).len(), 2);
}

#[tokio::test(start_paused = true)]
async fn shed_state_zero_clears_the_shed() {
    let (api, fleet) = one_station().await;
    shed_at(&fleet, 3.0).await;
    expect_write(&fleet, "shedState", json!(0), WriteOutcome::Confirmed).await;
    assert_eq!(shed_of(&api, 0), None);
    assert_eq!(api.calls_of(ApiMethod::ClearShedState).len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_clear_the_service_does_not_show_is_sent_again_until_load_shows_it() {
    let (api, fleet) = one_station().await;
    clear_unseen_by_chargepoint(&api, &fleet).await;
    assert_eq!(shed_of(&api, 0), Some(ShedLimit::AllowedLoad(3.0)));
    // ChargePoint takes the next one: the scrape that still sees the shed clears it again.
    api.ignore_writes(false);
    let mut rx = fleet.subscribe();
    next_publish_of(&mut rx, DEVICE).await;
    next_publish_of(&mut rx, DEVICE).await;
    assert_eq!(shed_of(&api, 0), None);
    assert_eq!(api.calls_of(ApiMethod::ClearShedState).len(), 2);
    // Once getLoad shows the port unshed, nothing more is owed: a later shed by someone else
    // is not fought.
    api.with_station(&station_id(0), |s| {
        s.ports.get_mut(&PortNumber(1)).unwrap().shed = Some(ShedLimit::PercentShed(50));
    });
    for _ in 0..3 {
        next_publish_of(&mut rx, DEVICE).await;
    }
    assert_eq!(api.calls_of(ApiMethod::ClearShedState).len(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_clear_that_never_shows_is_retried_only_within_the_lease() {
    let (api, fleet) = one_station().await;
    clear_unseen_by_chargepoint(&api, &fleet).await;
    // After the clear was accepted (and its read-backs waited for): retries stop earlier.
    let cleared = tokio::time::Instant::now();
    let mut rx = fleet.subscribe();
    while cleared.elapsed() < Duration::from_secs(30 * 60) {
        next_publish_of(&mut rx, DEVICE).await;
    }
    let sent: Vec<u64> = api
        .calls_of(ApiMethod::ClearShedState)
        .into_iter()
        .map(|c| c.at.duration_since(cleared).as_secs())
        .collect();
    // One a minute, with each scrape's getLoad, until the 15-minute lease would have lapsed.
    assert!(sent.len() >= 10, "{sent:?}");
    assert!(sent.iter().all(|&s| s < 15 * 60), "{sent:?}");
    assert_eq!(shed_of(&api, 0), Some(ShedLimit::AllowedLoad(3.0)));
}

#[tokio::test(start_paused = true)]
async fn a_shed_the_service_does_not_show_is_pending() {
    let (api, fleet) = one_station().await;
    api.ignore_writes(true);
    set(&fleet, "allowedLoad", json!(3)).await.unwrap();
    expect_write(&fleet, "shedState", json!(1), WriteOutcome::Pending).await;
}

#[tokio::test(start_paused = true)]
async fn a_failed_shed_reports_the_failure() {
    let (api, fleet) = one_station().await;
    api.always_fail(ApiMethod::ShedLoad, Fail::PlanRights);
    set(&fleet, "allowedLoad", json!(3)).await.unwrap();
    assert_eq!(
        set(&fleet, "shedState", json!(1)).await.unwrap(),
        WriteOutcome::Failed {
            reason: "account acct: shedLoad failed: shedLoad: not permitted by the account's plan (responseCode 101: not permitted)".into()
        }
    );
}

#[tokio::test(start_paused = true)]
async fn clear_alarms_one_clears_the_station_and_zero_sends_nothing() {
    let api = Arc::new(FakeApi::new(1, 1, 1));
    api.with_station(&station_id(0), |s| {
        s.alarms.push(Alarm {
            station_id: station_id(0),
            station_name: None,
            station_model: None,
            org_id: None,
            organization_name: None,
            station_manufacturer: None,
            station_serial_num: None,
            port: None,
            alarm_type: "GFCI Trip".into(),
            alarm_time: chrono::Utc::now(),
            record_number: Some(1),
        })
    });
    let fleet = started(&api, 1).await;
    let reading = fleet.get_point(DEVICE, "alarmType").await.unwrap();
    assert_eq!(reading.value, PointValue::Str("GFCI Trip".into()));
    expect_write(&fleet, "clearAlarms", json!(0), WriteOutcome::Confirmed).await;
    assert!(api.calls_of(ApiMethod::ClearAlarms).is_empty());
    expect_write(&fleet, "clearAlarms", json!(1), WriteOutcome::Confirmed).await;
    assert_eq!(api.calls_of(ApiMethod::ClearAlarms).len(), 1);
    assert!(api.with_station(&station_id(0), |s| s.alarms.is_empty()));
}

#[tokio::test(start_paused = true)]
async fn bad_values_and_read_only_points_are_refused_with_the_point_named() {
    let (api, fleet) = one_station().await;
    let cases = [
        (
            "percentShed",
            json!(101),
            "device campus/bldg/1000: point percentShed: expected an integer 0..=100, found 101",
            400,
        ),
        (
            "percentShed",
            json!(2.5),
            "device campus/bldg/1000: point percentShed: expected integer, found '2.5'",
            400,
        ),
        (
            "allowedLoad",
            json!(-1),
            "device campus/bldg/1000: point allowedLoad: expected a number of kW >= 0, found -1",
            400,
        ),
        (
            "shedState",
            json!(2),
            "device campus/bldg/1000: point shedState: expected 0 or 1, found 2",
            400,
        ),
        (
            "portLoad",
            json!(1),
            "device campus/bldg/1000: point portLoad is read-only",
            400,
        ),
        (
            "nope",
            json!(1),
            "device campus/bldg/1000: unknown point 'nope'",
            404,
        ),
    ];
    for (point, value, message, status) in cases {
        let error = set(&fleet, point, value).await.unwrap_err();
        assert_eq!(error.to_string(), message);
        assert_eq!(error.status_hint(), status, "{message}");
    }
    let unknown = fleet
        .set_point("x/y/z", "shedState", json!(1))
        .await
        .unwrap_err();
    assert_eq!(unknown.to_string(), "unknown device 'x/y/z'");
    assert_eq!(unknown.status_hint(), 404);
    assert!(shed_calls(&api).is_empty());
}

#[tokio::test(start_paused = true)]
async fn revert_clears_the_shed_and_restores_limits() {
    let (api, fleet) = one_station().await;
    shed_at(&fleet, 3.0).await;
    assert_eq!(
        fleet.revert_point(DEVICE, "shedState").await.unwrap(),
        WriteOutcome::Confirmed
    );
    assert_eq!(shed_of(&api, 0), None);
    // shedState=1 again uses the stored limit: reverting the shed kept the intent.
    set(&fleet, "shedState", json!(1)).await.unwrap();
    let outcomes = fleet.revert_device(DEVICE).await.unwrap();
    let names: Vec<&str> = outcomes.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, vec!["shedState", "allowedLoad", "clearAlarms"]);
    assert!(
        outcomes.iter().all(|(_, o)| *o == WriteOutcome::Confirmed),
        "{outcomes:?}"
    );
    assert_eq!(shed_of(&api, 0), None);
    // Before the first write no limit was in force (getLoad's 0 kW on an unshed port is not a
    // cap), so allowedLoad reverted to no intent: a shed is refused, not applied at 0 kW.
    let error = set(&fleet, "shedState", json!(1)).await.unwrap_err();
    assert_eq!(error.status_hint(), 409, "{error}");
    assert_eq!(shed_of(&api, 0), None);
}

#[tokio::test(start_paused = true)]
async fn revert_restores_a_limit_that_was_in_force_before_the_first_write() {
    let api = Arc::new(FakeApi::new(1, 1, 1));
    api.with_station(&station_id(0), |s| {
        s.ports.get_mut(&PortNumber(1)).unwrap().shed = Some(ShedLimit::AllowedLoad(2.0));
    });
    let fleet = started(&api, 1).await;
    set(&fleet, "allowedLoad", json!(4.0)).await.unwrap();
    assert_eq!(shed_of(&api, 0), Some(ShedLimit::AllowedLoad(4.0)));
    fleet.revert_point(DEVICE, "allowedLoad").await.unwrap();
    assert_eq!(shed_of(&api, 0), Some(ShedLimit::AllowedLoad(2.0)));
}

#[tokio::test(start_paused = true)]
async fn a_shed_is_reasserted_before_its_lease_lapses() {
    let (api, fleet) = one_station().await;
    shed_at(&fleet, 3.0).await;
    let shed_at = tokio::time::Instant::now();
    assert_renewed_within_the_lease(&api, shed_at).await;
    // Once cleared, nothing is renewed.
    set(&fleet, "shedState", json!(0)).await.unwrap();
    tokio::time::sleep(Duration::from_secs(30 * 60)).await;
    assert_eq!(api.calls_of(ApiMethod::ShedLoad).len(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_station_started_while_its_port_is_shed_adopts_and_renews_the_shed() {
    let api = Arc::new(FakeApi::new(1, 1, 1));
    api.with_station(&station_id(0), |s| {
        s.ports.get_mut(&PortNumber(1)).unwrap().shed = Some(ShedLimit::AllowedLoad(2.0));
    });
    let _fleet = started(&api, 1).await;
    tokio::time::sleep(Duration::from_secs(11 * 60)).await;
    let calls = shed_calls(&api);
    assert!(
        !calls.is_empty() && calls[0].contains("AllowedLoad(2.0)"),
        "{calls:?}"
    );
}

/// Makes port 1 of [`DEVICE`] panic and lets its station restart it.
async fn crash_port(fleet: &Fleet) {
    fleet
        .inject_port_panic(DEVICE, PortNumber(1))
        .await
        .expect("the port actor is running");
    tokio::time::sleep(Duration::from_millis(10)).await;
}

#[tokio::test(start_paused = true)]
async fn a_restarted_port_sheds_with_the_limit_written_before_it_failed() {
    let (api, fleet) = one_station().await;
    expect_write(&fleet, "allowedLoad", json!(3.0), WriteOutcome::Confirmed).await;
    crash_port(&fleet).await;
    expect_write(&fleet, "shedState", json!(1), WriteOutcome::Confirmed).await;
    assert_eq!(shed_of(&api, 0), Some(ShedLimit::AllowedLoad(3.0)));
    let calls = shed_calls(&api);
    assert!(
        calls.len() == 1 && calls[0].contains("AllowedLoad(3.0)"),
        "{calls:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_shed_believed_before_its_port_failed_is_still_reasserted() {
    let (api, fleet) = one_station().await;
    shed_at(&fleet, 3.0).await;
    let shed_at = tokio::time::Instant::now();
    // With getLoad failing, the restarted port cannot learn the shed again from a read: only
    // what it kept renews the lease.
    api.always_fail(ApiMethod::GetLoad, Fail::Http(503));
    crash_port(&fleet).await;
    assert_renewed_within_the_lease(&api, shed_at).await;
}

#[tokio::test(start_paused = true)]
async fn a_port_restarted_while_its_shed_is_sent_still_learns_of_it() {
    let (api, fleet) = one_station().await;
    set(&fleet, "allowedLoad", json!(3.0)).await.unwrap();
    api.set_latency(Duration::from_secs(5));
    let shed = set(&fleet, "shedState", json!(1));
    let crash = async {
        // While shedLoad is on its way.
        tokio::time::sleep(Duration::from_secs(1)).await;
        crash_port(&fleet).await;
    };
    let (outcome, ()) = tokio::join!(shed, crash);
    assert_eq!(outcome.unwrap(), WriteOutcome::Confirmed);
    tokio::time::sleep(Duration::from_secs(11 * 60)).await;
    // The restarted port believes the shed, so its lease is renewed.
    let calls = shed_calls(&api);
    assert_eq!(calls.len(), 2, "{calls:?}");
}

#[tokio::test(start_paused = true)]
async fn a_port_restarted_after_a_clear_does_not_take_up_the_shed_again() {
    let (api, fleet) = one_station().await;
    // ChargePoint accepts the clear but still shows the shed (until its lease lapses).
    clear_unseen_by_chargepoint(&api, &fleet).await;
    crash_port(&fleet).await;
    tokio::time::sleep(Duration::from_secs(11 * 60)).await;
    // The port still knows the shed was cleared: it does not adopt it from getLoad as a
    // freshly started supervisor would, so nothing renews it.
    let calls = shed_calls(&api);
    assert_eq!(calls.len(), 1, "{calls:?}");
}

#[tokio::test(start_paused = true)]
async fn a_panicking_station_is_restarted_while_its_siblings_keep_publishing() {
    let api = Arc::new(FakeApi::new(2, 1, 1));
    let fleet = started(&api, 2).await;
    fleet.scrape_all("campus/bldg/1001").await.unwrap();
    let mut rx = fleet.subscribe();
    fleet.inject_panic(DEVICE).await.unwrap();
    tokio::time::sleep(Duration::from_millis(10)).await;
    let health = fleet.health().await.unwrap();
    assert_eq!(health.stations_up, 1, "{health:?}");
    // The sibling keeps publishing while the failed station waits for its restart.
    next_publish_of(&mut rx, "campus/bldg/1001").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let back = fleet
        .scrape_all(DEVICE)
        .await
        .expect("restarted station scrapes");
    assert_eq!(back.device, DEVICE);
    let health = fleet.health().await.unwrap();
    assert_eq!(health.stations_up, 2, "{health:?}");
}

#[tokio::test(start_paused = true)]
async fn a_plan_rights_refusal_leaves_out_only_the_points_of_its_method() {
    let api = Arc::new(FakeApi::new(1, 1, 1));
    api.always_fail(ApiMethod::GetAlarms, Fail::PlanRights);
    let fleet = start(&api, 1).await;
    let publish = fleet.scrape_all(DEVICE).await.unwrap();
    let names: Vec<&str> = publish.message.values.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        vec![
            "Status",
            "allowedLoad",
            "heartbeat",
            "percentShed",
            "portLoad",
            "shedState"
        ]
    );
    let error = fleet.get_point(DEVICE, "alarmType").await.unwrap_err();
    assert_eq!(error.status_hint(), 502);
    assert_eq!(
        error.to_string(),
        "device campus/bldg/1000: point alarmType: getAlarms failed (plan_rights): account acct: getAlarms failed: getAlarms: not permitted by the account's plan (responseCode 101: not permitted)"
    );
    let health = fleet.health().await.unwrap();
    let station = &health.stations[0];
    assert!(station.device.up);
    assert_eq!(
        station.failures.keys().collect::<Vec<_>>(),
        vec!["getAlarms"]
    );
    assert_eq!(station.failures["getAlarms"].kind, "plan_rights");
    assert_eq!(health.errors, 1);
}

#[tokio::test(start_paused = true)]
async fn a_failing_station_is_down_and_recovers_by_itself() {
    let api = Arc::new(FakeApi::new(2, 1, 1));
    api.break_station(&station_id(0));
    let fleet = start(&api, 2).await;
    tokio::time::sleep(Duration::from_secs(61)).await;
    let health = fleet.health().await.unwrap();
    assert_eq!(health.stations_up, 1, "{health:?}");
    assert!(!health.stations[0].device.up);
    api.heal_station(&station_id(0));
    tokio::time::sleep(Duration::from_secs(61)).await;
    assert_eq!(fleet.health().await.unwrap().stations_up, 2);
}

#[tokio::test(start_paused = true)]
async fn stations_are_added_and_removed_at_runtime() {
    let api = Arc::new(FakeApi::new(3, 1, 1));
    let fleet = started(&api, 1).await;
    let set = &spec(3).station_sets[0];
    fleet
        .add_station(set.device(&station_id(2)).unwrap())
        .await
        .unwrap();
    let publish = fleet.scrape_all("campus/bldg/1002").await.unwrap();
    assert_eq!(publish.topic, "devices/campus/bldg/1002/all");
    let again = fleet
        .add_station(set.device(&station_id(2)).unwrap())
        .await
        .unwrap_err();
    assert_eq!(
        again.to_string(),
        "device campus/bldg/1002 is already running"
    );
    fleet.remove_station(DEVICE).await.unwrap();
    let devices = device_paths(&fleet).await;
    assert_eq!(devices, vec!["campus/bldg/1002".to_string()]);
    fleet.reload(spec(2)).await.unwrap();
    let devices = device_paths(&fleet).await;
    assert_eq!(
        devices,
        vec![DEVICE.to_string(), "campus/bldg/1001".to_string()]
    );
    fleet.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn get_multiple_points_answers_each_point() {
    let (_api, fleet) = one_station().await;
    let readings = fleet
        .get_multiple_points(DEVICE, &["Status".to_string(), "bogus".to_string()])
        .await
        .unwrap();
    assert_eq!(
        readings[0].1.as_ref().unwrap().value,
        PointValue::Str("AVAILABLE".into())
    );
    assert_eq!(readings[0].1.as_ref().unwrap().meta.value_type, "string");
    assert_eq!(readings[1].1.as_ref().unwrap_err().status_hint(), 404);
}

/// Records the observer events a metrics module would turn into series.
#[derive(Default)]
struct Recorder {
    events: std::sync::Mutex<Vec<String>>,
}

impl Recorder {
    fn push(&self, event: String) {
        self.events.lock().unwrap().push(event);
    }

    fn seen(&self, prefix: &str) -> bool {
        self.events
            .lock()
            .unwrap()
            .iter()
            .any(|e| e.starts_with(prefix))
    }
}

impl crate::CallObserver for Recorder {
    fn call_finished(
        &self,
        account: &AccountId,
        op: ApiMethod,
        _: Duration,
        outcome: Result<(), crate::ErrorKind>,
    ) {
        self.push(format!(
            "call {account} {op} {}",
            outcome.map_or_else(|k| k.as_str(), |()| "ok")
        ));
    }
}

impl crate::StationObserver for Recorder {
    fn station_up(&self, station: &cp_registry::StationId, up: bool) {
        self.push(format!("up {station} {up}"));
    }

    fn station_started(&self, station: &cp_registry::StationId, writable: &[&str]) {
        self.push(format!("started {station} {}", writable.join(",")));
    }

    fn scrape_finished(
        &self,
        station: &cp_registry::StationId,
        _: Duration,
        _: chrono::DateTime<chrono::Utc>,
    ) {
        self.push(format!("scraped {station}"));
    }

    fn write_finished(
        &self,
        station: &cp_registry::StationId,
        attribute: &str,
        outcome: &WriteOutcome,
    ) {
        self.push(format!("write {station} {attribute} {outcome:?}"));
    }
}

#[tokio::test(start_paused = true)]
async fn observers_see_calls_scrapes_and_writes() {
    let api = Arc::new(FakeApi::new(1, 1, 1));
    let recorder = Arc::new(Recorder::default());
    let fleet = start_with(
        &api,
        spec(1),
        FleetOptions {
            observer: recorder.clone(),
            station_observer: recorder.clone(),
            ..options()
        },
    )
    .await;
    fleet.scrape_all(DEVICE).await.unwrap();
    set(&fleet, "allowedLoad", json!(2)).await.unwrap();
    assert!(recorder.seen("started 1:1000 shedState,allowedLoad,percentShed,clearAlarms"));
    assert!(recorder.seen("call acct getStationStatus ok"));
    assert!(recorder.seen("scraped 1:1000"));
    assert!(recorder.seen("up 1:1000 true"));
    assert!(recorder.seen("write 1:1000 allowedLoad Confirmed"));
}

#[tokio::test(start_paused = true)]
async fn starting_values_are_written_only_when_asked_and_revert_returns_to_them() {
    let csv = REGISTRY.replace(
        "allowedLoad,allowedLoad,LoadRegister,1,float,kW,,TRUE,",
        "allowedLoad,allowedLoad,LoadRegister,1,float,kW,5,TRUE,",
    );
    let api = Arc::new(FakeApi::new(1, 1, 1));
    let quiet = start_with(&api, spec_with(&csv, 1), options()).await;
    quiet.scrape_all(DEVICE).await.unwrap();
    // Not asked: no intent stored, so a shed has nothing to use.
    assert_eq!(
        set(&quiet, "shedState", json!(1))
            .await
            .unwrap_err()
            .status_hint(),
        409
    );
    quiet.shutdown().await;

    let asked = start_with(
        &api,
        spec_with(&csv, 1),
        FleetOptions {
            write_starting_values: true,
            ..options()
        },
    )
    .await;
    asked.scrape_all(DEVICE).await.unwrap();
    set(&asked, "shedState", json!(1)).await.unwrap();
    assert_eq!(shed_of(&api, 0), Some(ShedLimit::AllowedLoad(5.0)));
    set(&asked, "allowedLoad", json!(2)).await.unwrap();
    assert_eq!(shed_of(&api, 0), Some(ShedLimit::AllowedLoad(2.0)));
    // Reverting a limit on a shed port goes back to the Starting Value at once.
    assert_eq!(
        asked.revert_point(DEVICE, "allowedLoad").await.unwrap(),
        WriteOutcome::Confirmed
    );
    assert_eq!(shed_of(&api, 0), Some(ShedLimit::AllowedLoad(5.0)));
}

#[tokio::test(start_paused = true)]
async fn a_set_of_all_stations_is_discovered_with_get_stations() {
    let api = Arc::new(FakeApi::new(3, 1, 1));
    let mut spec = spec(0);
    spec.station_sets[0].stations = StationSelection::All;
    let fleet = start_with(&api, spec, options()).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let devices = device_paths(&fleet).await;
    assert_eq!(
        devices,
        vec!["campus/bldg/1000", "campus/bldg/1001", "campus/bldg/1002"]
    );
    fleet.scrape_all("campus/bldg/1002").await.unwrap();
}
