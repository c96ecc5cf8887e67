use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cp_registry::{
    Attribute, DeviceConfig, FleetConfig, Level, PortNumber, RegisterKind, Registry, StationId,
};

fn configs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("configs")
}

#[test]
fn example_registry_covers_every_attribute_for_both_ports() {
    let r = Registry::parse(&configs().join("chargepoint.csv")).expect("example is valid");
    for a in Attribute::ALL {
        let ports: BTreeSet<Option<PortNumber>> = r
            .points
            .iter()
            .filter(|p| p.attribute == a)
            .map(|p| p.port)
            .collect();
        let expected: BTreeSet<Option<PortNumber>> = match a.level() {
            Level::Port => [Some(PortNumber(1)), Some(PortNumber(2))].into(),
            Level::Station => [None].into(),
        };
        assert_eq!(ports, expected, "{a:?}");
    }
    for p in r
        .points
        .iter()
        .filter(|p| p.attribute.register() == RegisterKind::Station)
    {
        assert_eq!(
            p.scrape_interval,
            Some(Duration::from_secs(86400)),
            "{}",
            p.name
        );
    }
}

#[test]
fn station_load_example_controls_the_whole_station() {
    let r = Registry::parse(&configs().join("station-load.csv")).expect("example is valid");
    assert!(r.writes_station_load());
    for name in ["shedState", "allowedLoad", "percentShed", "stationLoad"] {
        let p = r.point(name).expect("a station-level Load point");
        assert_eq!(
            (p.attribute.register(), p.port),
            (RegisterKind::Load, None),
            "{name}"
        );
    }
    assert_eq!(r.ports(), [PortNumber(1), PortNumber(2)].into());
}

#[test]
fn example_device_config_loads_as_a_fleet_of_one() {
    let c = DeviceConfig::parse(&configs().join("chargepoint.config")).expect("valid");
    assert_eq!(c.driver.station_id, StationId::new("1:10001"));
    assert_eq!(c.path.as_str(), "campus/garage/cp10001");
    assert_eq!(c.registry_path, configs().join("chargepoint.csv"));
    let fleet = FleetConfig::load(&configs().join("chargepoint.config")).expect("valid");
    assert_eq!(fleet.devices().len(), 1);
}

#[test]
fn example_fleet_has_200_simulator_stations_on_two_accounts() {
    let fleet = FleetConfig::load(&configs().join("fleet-200")).expect("valid");
    let usernames: Vec<&str> = fleet.accounts.iter().map(|a| a.username.as_str()).collect();
    assert_eq!(usernames, ["account1", "account2"]);
    let passwords: Vec<&str> = fleet.accounts.iter().map(|a| a.password.expose()).collect();
    assert_eq!(passwords, ["sim-password-1", "sim-password-2"]);
    let devices = fleet.devices();
    assert_eq!(devices.len(), 200);
    let expected: Vec<String> = (10001..=10100)
        .map(|n| format!("1:{n}"))
        .chain((20001..=20100).map(|n| format!("2:{n}")))
        .collect();
    let ids: Vec<&str> = devices.iter().map(|d| d.station.as_str()).collect();
    assert_eq!(ids, expected);
    assert_eq!(devices[0].path.as_str(), "org1/garage/cp10001");
    assert_eq!(devices[199].path.as_str(), "org2/depot/cp20100");
}

#[test]
fn volttron_example_directory_loads_unchanged() {
    let fleet = FleetConfig::load(&configs().join("volttron")).expect("valid");
    let devices = fleet.devices();
    assert_eq!(devices.len(), 1);
    let d = &devices[0];
    assert_eq!(d.path.as_str(), "campus/building/chargepoint1");
    assert_eq!(d.station, StationId::new("1:34003"));
    assert_eq!(d.registry.points.len(), 17);
    assert_eq!(d.heart_beat_point.as_deref(), Some("heartbeat"));
}
