use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use cp_registry::{
    Alarm, AllMessage, Attribute, ChargingSession, PointValue, PortInfo, PortLoad, PortNumber,
    PortStatus, PortStatusWord, Pricing, Registry, RightsProfile, StationAlarm, StationId,
    StationInfo, StationLoad, StationRights, StationSnapshot, StationStatus, ValueType,
};

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("test time")
        .with_timezone(&Utc)
}

const P1: Option<PortNumber> = Some(PortNumber(1));
const P2: Option<PortNumber> = Some(PortNumber(2));

fn id() -> StationId {
    StationId::new("1:34003")
}

/// A getAlarms alarm as the station keeps it.
fn alarm(port: Option<PortNumber>, kind: &str, at: &str) -> StationAlarm {
    Alarm {
        station_id: id(),
        station_name: Some("ALCOGARSTATIONS / ALCOPARK 8 -005".into()),
        station_model: None,
        org_id: None,
        organization_name: None,
        station_manufacturer: None,
        station_serial_num: None,
        port,
        alarm_type: kind.to_string(),
        alarm_time: t(at),
        record_number: None,
    }
    .into()
}

fn session(
    port: u16,
    session_id: i64,
    start: &str,
    end: Option<&str>,
    energy: f64,
) -> ChargingSession {
    ChargingSession {
        station_id: id(),
        station_name: None,
        port: Some(PortNumber(port)),
        address: None,
        city: None,
        state: None,
        country: None,
        postal_code: None,
        session_id,
        energy,
        start_time: t(start),
        end_time: end.map(t),
        user_id: Some("452777".into()),
        record_number: None,
        credential_id: Some("490178743".into()),
        refused: Vec::new(),
    }
}

/// The spec's sample answers for one station.
fn spec_snapshot() -> StationSnapshot {
    StationSnapshot {
        status: Some(Arc::new(StationStatus {
            station_id: id(),
            ports: vec![
                PortStatus {
                    port: PortNumber(1),
                    status: PortStatusWord::Available,
                    timestamp: t("2016-11-07T19:19:19Z"),
                    connector: None,
                    power: None,
                },
                PortStatus {
                    port: PortNumber(2),
                    status: PortStatusWord::InUse,
                    timestamp: t("2016-11-07T19:19:19Z"),
                    connector: None,
                    power: None,
                },
            ],
        })),
        load: Some(Arc::new(StationLoad {
            station_id: id(),
            station_name: None,
            address: None,
            station_load: Some(3.314),
            ports: vec![
                PortLoad {
                    port: PortNumber(1),
                    user_id: None,
                    credential_id: None,
                    shed_state: false,
                    port_load: 0.0,
                    allowed_load: 0.0,
                    percent_shed: 0,
                },
                PortLoad {
                    port: PortNumber(2),
                    user_id: None,
                    credential_id: None,
                    shed_state: true,
                    port_load: 3.314,
                    allowed_load: 3.0,
                    percent_shed: 0,
                },
            ],
            refused: Vec::new(),
        })),
        alarms: Some(Arc::from(vec![
            alarm(None, "Reachable", "2016-09-26T12:19:16Z"),
            alarm(Some(PortNumber(2)), "GFCI Trip", "2016-09-27T08:00:00Z"),
        ])),
        rights: Some(Arc::new(StationRights {
            station_id: id(),
            station_name: None,
            station_serial_num: None,
            station_mac_addr: None,
            profiles: vec![
                RightsProfile {
                    group_id: Some("39491".into()),
                    group_name: Some("AlcoPark 8".into()),
                    profile: "network_manager".into(),
                },
                RightsProfile {
                    group_id: Some("58279".into()),
                    group_name: None,
                    profile: "network_manager".into(),
                },
            ],
        })),
        sessions: Some(Arc::from(vec![
            session(
                2,
                53068029,
                "2016-10-25T15:53:35Z",
                Some("2016-10-25T20:14:46Z"),
                12.120572,
            ),
            session(
                2,
                53000000,
                "2016-10-24T10:00:00Z",
                Some("2016-10-24T11:00:00Z"),
                5.0,
            ),
        ])),
        info: Some(Arc::new(StationInfo {
            station_id: Some(id()),
            model: Some("CT2100-HD-CCR".into()),
            num_ports: Some(2),
            org_id: "1:ORG07225".into(),
            organization_name: "Alameda County".into(),
            ports: vec![
                PortInfo {
                    port: Some(PortNumber(1)),
                    station_name: Some("ALCOPARK 8 -004".into()),
                    lat: Some("37.8".into()),
                    long: Some("-122.27".into()),
                    level: Some("L2".into()),
                    voltage: Some("240".into()),
                    power: Some("6.6".into()),
                    ..PortInfo::default()
                },
                PortInfo {
                    port: Some(PortNumber(2)),
                    lat: Some("n/a".into()),
                    ..PortInfo::default()
                },
            ],
            pricing: vec![Pricing {
                kind: Some("Session".into()),
                start_time: Some("08:00:00".into()),
                unit_price_per_kwh: Some(0.25),
                ..Pricing::default()
            }],
            ..StationInfo::default()
        })),
    }
}

#[test]
fn nothing_fetched_reads_as_none() {
    let s = StationSnapshot::default();
    for a in Attribute::ALL {
        assert_eq!(s.value(a, P1), None, "{a:?}");
    }
}

#[test]
fn status_and_load_are_read_per_port() {
    let s = spec_snapshot();
    assert_eq!(
        s.value(Attribute::Status, P1),
        Some(PointValue::Str("AVAILABLE".into()))
    );
    assert_eq!(
        s.value(Attribute::Status, P2),
        Some(PointValue::Str("INUSE".into()))
    );
    assert_eq!(
        s.value(Attribute::TimeStamp, P2),
        Some(PointValue::DateTime(t("2016-11-07T19:19:19Z")))
    );
    assert_eq!(
        s.value(Attribute::Status, Some(PortNumber(3))),
        Some(PointValue::Null)
    );
    assert_eq!(s.value(Attribute::ShedState, P2), Some(PointValue::Int(1)));
    assert_eq!(
        s.value(Attribute::PortLoad, P2),
        Some(PointValue::Float(3.314))
    );
    assert_eq!(
        s.value(Attribute::AllowedLoad, P2),
        Some(PointValue::Float(3.0))
    );
    assert_eq!(
        s.value(Attribute::PercentShed, P1),
        Some(PointValue::Int(0))
    );
    assert_eq!(
        s.value(Attribute::StationLoad, None),
        Some(PointValue::Float(3.314))
    );
}

/// Issue 13 item 1: shedState, allowedLoad and percentShed with no Port # read the station as
/// VOLTTRON's driver does: shed when any port is, the largest limit among the shed ports, and
/// 0 when no port is shed (whatever an unshed port reports).
#[test]
fn station_level_load_points_read_the_largest_limit_among_shed_ports() {
    let mut s = spec_snapshot();
    assert_eq!(
        s.value(Attribute::ShedState, None),
        Some(PointValue::Int(1))
    );
    assert_eq!(
        s.value(Attribute::AllowedLoad, None),
        Some(PointValue::Float(3.0))
    );
    assert_eq!(
        s.value(Attribute::PercentShed, None),
        Some(PointValue::Int(0))
    );

    let ports = &mut Arc::make_mut(s.load.as_mut().expect("spec load")).ports;
    ports[0].allowed_load = 5.0; // not shed: not a limit in force
    ports[1].shed_state = false;
    assert_eq!(
        s.value(Attribute::ShedState, None),
        Some(PointValue::Int(0))
    );
    assert_eq!(
        s.value(Attribute::AllowedLoad, None),
        Some(PointValue::Float(0.0))
    );

    let ports = &mut Arc::make_mut(s.load.as_mut().expect("spec load")).ports;
    for (port, pct) in ports.iter_mut().zip([20, 35]) {
        port.shed_state = true;
        port.allowed_load = 0.0;
        port.percent_shed = pct;
    }
    assert_eq!(
        s.value(Attribute::ShedState, None),
        Some(PointValue::Int(1))
    );
    assert_eq!(
        s.value(Attribute::PercentShed, None),
        Some(PointValue::Int(35))
    );
    assert_eq!(
        StationSnapshot::default().value(Attribute::AllowedLoad, None),
        None,
        "no getLoad yet"
    );
}

#[test]
fn alarms_show_the_newest_for_the_port_including_station_wide_ones() {
    let s = spec_snapshot();
    assert_eq!(
        s.value(Attribute::AlarmType, None),
        Some(PointValue::Str("GFCI Trip".into()))
    );
    assert_eq!(
        s.value(Attribute::AlarmType, P2),
        Some(PointValue::Str("GFCI Trip".into()))
    );
    assert_eq!(
        s.value(Attribute::AlarmType, P1),
        Some(PointValue::Str("Reachable".into()))
    );
    assert_eq!(
        s.value(Attribute::AlarmTime, P1),
        Some(PointValue::DateTime(t("2016-09-26T12:19:16Z")))
    );
    assert_eq!(
        s.value(Attribute::ClearAlarms, None),
        Some(PointValue::Int(0))
    );
    let cleared = StationSnapshot {
        alarms: Some(Arc::from(Vec::new())),
        ..StationSnapshot::default()
    };
    assert_eq!(
        cleared.value(Attribute::AlarmType, None),
        Some(PointValue::Null)
    );
}

#[test]
fn rights_are_a_dictionary_of_group_to_profile() {
    let s = spec_snapshot();
    let expected: BTreeMap<String, String> =
        [("39491", "network_manager"), ("58279", "network_manager")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
    assert_eq!(
        s.value(Attribute::StationRightsProfile, None),
        Some(PointValue::Dict(expected))
    );
}

#[test]
fn sessions_show_the_latest_of_the_port_and_driver_name_is_always_null() {
    let s = spec_snapshot();
    assert_eq!(
        s.value(Attribute::SessionId, P2),
        Some(PointValue::Str("53068029".into()))
    );
    assert_eq!(
        s.value(Attribute::Energy, P2),
        Some(PointValue::Float(12.120572))
    );
    assert_eq!(
        s.value(Attribute::SessionEndTime, P2),
        Some(PointValue::DateTime(t("2016-10-25T20:14:46Z")))
    );
    assert_eq!(
        s.value(Attribute::RfidSerialNumber, P2),
        Some(PointValue::Str("490178743".into()))
    );
    assert_eq!(
        s.value(Attribute::DriverAccountNumber, P2),
        Some(PointValue::Str("452777".into()))
    );
    assert_eq!(s.value(Attribute::DriverName, P2), Some(PointValue::Null));
    assert_eq!(s.value(Attribute::SessionId, P1), Some(PointValue::Null));
}

#[test]
fn station_info_reads_port_nameplates_and_the_first_pricing() {
    let s = spec_snapshot();
    assert_eq!(
        s.value(Attribute::StationModel, None),
        Some(PointValue::Str("CT2100-HD-CCR".into()))
    );
    assert_eq!(s.value(Attribute::NumPorts, None), Some(PointValue::Int(2)));
    assert_eq!(
        s.value(Attribute::OrgId, None),
        Some(PointValue::Str("1:ORG07225".into()))
    );
    assert_eq!(
        s.value(Attribute::StationName, P1),
        Some(PointValue::Str("ALCOPARK 8 -004".into()))
    );
    assert_eq!(s.value(Attribute::Lat, P1), Some(PointValue::Float(37.8)));
    assert_eq!(s.value(Attribute::Lat, P2), Some(PointValue::Null));
    assert_eq!(s.value(Attribute::PortNumber, P2), Some(PointValue::Int(2)));
    assert_eq!(s.value(Attribute::Power, P1), Some(PointValue::Float(6.6)));
    assert_eq!(
        s.value(Attribute::ChargingLevel, P1),
        Some(PointValue::Str("L2".into()))
    );
    assert_eq!(
        s.value(Attribute::PricingType, None),
        Some(PointValue::Str("Session".into()))
    );
    assert_eq!(
        s.value(Attribute::PricingStartTime, None),
        Some(PointValue::Str("08:00:00".into()))
    );
    assert_eq!(
        s.value(Attribute::UnitPricePerKwh, None),
        Some(PointValue::Float(0.25))
    );
    assert_eq!(s.value(Attribute::MainPhone, None), Some(PointValue::Null));
}

#[test]
fn scrape_all_message_has_volttron_shape_in_declared_types() {
    let csv = "Volttron Point Name,Attribute Name,Register Name,Port #,Type,Units,Starting Value,Writable,Notes\n\
               port2.shedState,shedState,LoadRegister,2,boolean,,,TRUE,\n\
               port2.portLoad,portLoad,LoadRegister,2,float,kW,,FALSE,\n\
               Status,Status,StationStatusRegister,1,string,,,FALSE,\n";
    let r = Registry::parse_reader(csv.as_bytes(), Path::new("cp.csv")).expect("valid");
    let status_only = StationSnapshot {
        status: spec_snapshot().status,
        ..StationSnapshot::default()
    };
    let partial = AllMessage::from_snapshot(&r.points, "UTC", &status_only);
    assert_eq!(
        serde_json::to_string(&partial).expect("serialise"),
        r#"[{"Status":"AVAILABLE"},{"Status":{"type":"string","units":"","tz":"UTC"}}]"#
    );
    let full = AllMessage::from_snapshot(&r.points, "UTC", &spec_snapshot());
    assert_eq!(
        serde_json::to_value(&full).expect("serialise"),
        serde_json::json!([
            {"Status": "AVAILABLE", "port2.portLoad": 3.314, "port2.shedState": true},
            {"Status": {"type": "string", "units": "", "tz": "UTC"},
             "port2.portLoad": {"type": "float", "units": "kW", "tz": "UTC"},
             "port2.shedState": {"type": "boolean", "units": "", "tz": "UTC"}}
        ])
    );
}

/// A snapshot in which every field the API can send is present.
fn full_snapshot() -> StationSnapshot {
    fn s<T: for<'a> From<&'a str>>(v: &str) -> Option<T> {
        Some(T::from(v))
    }
    let mut snapshot = spec_snapshot();
    snapshot.info = Some(Arc::new(StationInfo {
        station_id: Some(id()),
        manufacturer: s("ChargePoint"),
        model: s("CT4000"),
        mac_addr: s("000D:6F00:0154:F1FC"),
        serial_num: s("115110013369"),
        activation_date: Some(t("2016-01-01T00:00:00Z")),
        address: s("165 13th St"),
        city: s("Oakland"),
        state: s("California"),
        country: s("United States"),
        postal_code: s("94612"),
        ports: vec![PortInfo {
            port: P1,
            station_name: s("ALCOPARK 8 -004"),
            lat: s("37.8"),
            long: s("-122.27"),
            description: s("Level 2"),
            reservable: Some(0),
            status: s("AVAILABLE"),
            level: s("L2"),
            mode: s("1"),
            connector: s("J1772"),
            voltage: s("240"),
            current: s("30"),
            power: s("6.6"),
        }],
        pricing: vec![Pricing {
            kind: s("Session"),
            start_time: s("08:00:00"),
            end_time: s("18:00:00"),
            min_price: Some(1.0),
            max_price: Some(10.0),
            initial_unit_price_duration: Some(2),
            unit_price_per_hour: Some(1.5),
            unit_price_per_hour_thereafter: Some(2.0),
            unit_price_per_session: Some(0.5),
            unit_price_per_kwh: Some(0.25),
            session_time: s("4"),
        }],
        num_ports: Some(2),
        main_phone: s("1-888-758-4389"),
        currency_code: s("USD"),
        org_id: "1:ORG07225".into(),
        organization_name: "Alameda County".into(),
        group_id: s("39491"),
        group_name: s("AlcoPark 8"),
    }));
    snapshot.sessions = Some(Arc::from(vec![session(
        1,
        7,
        "2016-10-25T15:53:35Z",
        Some("2016-10-25T20:14:46Z"),
        1.5,
    )]));
    snapshot
}

#[test]
fn every_attribute_has_a_value_of_its_type_when_the_api_sent_everything() {
    let s = full_snapshot();
    for a in Attribute::ALL {
        let v = s.value(a, P1);
        match a {
            // API 5.0 never returns a driver name.
            Attribute::DriverName => assert_eq!(v, Some(PointValue::Null)),
            _ => {
                let kind = v.as_ref().map(|v| match v {
                    PointValue::Null => None,
                    PointValue::Bool(_) => Some(ValueType::Bool),
                    PointValue::Int(_) => Some(ValueType::Integer),
                    PointValue::Float(_) => Some(ValueType::Float),
                    PointValue::Str(_) => Some(ValueType::String),
                    PointValue::DateTime(_) => Some(ValueType::DateTime),
                    PointValue::Dict(_) => Some(ValueType::Dictionary),
                });
                assert_eq!(kind, Some(Some(a.value_type())), "{a:?} read {v:?}");
            }
        }
    }
}

#[test]
fn points_read_in_the_type_their_csv_declares() {
    let csv = "Volttron Point Name,Attribute Name,Register Name,Port #,Type,Units,Starting Value,Writable,Notes\n\
               portNumber,portNumber,StationRegister,1,string,Integer,,FALSE,\n\
               Reservable,Reservable,StationRegister,1,bool,T/F,,FALSE,\n\
               Mode,Mode,StationRegister,1,int,,,FALSE,\n\
               pricing.startTime,startTime,StationRegister,,datetime,,,FALSE,\n\
               load,portLoad,LoadRegister,1,string,kW,,FALSE,\n";
    let r = Registry::parse_reader(csv.as_bytes(), Path::new("cp.csv")).expect("valid");
    let mut s = full_snapshot();
    if let Some(info) = s.info.as_mut().map(Arc::make_mut) {
        info.ports[0].mode = Some("2".into());
    }
    let values: Vec<Option<PointValue>> = r.points.iter().map(|p| p.read(&s)).collect();
    assert_eq!(
        values,
        [
            Some(PointValue::Str("1".into())),
            Some(PointValue::Bool(false)),
            Some(PointValue::Int(2)),
            // A time of day has no date: it stays text.
            Some(PointValue::Str("08:00:00".into())),
            Some(PointValue::Str("0".into())),
        ]
    );
}
