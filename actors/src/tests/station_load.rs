//! Station-level Load points (no `Port #`, issue 13 item 1): writes shed and clear the whole
//! station, leases renew, reverts undo only what was written, and they mix with a port's.

use super::*;

/// A two-port station's Load points: the station's, and port 1's beside them.
const STATION_REGISTRY: &str = "\
Volttron Point Name,Attribute Name,Register Name,Port #,Type,Units,Starting Value,Writable,Notes
shedState,shedState,LoadRegister,,integer,0 or 1,,TRUE,
allowedLoad,allowedLoad,LoadRegister,,float,kW,,TRUE,
percentShed,percentShed,LoadRegister,,integer,percent,,TRUE,
stationLoad,stationLoad,LoadRegister,,float,kW,,FALSE,
port1.shedState,shedState,LoadRegister,1,integer,0 or 1,,TRUE,
port1.allowedLoad,allowedLoad,LoadRegister,1,float,kW,,TRUE,
";

/// A fleet of one two-port station with [`STATION_REGISTRY`], scraped once.
async fn station() -> (Arc<FakeApi>, Fleet) {
    let api = Arc::new(FakeApi::new(1, 2, 1));
    let fleet = start_with(&api, spec_with(STATION_REGISTRY, 1), options()).await;
    fleet.scrape_all(DEVICE).await.expect("first scrape");
    (api, fleet)
}

async fn value(fleet: &Fleet, point: &str) -> PointValue {
    fleet.get_point(DEVICE, point).await.unwrap().value
}

fn station_shed(api: &FakeApi) -> Option<ShedLimit> {
    api.with_station(&station_id(0), |s| s.shed)
}

#[tokio::test(start_paused = true)]
async fn station_level_writes_shed_and_clear_the_whole_station() {
    let (api, fleet) = station().await;
    expect_write(&fleet, "allowedLoad", json!(6.0), WriteOutcome::Stored).await;
    assert!(shed_calls(&api).is_empty(), "a limit alone is stored");
    expect_write(&fleet, "shedState", json!(1), WriteOutcome::Confirmed).await;
    assert_eq!(station_shed(&api), Some(ShedLimit::AllowedLoad(6.0)));
    let calls = shed_calls(&api);
    assert!(
        calls[0].contains("station_limit: Some(AllowedLoad(6.0))")
            && calls[0].contains("ports: []"),
        "{calls:?}"
    );
    // VOLTTRON's reading: the largest limit among the shed ports, here each port's share.
    assert_eq!(value(&fleet, "shedState").await, PointValue::Int(1));
    assert_eq!(value(&fleet, "allowedLoad").await, PointValue::Float(3.0));
    // Applied at once while shed, as on a port.
    expect_write(&fleet, "percentShed", json!(40), WriteOutcome::Confirmed).await;
    assert_eq!(station_shed(&api), Some(ShedLimit::PercentShed(40)));

    expect_write(&fleet, "shedState", json!(0), WriteOutcome::Confirmed).await;
    assert_eq!(station_shed(&api), None);
    let clears = api.calls_of(ApiMethod::ClearShedState);
    assert!(clears[0].detail.contains("ports: []"), "{clears:?}");
    assert_eq!(value(&fleet, "shedState").await, PointValue::Int(0));
}

#[tokio::test(start_paused = true)]
async fn station_shed_state_without_a_station_limit_is_refused_naming_the_station() {
    let (api, fleet) = station().await;
    // A port's limit is not the station's.
    expect_write(
        &fleet,
        "port1.allowedLoad",
        json!(2.0),
        WriteOutcome::Stored,
    )
    .await;
    let error = set(&fleet, "shedState", json!(1)).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "device campus/bldg/1000: point shedState: no allowedLoad or percentShed written for the station; write one first"
    );
    assert!(shed_calls(&api).is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_station_shed_is_renewed_before_its_lease_lapses() {
    let (api, fleet) = station().await;
    expect_write(&fleet, "percentShed", json!(30), WriteOutcome::Stored).await;
    expect_write(&fleet, "shedState", json!(1), WriteOutcome::Confirmed).await;
    let shed_at = tokio::time::Instant::now();
    tokio::time::sleep(Duration::from_secs(11 * 60)).await;
    let calls = api.calls_of(ApiMethod::ShedLoad);
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert!(calls[1].at.duration_since(shed_at) < Duration::from_secs(15 * 60));
    assert!(
        calls[1]
            .detail
            .contains("station_limit: Some(PercentShed(30))")
            && calls[1].detail.contains("time_interval_minutes: 15"),
        "{calls:?}"
    );
    // Cleared, it is renewed no more.
    expect_write(&fleet, "shedState", json!(0), WriteOutcome::Confirmed).await;
    tokio::time::sleep(Duration::from_secs(30 * 60)).await;
    assert_eq!(api.calls_of(ApiMethod::ShedLoad).len(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_station_clear_ends_the_ports_sheds_so_none_is_renewed() {
    let (api, fleet) = station().await;
    expect_write(
        &fleet,
        "port1.allowedLoad",
        json!(2.0),
        WriteOutcome::Stored,
    )
    .await;
    expect_write(&fleet, "port1.shedState", json!(1), WriteOutcome::Confirmed).await;
    expect_write(&fleet, "allowedLoad", json!(6.0), WriteOutcome::Stored).await;
    // Port 1's own shed shows on port 1, the station's share on port 2: getLoad cannot show
    // the station's 6 kW, so the write stays pending (and the station's lease is renewed).
    expect_write(&fleet, "shedState", json!(1), WriteOutcome::Pending).await;
    assert_eq!(station_shed(&api), Some(ShedLimit::AllowedLoad(6.0)));
    assert_eq!(
        value(&fleet, "port1.allowedLoad").await,
        PointValue::Float(2.0)
    );
    assert_eq!(value(&fleet, "allowedLoad").await, PointValue::Float(3.0));

    expect_write(&fleet, "shedState", json!(0), WriteOutcome::Confirmed).await;
    assert_eq!(
        shed_of(&api, 0),
        None,
        "clearShedState for the station clears port 1"
    );
    assert_eq!(value(&fleet, "port1.shedState").await, PointValue::Int(0));
    let sheds = shed_calls(&api).len();
    tokio::time::sleep(Duration::from_secs(30 * 60)).await;
    assert_eq!(shed_calls(&api).len(), sheds, "{:?}", shed_calls(&api));
    // Port 1 keeps its intent for the next shed.
    expect_write(&fleet, "port1.shedState", json!(1), WriteOutcome::Confirmed).await;
    assert_eq!(shed_of(&api, 0), Some(ShedLimit::AllowedLoad(2.0)));
}

#[tokio::test(start_paused = true)]
async fn a_device_revert_clears_the_station_it_shed_and_forgets_the_station_limit() {
    let (api, fleet) = station().await;
    expect_write(&fleet, "allowedLoad", json!(6.0), WriteOutcome::Stored).await;
    expect_write(&fleet, "shedState", json!(1), WriteOutcome::Confirmed).await;
    let outcomes = outcomes(fleet.revert_device(DEVICE).await.expect("revert runs"));
    assert_eq!(
        outcomes,
        [
            ("shedState".to_string(), WriteOutcome::Confirmed),
            ("allowedLoad".to_string(), WriteOutcome::Stored),
        ]
    );
    assert_eq!(station_shed(&api), None);
    let clears = api.calls_of(ApiMethod::ClearShedState);
    assert_eq!(clears.len(), 1, "port 1 was never shed: {clears:?}");
    assert!(clears[0].detail.contains("ports: []"), "{clears:?}");
    let error = set(&fleet, "shedState", json!(1)).await.unwrap_err();
    assert!(matches!(error, DeviceError::NoShedIntent { .. }), "{error}");
}

#[tokio::test(start_paused = true)]
async fn a_port_clear_leaves_the_station_shed_in_force_and_is_pending() {
    let (api, fleet) = station().await;
    expect_write(&fleet, "percentShed", json!(30), WriteOutcome::Stored).await;
    expect_write(&fleet, "shedState", json!(1), WriteOutcome::Confirmed).await;
    expect_write(&fleet, "port1.shedState", json!(0), WriteOutcome::Pending).await;
    assert_eq!(station_shed(&api), Some(ShedLimit::PercentShed(30)));
    assert_eq!(value(&fleet, "port1.shedState").await, PointValue::Int(1));
}
