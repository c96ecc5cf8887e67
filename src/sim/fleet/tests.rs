use chrono::Duration;
use cp_actors::{ClearShedRequest, PortShed, ShedLimit, ShedRequest, ShedScope};

use super::*;

fn fleet(stations: usize, ports: u16, accounts: usize) -> (SimFleet, AccountRef) {
    let fleet = SimFleet::new(&SimFleetConfig::generate(stations, ports, accounts));
    let account = fleet
        .authenticate("account1", "sim-password-1")
        .expect("account1 exists");
    (fleet, account)
}

fn code(response: &Response) -> &str {
    &response.outcome().code
}

fn station_load(fleet: &mut SimFleet, account: AccountRef, id: &str) -> StationLoad {
    match fleet.answer(
        account,
        &Request::GetLoad(LoadQuery::Station(StationId::new(id))),
    ) {
        Response::GetLoad { report, .. } => report.stations.into_iter().next().expect("one"),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn port_shed_shows_in_get_load_until_cleared() {
    let (mut fleet, account) = fleet(4, 2, 1);
    let shed = Request::ShedLoad(ShedRequest {
        scope: ShedScope::Station(StationId::new("1:10002")),
        station_limit: None,
        ports: vec![PortShed {
            port: PortNumber(1),
            limit: ShedLimit::AllowedLoad(3.0),
        }],
        time_interval_minutes: 0,
    });
    assert_eq!(code(&fleet.answer(account, &shed)), "100");
    fleet.advance_to(fleet.now() + Duration::hours(5));
    let load = station_load(&mut fleet, account, "1:10002");
    assert!(load.ports[0].shed_state);
    assert_eq!(load.ports[0].allowed_load, 3.0);
    assert!(load.ports[0].port_load <= 3.0);
    assert!(!load.ports[1].shed_state);

    let clear = Request::ClearShedState(ClearShedRequest {
        scope: ShedScope::Station(StationId::new("1:10002")),
        ports: vec![],
    });
    assert_eq!(code(&fleet.answer(account, &clear)), "100");
    let load = station_load(&mut fleet, account, "1:10002");
    assert!(!load.ports[0].shed_state);
    assert_eq!(load.ports[0].allowed_load, 0.0);
}

#[test]
fn group_shed_applies_percent_to_every_station_of_the_group() {
    let (mut fleet, account) = fleet(12, 2, 1);
    let shed = Request::ShedLoad(ShedRequest {
        scope: ShedScope::Group(GroupId(1002)),
        station_limit: Some(ShedLimit::PercentShed(40)),
        ports: vec![],
        time_interval_minutes: 30,
    });
    assert_eq!(code(&fleet.answer(account, &shed)), "100");
    let Response::GetLoad { report, .. } =
        fleet.answer(account, &Request::GetLoad(LoadQuery::Group(GroupId(1002))))
    else {
        panic!("getLoad answer expected");
    };
    assert_eq!(report.num_stations, Some(2));
    assert_eq!(report.group_name.as_deref(), Some("ORG00001 Garage 2"));
    assert!(report
        .stations
        .iter()
        .flat_map(|s| &s.ports)
        .all(|p| p.shed_state && p.percent_shed == 40));
    assert!(!station_load(&mut fleet, account, "1:10001").ports[0].shed_state);
    fleet.advance_to(fleet.now() + Duration::minutes(31));
    assert!(!station_load(&mut fleet, account, "1:10011").ports[0].shed_state);
}

#[test]
fn restricted_plan_gets_101_and_foreign_station_gets_102() {
    let (mut fleet, full) = fleet(4, 2, 2);
    let restricted = fleet
        .authenticate("account2", "sim-password-2")
        .expect("account2 exists");
    let load = Request::GetLoad(LoadQuery::Station(StationId::new("2:20001")));
    assert_eq!(code(&fleet.answer(restricted, &load)), codes::PLAN_RIGHTS);
    assert_eq!(code(&fleet.answer(full, &load)), codes::NO_STATION);
    let stations = Request::GetStations {
        query: StationsQuery {
            station_id: Some(StationId::new("2:20001")),
            group_id: None,
        },
        start_record: None,
        num_stations: None,
    };
    assert_eq!(code(&fleet.answer(full, &stations)), codes::NO_STATION);
    assert_eq!(code(&fleet.answer(restricted, &stations)), codes::SUCCESS);
}

#[test]
fn get_stations_pages_at_500_with_more_flag() {
    let (mut fleet, account) = fleet(600, 1, 1);
    let request = |start| Request::GetStations {
        query: StationsQuery::default(),
        start_record: start,
        num_stations: None,
    };
    let Response::GetStations { stations, more, .. } = fleet.answer(account, &request(None)) else {
        panic!("getStations answer expected");
    };
    assert_eq!((stations.len(), more), (500, true));
    let Response::GetStations { stations, more, .. } = fleet.answer(account, &request(Some(501)))
    else {
        panic!("getStations answer expected");
    };
    assert_eq!((stations.len(), more), (100, false));
    assert_eq!(
        stations.last().and_then(|s| s.station_id.clone()),
        Some(StationId::new("1:10600"))
    );
}

#[test]
fn sessions_page_oldest_first_and_empty_answer_is_136() {
    let (mut fleet, account) = fleet(10, 2, 1);
    fleet.advance_to(fleet.now() + Duration::days(3));
    let request = |start| Request::GetChargingSessionData {
        query: SessionQuery::default(),
        start_record: start,
    };
    let Response::GetChargingSessionData {
        sessions: first,
        more,
        ..
    } = fleet.answer(account, &request(None))
    else {
        panic!("sessions answer expected");
    };
    assert_eq!(first.len(), 100);
    assert!(more);
    assert!(first.windows(2).all(|w| w[0].start_time <= w[1].start_time));
    assert_eq!(first[0].record_number, Some(1));
    let Response::GetChargingSessionData {
        sessions: second, ..
    } = fleet.answer(account, &request(Some(101)))
    else {
        panic!("sessions answer expected");
    };
    assert_eq!(second[0].record_number, Some(101));
    assert!(second[0].start_time >= first[99].start_time);

    let none = Request::GetChargingSessionData {
        query: SessionQuery {
            session_id: Some(1),
            ..SessionQuery::default()
        },
        start_record: None,
    };
    assert_eq!(code(&fleet.answer(account, &none)), codes::NO_SESSIONS);
}

#[test]
fn clear_alarms_empties_get_alarms_and_second_clear_is_153() {
    let (mut fleet, account) = fleet(20, 2, 1);
    fleet.advance_to(fleet.now() + Duration::days(3));
    let get = Request::GetAlarms {
        query: AlarmQuery::default(),
        start_record: None,
        num_transactions: None,
    };
    let Response::GetAlarms { alarms, .. } = fleet.answer(account, &get) else {
        panic!("alarms answer expected");
    };
    assert!(!alarms.is_empty(), "three days of 20 stations raise alarms");
    let clear = Request::ClearAlarms(ClearAlarmsQuery::default());
    assert_eq!(code(&fleet.answer(account, &clear)), codes::SUCCESS);
    assert_eq!(code(&fleet.answer(account, &get)), codes::NO_ALARMS);
    assert_eq!(code(&fleet.answer(account, &clear)), codes::NO_ALARMS);
}

#[test]
fn invalid_shed_content_is_refused_with_120() {
    let (mut fleet, account) = fleet(2, 2, 1);
    let shed = |limit, port| {
        Request::ShedLoad(ShedRequest {
            scope: ShedScope::Station(StationId::new("1:10001")),
            station_limit: None,
            ports: vec![PortShed {
                port: PortNumber(port),
                limit,
            }],
            time_interval_minutes: 0,
        })
    };
    let Response::ShedLoad { outcome, .. } =
        fleet.answer(account, &shed(ShedLimit::PercentShed(150), 1))
    else {
        panic!("shed answer expected");
    };
    assert_eq!(
        outcome,
        Outcome {
            code: "120".into(),
            text: Some("Invalid input: percentShed must be 0..100, got 150.".into())
        }
    );
    assert_eq!(
        code(&fleet.answer(account, &shed(ShedLimit::AllowedLoad(2.0), 7))),
        codes::INVALID_INPUT
    );
}

#[test]
fn same_seed_and_steps_give_the_same_history() {
    let run = || {
        let (mut fleet, account) = fleet(6, 2, 1);
        let mut answers = Vec::new();
        for _ in 0..5 {
            fleet.advance_to(fleet.now() + Duration::minutes(97));
            answers.push(format!(
                "{:?}",
                fleet.answer(account, &Request::GetLoad(LoadQuery::Group(GroupId(1000))))
            ));
        }
        answers.push(format!(
            "{:?}",
            fleet.answer(
                account,
                &Request::GetChargingSessionData {
                    query: SessionQuery::default(),
                    start_record: None
                }
            )
        ));
        answers
    };
    assert_eq!(run(), run());
}

#[test]
fn station_status_and_alarms_honour_page_size_and_start_record() {
    let (mut fleet, account) = fleet(7, 1, 1);
    let status = |start, num| Request::GetStationStatus {
        query: StatusQuery::default(),
        start_record: Some(start),
        num_stations: Some(num),
    };
    let Response::GetStationStatus { stations, more, .. } = fleet.answer(account, &status(1, 3))
    else {
        panic!("status answer expected");
    };
    assert_eq!((stations.len(), more), (3, true));
    assert_eq!(stations[0].station_id, StationId::new("1:10001"));
    let Response::GetStationStatus { stations, more, .. } = fleet.answer(account, &status(7, 3))
    else {
        panic!("status answer expected");
    };
    assert_eq!((stations.len(), more), (1, false));
    assert_eq!(stations[0].station_id, StationId::new("1:10007"));

    fleet.advance_to(fleet.now() + Duration::days(5));
    let alarms = |start, num| Request::GetAlarms {
        query: AlarmQuery::default(),
        start_record: Some(start),
        num_transactions: Some(num),
    };
    let Response::GetAlarms { alarms: all, .. } = fleet.answer(account, &alarms(1, 500)) else {
        panic!("alarms answer expected");
    };
    assert!(all.len() > 2, "five days raise several alarms");
    let Response::GetAlarms {
        alarms: page, more, ..
    } = fleet.answer(account, &alarms(2, 2))
    else {
        panic!("alarms answer expected");
    };
    assert!(more || all.len() == 3);
    assert_eq!(page, all[1..3].to_vec());
}

/// Reads that cover every station of a 30-station, 1-account fleet.
fn whole_fleet_reads() -> Vec<Request> {
    vec![
        Request::GetLoad(LoadQuery::Group(GroupId(1000))),
        Request::GetStationStatus {
            query: StatusQuery::default(),
            start_record: None,
            num_stations: None,
        },
        Request::GetAlarms {
            query: AlarmQuery::default(),
            start_record: None,
            num_transactions: None,
        },
        Request::GetChargingSessionData {
            query: SessionQuery::default(),
            start_record: Some(101),
        },
    ]
}

#[test]
fn catching_up_only_the_stations_read_answers_as_stepping_every_station() {
    let (mut eager, account) = fleet(30, 2, 1);
    let (mut lazy, _) = fleet(30, 2, 1);
    let station = |id: &str| StationId::new(id);
    let requests = [
        Request::GetStationStatus {
            query: StatusQuery {
                station_ids: vec![station("1:10003"), station("1:10017")],
            },
            start_record: None,
            num_stations: None,
        },
        Request::ShedLoad(ShedRequest {
            scope: ShedScope::Station(station("1:10005")),
            station_limit: None,
            ports: vec![PortShed {
                port: PortNumber(1),
                limit: ShedLimit::AllowedLoad(1.0),
            }],
            time_interval_minutes: 2,
        }),
        Request::GetLoad(LoadQuery::Station(station("1:10005"))),
        Request::ShedLoad(ShedRequest {
            scope: ShedScope::Group(GroupId(1002)),
            station_limit: Some(ShedLimit::PercentShed(50)),
            ports: vec![],
            time_interval_minutes: 3,
        }),
        Request::GetLoad(LoadQuery::Group(GroupId(1002))),
        Request::ClearAlarms(ClearAlarmsQuery {
            station_id: Some(station("1:10021")),
            ..ClearAlarmsQuery::default()
        }),
        Request::GetChargingSessionData {
            query: SessionQuery {
                station_id: Some(station("1:10029")),
                ..SessionQuery::default()
            },
            start_record: None,
        },
        Request::ClearShedState(ClearShedRequest {
            scope: ShedScope::Group(GroupId(1002)),
            ports: vec![],
        }),
    ];
    let mut t = eager.now();
    for round in 0..120 {
        // Uneven gaps: several requests within one step, some gaps across many.
        t += Duration::seconds([7, 23, 41, 59, 61, 130, 3600][round % 7]);
        eager.advance_to(t);
        lazy.set_time(t);
        let request = &requests[round % requests.len()];
        assert_eq!(
            eager.answer(account, request),
            lazy.answer(account, request),
            "round {round}: {request:?}"
        );
    }
    for request in whole_fleet_reads() {
        assert_eq!(
            eager.answer(account, &request),
            lazy.answer(account, &request),
            "{request:?}"
        );
    }
}

#[test]
fn a_fleet_read_often_answers_as_one_read_once() {
    let (mut often, account) = fleet(30, 2, 1);
    let (mut once, _) = fleet(30, 2, 1);
    let end = often.now() + Duration::hours(9) + Duration::seconds(13);
    let reads = whole_fleet_reads();
    let mut t = often.now();
    for round in 0.. {
        t = (t + Duration::seconds(17 + 29 * (round % 5))).min(end);
        often.set_time(t);
        often.answer(account, &reads[round as usize % reads.len()]);
        if t == end {
            break;
        }
    }
    once.set_time(end);
    for request in reads {
        assert_eq!(
            often.answer(account, &request),
            once.answer(account, &request),
            "{request:?}"
        );
    }
}
