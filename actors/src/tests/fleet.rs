//! Fleet-wide behaviour: plan rights, failing stations, runtime changes, observers, discovery.

use super::*;

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
    assert!(station.failures["getAlarms"].kind.is_plan_rights());
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
async fn a_station_is_starting_until_its_first_scrape_then_up_or_down() {
    let api = Arc::new(FakeApi::new(2, 1, 1));
    api.set_latency(Duration::from_secs(5));
    api.break_station(&station_id(1));
    let fleet = start(&api, 2).await;
    let health = fleet.health().await.unwrap();
    let states: Vec<Liveness> = health.stations.iter().map(|s| s.device.state).collect();
    assert_eq!(states, vec![Liveness::Starting, Liveness::Starting]);
    assert_eq!((health.stations_up, health.stations_starting), (0, 2));
    tokio::time::sleep(Duration::from_secs(30)).await;
    let health = fleet.health().await.unwrap();
    let states: Vec<Liveness> = health.stations.iter().map(|s| s.device.state).collect();
    assert_eq!(states, vec![Liveness::Up, Liveness::Down], "{health:?}");
    assert_eq!((health.stations_up, health.stations_starting), (1, 0));
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
    fn station_up(&self, station: &cp_registry::StationId, account: &AccountId, up: bool) {
        self.push(format!("up {station} {account} {up}"));
    }

    fn station_started(
        &self,
        station: &cp_registry::StationId,
        account: &AccountId,
        writable: &[&str],
    ) {
        self.push(format!(
            "started {station} {account} {}",
            writable.join(",")
        ));
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
        account: &AccountId,
        attribute: &str,
        outcome: &WriteOutcome,
    ) {
        self.push(format!("write {station} {account} {attribute} {outcome:?}"));
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
    assert!(recorder.seen("started 1:1000 acct shedState,allowedLoad,percentShed,clearAlarms"));
    assert!(recorder.seen("call acct getStationStatus ok"));
    assert!(recorder.seen("scraped 1:1000"));
    assert!(recorder.seen("up 1:1000 acct true"));
    assert!(recorder.seen("write 1:1000 acct allowedLoad Stored"));
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
        asked
            .revert_point(DEVICE, "allowedLoad")
            .await
            .unwrap()
            .outcome,
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

#[tokio::test(start_paused = true)]
async fn the_stations_tally_gives_the_sums_of_the_fleets_health() {
    let api = Arc::new(FakeApi::new(3, 2, 1));
    api.with_station(&station_id(1), |s| {
        let port = s.ports.get_mut(&PortNumber(1)).unwrap();
        port.load = 6.6;
        port.status = cp_registry::PortStatusWord::InUse;
    });
    api.with_station(&station_id(2), |s| {
        s.ports.get_mut(&PortNumber(2)).unwrap().load = 0.25;
    });
    let fleet = start(&api, 3).await;
    let starting = fleet.counts();
    // The registry has points of port 1 only.
    assert_eq!((starting.stations_total, starting.ports), (3, 3));
    for n in 0..3 {
        fleet
            .scrape_all(&format!("campus/bldg/{}", 1000 + n))
            .await
            .unwrap();
    }
    let health = fleet.health().await.unwrap();
    assert_eq!(fleet.counts(), health.counts());
    assert_eq!(health.counts().stations_up, 3);
    assert_eq!(health.counts().ports_charging, 1);
    assert!((fleet.counts().total_kw - 6.85).abs() < 1e-9);
}
