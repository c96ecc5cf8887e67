//! Realistic requests and responses for every operation: paging, lists, optional fields filled
//! and left out, both shed limit kinds, group and station scope, text that needs escaping.

use chargepoint_supervisor::soap::{write_response, Outcome, Request, Response, UsernameToken};
use chrono::{DateTime, Utc};
use cp_actors::{
    AlarmQuery, ClearAlarmsQuery, ClearShedAck, ClearShedRequest, LoadQuery, PortShed, RightsQuery,
    SessionQuery, ShedAck, ShedLimit, ShedRequest, ShedScope, StationsQuery, StatusQuery,
};
use cp_registry::{
    Alarm, ApiMethod, ChargingSession, GroupId, LoadReport, PortInfo, PortLoad, PortNumber,
    PortStatus, PortStatusWord, Pricing, RightsProfile, Secret, StationId, StationInfo,
    StationLoad, StationRights, StationStatus,
};

/// The password of [`token`]: markup characters, so a request shows it was escaped.
pub const PASSWORD: &str = "s3cr3t-p@ss&word";

/// The credentials sample requests carry.
pub fn token() -> UsernameToken {
    UsernameToken {
        username: "api-user-7c1f".into(),
        password: Secret::new(PASSWORD),
    }
}

/// A `method` response carrying only `code` and `text`.
pub fn code_response(method: ApiMethod, code: &str, text: &str) -> Vec<u8> {
    write_response(&Response::empty(method, Outcome::new(code, text)))
}

pub fn at(text: &str) -> DateTime<Utc> {
    text.parse().expect("test timestamp")
}

pub fn sid(id: &str) -> StationId {
    StationId::new(id)
}

/// One of each request, named for failure messages.
pub fn requests() -> Vec<(&'static str, Request)> {
    vec![
        (
            "getStationStatus by ID list, paged",
            Request::GetStationStatus {
                query: StatusQuery {
                    station_ids: vec![sid("1:33923"), sid("1:33973"), sid("1:34003")],
                },
                start_record: Some(1),
                num_stations: Some(50),
            },
        ),
        (
            "getStationStatus for every station",
            Request::GetStationStatus {
                query: StatusQuery::default(),
                start_record: Some(51),
                num_stations: Some(50),
            },
        ),
        (
            "getStationStatus without paging",
            Request::GetStationStatus {
                query: StatusQuery::default(),
                start_record: None,
                num_stations: None,
            },
        ),
        (
            "getLoad by group",
            Request::GetLoad(LoadQuery::Group(GroupId(39491))),
        ),
        (
            "getLoad by station",
            Request::GetLoad(LoadQuery::Station(sid("1:33923"))),
        ),
        (
            "getAlarms with every filter",
            Request::GetAlarms {
                query: AlarmQuery {
                    station_id: Some(sid("1:33973")),
                    group_id: Some(GroupId(39491)),
                    port: Some(PortNumber(2)),
                    start_time: Some(at("2016-09-26T00:00:00Z")),
                    end_time: Some(at("2016-09-27T12:30:00.250Z")),
                },
                start_record: Some(101),
                num_transactions: Some(100),
            },
        ),
        (
            "getAlarms for everything",
            Request::GetAlarms {
                query: AlarmQuery::default(),
                start_record: None,
                num_transactions: None,
            },
        ),
        (
            "clearAlarms for a station",
            Request::ClearAlarms(ClearAlarmsQuery {
                station_id: Some(sid("1:33973")),
                group_id: None,
                port: Some(PortNumber(1)),
                alarm_type: Some("GFCI Trip".into()),
                clear_reason: Some("cleared by operator <ops & facilities>".into()),
            }),
        ),
        (
            "clearAlarms for a group",
            Request::ClearAlarms(ClearAlarmsQuery {
                group_id: Some(GroupId(58279)),
                ..ClearAlarmsQuery::default()
            }),
        ),
        (
            "getStationRights for a station, second page",
            Request::GetStationRights {
                query: RightsQuery {
                    station_id: Some(sid("1:34003")),
                    group_id: Some("39491".into()),
                },
                start_record: Some(2),
            },
        ),
        (
            "getChargingSessionData in a window",
            Request::GetChargingSessionData {
                query: SessionQuery {
                    station_id: Some(sid("1:34003")),
                    session_id: Some(53068029),
                    from: Some(at("2016-10-25T00:00:00Z")),
                    to: Some(at("2016-10-26T00:00:00Z")),
                },
                start_record: Some(101),
            },
        ),
        (
            "getStations by group, paged",
            Request::GetStations {
                query: StationsQuery {
                    station_id: None,
                    group_id: Some("39491".into()),
                },
                start_record: Some(501),
                num_stations: Some(500),
            },
        ),
        (
            "getStations by station",
            Request::GetStations {
                query: StationsQuery {
                    station_id: Some(sid("1:33923")),
                    group_id: None,
                },
                start_record: None,
                num_stations: None,
            },
        ),
        (
            "shedLoad on ports by allowed load and percent",
            Request::ShedLoad(ShedRequest {
                scope: ShedScope::Station(sid("1:123456")),
                station_limit: None,
                ports: vec![
                    PortShed {
                        port: PortNumber(1),
                        limit: ShedLimit::AllowedLoad(3.0),
                    },
                    PortShed {
                        port: PortNumber(2),
                        limit: ShedLimit::PercentShed(50),
                    },
                ],
                time_interval_minutes: 0,
            }),
        ),
        (
            "shedLoad on a station by percent",
            Request::ShedLoad(ShedRequest {
                scope: ShedScope::Station(sid("1:33923")),
                station_limit: Some(ShedLimit::PercentShed(100)),
                ports: vec![],
                time_interval_minutes: 30,
            }),
        ),
        (
            "shedLoad on a group by allowed load",
            Request::ShedLoad(ShedRequest {
                scope: ShedScope::Group(GroupId(39491)),
                station_limit: Some(ShedLimit::AllowedLoad(6.6)),
                ports: vec![],
                time_interval_minutes: 60,
            }),
        ),
        (
            "shedLoad on a group by percent",
            Request::ShedLoad(ShedRequest {
                scope: ShedScope::Group(GroupId(39491)),
                station_limit: Some(ShedLimit::PercentShed(0)),
                ports: vec![],
                time_interval_minutes: 0,
            }),
        ),
        (
            "clearShedState on ports",
            Request::ClearShedState(ClearShedRequest {
                scope: ShedScope::Station(sid("1:123456")),
                ports: vec![PortNumber(1), PortNumber(2)],
            }),
        ),
        (
            "clearShedState on a station",
            Request::ClearShedState(ClearShedRequest {
                scope: ShedScope::Station(sid("1:123456")),
                ports: vec![],
            }),
        ),
        (
            "clearShedState on a group",
            Request::ClearShedState(ClearShedRequest {
                scope: ShedScope::Group(GroupId(58279)),
                ports: vec![],
            }),
        ),
    ]
}

pub fn status_station(id: &str, ports: u16) -> StationStatus {
    StationStatus {
        station_id: sid(id),
        ports: (1..=ports)
            .map(|p| PortStatus {
                port: PortNumber(p),
                status: if p % 2 == 1 {
                    PortStatusWord::Available
                } else {
                    PortStatusWord::InUse
                },
                timestamp: at("2016-11-07T19:19:19Z"),
                connector: (p == 1).then(|| "J1772".to_string()),
                power: (p == 1).then(|| "6.6".to_string()),
            })
            .collect(),
    }
}

pub fn load_report() -> LoadReport {
    LoadReport {
        group_id: Some(GroupId(39491)),
        num_stations: Some(2),
        group_name: Some("AlcoPark 8".into()),
        group_load: Some("9.914".into()),
        stations: vec![
            StationLoad {
                station_id: sid("1:33923"),
                station_name: Some("ALCOGARSTATIONS / ALCOPARK 8 -005".into()),
                address: Some("165 13th St, Oakland, California,  94612, United States".into()),
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
                        user_id: Some("664719".into()),
                        credential_id: Some("CNCP0000481668".into()),
                        shed_state: true,
                        port_load: 3.314,
                        allowed_load: 3.5,
                        percent_shed: 0,
                    },
                ],
                refused: Vec::new(),
            },
            StationLoad {
                station_id: sid("1:33973"),
                station_name: None,
                address: None,
                station_load: Some(6.6),
                ports: vec![PortLoad {
                    port: PortNumber(1),
                    user_id: None,
                    credential_id: None,
                    shed_state: true,
                    port_load: 6.6,
                    allowed_load: 0.0,
                    percent_shed: 25,
                }],
                refused: Vec::new(),
            },
        ],
    }
}

/// The spec's sample alarm (`spec_alarms.xml`), at `port` and with `record` as its number.
pub fn alarm(port: Option<u16>, record: i32) -> Alarm {
    Alarm {
        station_id: sid("1:33973"),
        station_name: Some("ALCOGARSTATIONS / ALCOPARK 8 -003".into()),
        station_model: Some("CT2100-HD-CCR".into()),
        org_id: Some("1:ORG07225".into()),
        organization_name: Some("Alameda County".into()),
        station_manufacturer: None,
        station_serial_num: Some("115110013418".into()),
        port: port.map(PortNumber),
        alarm_type: "Reachable".into(),
        alarm_time: at("2016-09-26T12:19:16Z"),
        record_number: Some(record),
    }
}

pub fn rights() -> Vec<StationRights> {
    vec![
        StationRights {
            station_id: sid("1:34003"),
            station_name: Some("ALCOGARSTATIONS / ALCOPARK 8 -004".into()),
            station_serial_num: Some("115110013369".into()),
            station_mac_addr: Some("000D:6F00:0154:F1FC".into()),
            profiles: vec![
                RightsProfile {
                    group_id: Some("39491".into()),
                    group_name: Some("AlcoPark 8".into()),
                    profile: "network_manager".into(),
                },
                RightsProfile {
                    group_id: Some("58279".into()),
                    group_name: Some("AlcoGarageStations".into()),
                    profile: "network_manager".into(),
                },
            ],
        },
        StationRights {
            station_id: sid("1:34004"),
            station_name: None,
            station_serial_num: None,
            station_mac_addr: None,
            profiles: vec![RightsProfile {
                group_id: None,
                group_name: None,
                profile: "view_only".into(),
            }],
        },
    ]
}

pub fn session(id: i64, ended: bool) -> ChargingSession {
    ChargingSession {
        station_id: sid("1:34003"),
        station_name: Some("ALCOGARSTATIONS / ALCOPARK 8 -004".into()),
        port: Some(PortNumber(2)),
        address: Some("165 13th St, Oakland, California, 94612, United States".into()),
        city: Some("Oakland".into()),
        state: Some("California".into()),
        country: Some("United States".into()),
        postal_code: Some("94612".into()),
        session_id: id,
        energy: 12.120572,
        start_time: at("2016-10-25T15:53:35Z"),
        end_time: ended.then(|| at("2016-10-25T20:14:46Z")),
        user_id: Some("452777".into()),
        record_number: Some(1),
        credential_id: Some("490178743".into()),
        refused: Vec::new(),
    }
}

pub fn station_info() -> StationInfo {
    StationInfo {
        station_id: Some(sid("1:34003")),
        manufacturer: Some("ChargePoint".into()),
        model: Some("CT2100-HD-CCR".into()),
        mac_addr: Some("000D:6F00:0154:F1FC".into()),
        serial_num: Some("115110013369".into()),
        activation_date: Some(at("2015-04-01T08:00:00Z")),
        address: Some("165 13th St".into()),
        city: Some("Oakland".into()),
        state: Some("California".into()),
        country: Some("United States".into()),
        postal_code: Some("94612".into()),
        ports: vec![
            PortInfo {
                port: Some(PortNumber(1)),
                station_name: Some("ALCOGARSTATIONS / ALCOPARK 8 -004".into()),
                lat: Some("37.803".into()),
                long: Some("-122.266".into()),
                description: Some("Level 3, by the elevators & stairs".into()),
                reservable: Some(0),
                status: Some("AVAILABLE".into()),
                level: Some("L2".into()),
                mode: Some("1".into()),
                connector: Some("J1772".into()),
                voltage: Some("240".into()),
                current: Some("30".into()),
                power: Some("6.6".into()),
            },
            PortInfo {
                port: Some(PortNumber(2)),
                ..PortInfo::default()
            },
        ],
        pricing: vec![
            Pricing {
                kind: Some("None".into()),
                start_time: Some("00:00:00".into()),
                end_time: Some("23:59:59".into()),
                min_price: Some(0.0),
                max_price: Some(10.5),
                initial_unit_price_duration: Some(2),
                unit_price_per_hour: Some(1.0),
                unit_price_per_hour_thereafter: Some(2.5),
                unit_price_per_session: Some(0.5),
                unit_price_per_kwh: Some(0.21),
                session_time: Some("4 hours".into()),
            },
            Pricing::default(),
        ],
        num_ports: Some(2),
        main_phone: Some("1-888-758-4389".into()),
        currency_code: Some("USD".into()),
        org_id: "1:ORG07225".into(),
        organization_name: "Alameda County".into(),
        group_id: Some("39491".into()),
        group_name: Some("AlcoPark 8".into()),
    }
}

/// One of each response with data, plus empty and paged ones, named for failure messages.
pub fn responses() -> Vec<(&'static str, Response)> {
    let ok = Outcome::success;
    vec![
        (
            "getStationStatus page with more",
            Response::GetStationStatus {
                outcome: ok(),
                stations: vec![status_station("1:33923", 2), status_station("1:33973", 1)],
                more: true,
            },
        ),
        (
            "getStationStatus empty",
            Response::GetStationStatus {
                outcome: ok(),
                stations: vec![],
                more: false,
            },
        ),
        (
            "getLoad for a group",
            Response::GetLoad {
                outcome: ok(),
                report: load_report(),
            },
        ),
        (
            "getLoad with nothing",
            Response::GetLoad {
                outcome: Outcome {
                    code: "100".into(),
                    text: None,
                },
                report: LoadReport::default(),
            },
        ),
        (
            "getAlarms page with more",
            Response::GetAlarms {
                outcome: ok(),
                alarms: vec![alarm(None, 1), alarm(Some(2), 2)],
                more: true,
            },
        ),
        (
            "getAlarms empty",
            Response::GetAlarms {
                outcome: ok(),
                alarms: vec![],
                more: false,
            },
        ),
        ("clearAlarms", Response::ClearAlarms { outcome: ok() }),
        (
            "getStationRights",
            Response::GetStationRights {
                outcome: ok(),
                rights: rights(),
                more: true,
            },
        ),
        (
            "getChargingSessionData with a running session",
            Response::GetChargingSessionData {
                outcome: ok(),
                sessions: vec![session(53068029, true), session(53068030, false)],
                more: true,
            },
        ),
        (
            "getStations",
            Response::GetStations {
                outcome: ok(),
                stations: vec![
                    station_info(),
                    StationInfo {
                        org_id: "1:ORG07225".into(),
                        organization_name: "Alameda County".into(),
                        ..StationInfo::default()
                    },
                ],
                more: false,
            },
        ),
        (
            "shedLoad on ports",
            Response::ShedLoad {
                outcome: ok(),
                ack: ShedAck {
                    success: true,
                    group_id: None,
                    station_id: Some(sid("1:123456")),
                    station_limit: None,
                    ports: vec![
                        PortShed {
                            port: PortNumber(1),
                            limit: ShedLimit::AllowedLoad(3.0),
                        },
                        PortShed {
                            port: PortNumber(2),
                            limit: ShedLimit::PercentShed(40),
                        },
                    ],
                },
            },
        ),
        (
            "shedLoad on a group",
            Response::ShedLoad {
                outcome: ok(),
                ack: ShedAck {
                    success: true,
                    group_id: Some(GroupId(39491)),
                    station_id: None,
                    station_limit: Some(ShedLimit::PercentShed(30)),
                    ports: vec![],
                },
            },
        ),
        (
            "clearShedState",
            Response::ClearShedState {
                outcome: ok(),
                ack: ClearShedAck {
                    success: true,
                    group_id: None,
                    station_id: Some(sid("1:123456")),
                },
            },
        ),
    ]
}
