//! The real SOAP client against the simulator over loopback: every method with real content,
//! paging, plans and rights, schema validity of every answer, tolerance of what VOLTTRON's
//! client sends, garbage, credentials, the WSDL, the admin endpoint, and determinism.
//!
//! Slightly over the ~600-line guide: one binary for everything the client and the simulator
//! say to each other over loopback.

use std::time::Duration;

use crate::util::schema;
use crate::util::sim::{
    self as sim_util, add_fault, admin_get, advance, client, client_as, post_raw, start_sim,
};
use crate::util::{tools_present, XMLLINT};
use chargepoint_supervisor::sim::SimFleetConfig;
use chargepoint_supervisor::soap::{
    read_response, write_request, ClientConfig, Request, SoapClient, UsernameToken,
};
use cp_actors::{
    AlarmQuery, ChargePointApi, ClearAlarmsQuery, ClearShedRequest, LoadQuery, PortShed,
    RightsQuery, SessionQuery, ShedLimit, ShedRequest, ShedScope, SoapError, StationsQuery,
    StatusQuery,
};
use cp_registry::{ApiMethod, GroupId, PortNumber, PortStatusWord, Secret, StationId};

const T: Duration = Duration::from_secs(10);

fn sid(id: &str) -> StationId {
    StationId::new(id)
}

#[tokio::test]
async fn every_method_round_trips_with_fleet_content() {
    let sim = start_sim(SimFleetConfig::generate(24, 2, 2)).await;
    let api = client(&sim, 1, T);

    let stations = api.get_stations(&StationsQuery::default()).await.unwrap();
    assert_eq!(stations.len(), 12);
    let first = &stations[0];
    assert_eq!(first.station_id, Some(sid("1:10001")));
    assert_eq!(first.org_id, "1:ORG00001");
    assert_eq!(first.group_id.as_deref(), Some("1001"));
    assert_eq!(first.currency_code.as_deref(), Some("USD"));
    assert_eq!(first.ports.len(), 2);
    assert_eq!(first.ports[0].level.as_deref(), Some("L2"));
    assert!(first.ports[0].lat.is_some() && first.ports[0].long.is_some());

    let status = api
        .get_station_status(&StatusQuery::default())
        .await
        .unwrap();
    assert_eq!(status.len(), 12);
    assert!(status.iter().all(|s| s.ports.len() == 2));

    let group = api
        .get_load(&LoadQuery::Group(GroupId(1001)))
        .await
        .unwrap();
    assert_eq!(group.num_stations, Some(10));
    assert_eq!(group.stations.len(), 10);

    // shedLoad then getLoad shows the shed; clearShedState restores.
    let shed = ShedRequest {
        scope: ShedScope::Station(sid("1:10002")),
        station_limit: None,
        ports: vec![PortShed {
            port: PortNumber(1),
            limit: ShedLimit::AllowedLoad(3.0),
        }],
        time_interval_minutes: 0,
    };
    let ack = api.shed_load(&shed).await.unwrap();
    assert!(ack.success);
    assert_eq!(ack.station_id, Some(sid("1:10002")));
    let load = api
        .get_load(&LoadQuery::Station(sid("1:10002")))
        .await
        .unwrap();
    let port1 = &load.stations[0].ports[0];
    assert!(port1.shed_state);
    assert_eq!(port1.allowed_load, 3.0);
    assert!(!load.stations[0].ports[1].shed_state);
    let port = admin_get(&sim, "stations/1:10002/ports/1").await;
    assert_eq!(port["shed_state"], true);
    assert_eq!(port["allowed_load"], 3.0);
    let cleared = api
        .clear_shed_state(&ClearShedRequest {
            scope: ShedScope::Station(sid("1:10002")),
            ports: vec![],
        })
        .await
        .unwrap();
    assert!(cleared.success);
    let load = api
        .get_load(&LoadQuery::Station(sid("1:10002")))
        .await
        .unwrap();
    assert!(!load.stations[0].ports[0].shed_state);
    assert_eq!(load.stations[0].ports[0].allowed_load, 0.0);

    // Alarms appear over days; clearAlarms empties them.
    advance(&sim, 4 * 24 * 3600).await;
    let alarms = api.get_alarms(&AlarmQuery::default()).await.unwrap();
    assert!(!alarms.is_empty());
    assert!(alarms
        .iter()
        .all(|a| a.station_id.as_str().starts_with("1:")));
    api.clear_alarms(&ClearAlarmsQuery::default())
        .await
        .unwrap();
    assert!(api
        .get_alarms(&AlarmQuery::default())
        .await
        .unwrap()
        .is_empty());
    // Nothing left to clear is still success to the client (153).
    api.clear_alarms(&ClearAlarmsQuery::default())
        .await
        .unwrap();

    let rights = api
        .get_station_rights(&RightsQuery {
            station_id: Some(sid("1:10001")),
            group_id: None,
        })
        .await
        .unwrap();
    assert_eq!(rights.len(), 1);
    let profiles: Vec<(Option<&str>, &str)> = rights[0]
        .profiles
        .iter()
        .map(|p| (p.group_id.as_deref(), p.profile.as_str()))
        .collect();
    assert_eq!(
        profiles,
        [
            (Some("1001"), "network_manager"),
            (Some("1000"), "org_admin")
        ]
    );

    let sessions = api
        .get_charging_sessions(&SessionQuery {
            station_id: Some(sid("1:10003")),
            ..SessionQuery::default()
        })
        .await
        .unwrap();
    assert!(!sessions.is_empty());
    assert!(sessions.iter().all(|s| s.station_id == sid("1:10003")));
    assert!(sessions
        .windows(2)
        .all(|w| w[0].start_time <= w[1].start_time));
    assert!(sessions
        .iter()
        .filter(|s| s.end_time.is_some())
        .any(|s| s.energy > 0.5));
    sim.shutdown().await;
}

#[tokio::test]
async fn six_hundred_stations_take_two_get_stations_pages() {
    let sim = start_sim(SimFleetConfig::generate(600, 1, 1)).await;
    let api = client(&sim, 1, T);
    let stations = api.get_stations(&StationsQuery::default()).await.unwrap();
    assert_eq!(stations.len(), 600);
    assert_eq!(stations[599].station_id, Some(sid("1:10600")));
    let calls = admin_get(&sim, "calls").await;
    assert_eq!(calls["by_method"]["getStations"], 2);
}

#[tokio::test]
async fn station_status_for_the_whole_account_pages_with_more_flag() {
    let sim = start_sim(SimFleetConfig::generate(120, 2, 1)).await;
    let mut config = ClientConfig::new(sim.endpoint(), "account1", Secret::new("sim-password-1"));
    config.timeout = T;
    config.status_page_size = 50;
    let api = SoapClient::new(config).expect("client builds");
    let status = api
        .get_station_status(&StatusQuery::default())
        .await
        .unwrap();
    assert_eq!(status.len(), 120);
    assert_eq!(status[119].station_id, sid("1:10120"));
    let calls = admin_get(&sim, "calls").await;
    assert_eq!(calls["by_method"]["getStationStatus"], 3);
}

#[tokio::test]
async fn station_rights_page_by_rights_data_record_and_miss_no_station() {
    // 600 stations, each with two profiles (its garage and the organisation): 1,200 records.
    let sim = start_sim(SimFleetConfig::generate(600, 2, 1)).await;
    let api = client(&sim, 1, T);
    let rights = api
        .get_station_rights(&RightsQuery::default())
        .await
        .unwrap();
    assert_eq!(rights.len(), 600);
    assert!(
        rights.iter().all(|r| r.profiles.len() == 2),
        "{:?}",
        rights[0]
    );
    assert_eq!(rights[599].station_id, sid("1:10600"));
    let calls = admin_get(&sim, "calls").await;
    assert_eq!(calls["by_method"]["getStationRights"], 3);
}

#[tokio::test]
async fn more_than_100_sessions_are_paged_with_more_flag() {
    let sim = start_sim(SimFleetConfig::generate(10, 2, 1)).await;
    advance(&sim, 3 * 24 * 3600).await;
    let api = client(&sim, 1, T);
    let sessions = api
        .get_charging_sessions(&SessionQuery::default())
        .await
        .unwrap();
    assert!(sessions.len() > 200, "only {} sessions", sessions.len());
    let pages = sessions.len().div_ceil(100) as u64;
    let calls = admin_get(&sim, "calls").await;
    assert_eq!(calls["by_method"]["getChargingSessionData"], pages);
    let mut ids: Vec<i64> = sessions.iter().map(|s| s.session_id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(
        ids.len(),
        sessions.len(),
        "no session repeated across pages"
    );
}

#[tokio::test]
async fn restricted_plan_and_foreign_stations_are_refused() {
    let sim = start_sim(SimFleetConfig::generate(4, 2, 2)).await;
    let restricted = client(&sim, 2, T);
    let err = restricted
        .get_load(&LoadQuery::Station(sid("2:20001")))
        .await
        .unwrap_err();
    assert!(
        matches!(err, SoapError::PlanRights { ref code, .. } if code == "101"),
        "{err:?}"
    );
    // The restricted plan still reads status.
    let status = restricted
        .get_station_status(&StatusQuery::default())
        .await
        .unwrap();
    assert_eq!(status.len(), 2);
    let full = client(&sim, 1, T);
    let err = full
        .get_stations(&StationsQuery {
            station_id: Some(sid("2:20001")),
            group_id: None,
        })
        .await
        .unwrap_err();
    assert!(
        matches!(err, SoapError::Response { ref code, .. } if code == "102"),
        "{err:?}"
    );
}

#[tokio::test]
async fn wrong_password_is_an_auth_error() {
    let sim = start_sim(SimFleetConfig::generate(2, 1, 1)).await;
    let api = client_as(&sim, "account1", "not-the-password", T);
    let err = api
        .get_station_status(&StatusQuery::default())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "getStationStatus: authentication failed: UsernameToken processing failed"
    );
    let calls = admin_get(&sim, "calls").await;
    let body = calls["recent"][0]["body"].as_str().unwrap();
    assert!(
        !body.contains("not-the-password"),
        "password leaked: {body}"
    );
    assert_eq!(calls["recent"][0]["account"], "account1");
}

/// The requests whose answers are checked against the schema: every method, success and
/// each error code the simulator emits.
fn schema_cases() -> Vec<(&'static str, usize, Request)> {
    let shed = |limit| {
        Request::ShedLoad(ShedRequest {
            scope: ShedScope::Station(sid("1:10001")),
            station_limit: None,
            ports: vec![PortShed {
                port: PortNumber(2),
                limit,
            }],
            time_interval_minutes: 15,
        })
    };
    vec![
        (
            "getStationStatus",
            1,
            Request::GetStationStatus {
                query: StatusQuery::default(),
                start_record: Some(1),
                num_stations: Some(3),
            },
        ),
        (
            "getLoad group",
            1,
            Request::GetLoad(LoadQuery::Group(GroupId(1000))),
        ),
        ("shedLoad port", 1, shed(ShedLimit::AllowedLoad(2.5))),
        (
            "shedLoad group percent",
            1,
            Request::ShedLoad(ShedRequest {
                scope: ShedScope::Group(GroupId(1001)),
                station_limit: Some(ShedLimit::PercentShed(30)),
                ports: vec![],
                time_interval_minutes: 0,
            }),
        ),
        (
            "getLoad station shed",
            1,
            Request::GetLoad(LoadQuery::Station(sid("1:10001"))),
        ),
        (
            "getAlarms",
            1,
            Request::GetAlarms {
                query: AlarmQuery::default(),
                start_record: None,
                num_transactions: None,
            },
        ),
        (
            "getStationRights",
            1,
            Request::GetStationRights {
                query: RightsQuery::default(),
                start_record: None,
            },
        ),
        (
            "getChargingSessionData",
            1,
            Request::GetChargingSessionData {
                query: SessionQuery::default(),
                start_record: None,
            },
        ),
        (
            "getStations",
            1,
            Request::GetStations {
                query: StationsQuery::default(),
                start_record: None,
                num_stations: None,
            },
        ),
        (
            "clearShedState",
            1,
            Request::ClearShedState(ClearShedRequest {
                scope: ShedScope::Group(GroupId(1001)),
                ports: vec![],
            }),
        ),
        (
            "clearAlarms",
            1,
            Request::ClearAlarms(ClearAlarmsQuery::default()),
        ),
        (
            "clearAlarms with none left (153)",
            1,
            Request::ClearAlarms(ClearAlarmsQuery::default()),
        ),
        (
            "getAlarms with none left (153)",
            1,
            Request::GetAlarms {
                query: AlarmQuery::default(),
                start_record: None,
                num_transactions: None,
            },
        ),
        (
            "getLoad on a restricted plan (101)",
            2,
            Request::GetLoad(LoadQuery::Station(sid("2:20001"))),
        ),
        (
            "getStations for another account's station (102)",
            1,
            Request::GetStations {
                query: StationsQuery {
                    station_id: Some(sid("2:20001")),
                    group_id: None,
                },
                start_record: None,
                num_stations: None,
            },
        ),
        (
            "getChargingSessionData matching nothing (136)",
            1,
            Request::GetChargingSessionData {
                query: SessionQuery {
                    session_id: Some(1),
                    ..SessionQuery::default()
                },
                start_record: None,
            },
        ),
        (
            "shedLoad over 100 percent (120)",
            1,
            shed(ShedLimit::PercentShed(120)),
        ),
    ]
}

#[tokio::test]
async fn every_answer_validates_against_the_schema() {
    if !tools_present(&[XMLLINT]) {
        return;
    }
    let sim = start_sim(SimFleetConfig::generate(24, 2, 2)).await;
    advance(&sim, 2 * 24 * 3600).await;
    for (what, k, request) in schema_cases() {
        let token = UsernameToken {
            username: format!("account{k}"),
            password: Secret::new(format!("sim-password-{k}")),
        };
        let (status, body) = post_raw(&sim, write_request(&request, &token)).await;
        assert_eq!(status, 200, "{what}: {body}");
        read_response(request.method(), body.as_bytes())
            .map(|_| ())
            .or_else(|e| match e {
                SoapError::Fault { .. } | SoapError::Auth { .. } | SoapError::Malformed { .. } => {
                    Err(e)
                }
                _ => Ok(()),
            })
            .unwrap_or_else(|e| panic!("{what}: unreadable answer {e}"));
        schema::assert_body_valid(body.as_bytes(), what);
    }
}

/// A VOLTTRON-style (zeep) shedLoad: port limit, and `timeInterval` as given.
fn volttron_shed(time_interval: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<soap-env:Envelope xmlns:soap-env="http://schemas.xmlsoap.org/soap/envelope/"><soap-env:Header><wsse:Security xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"><wsse:UsernameToken><wsse:Username>account1</wsse:Username><wsse:Password Type="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText">sim-password-1</wsse:Password></wsse:UsernameToken></wsse:Security></soap-env:Header><soap-env:Body><ns0:shedLoad xmlns:ns0="urn:dictionary:com.chargepoint.webservices"><shedQuery><shedStation><stationID>1:10001</stationID><Ports><Port><portNumber>1</portNumber><allowedLoadPerPort>3.0</allowedLoadPerPort></Port></Ports></shedStation>{time_interval}</shedQuery></ns0:shedLoad></soap-env:Body></soap-env:Envelope>"#
    )
}

#[tokio::test]
async fn volttron_shed_with_empty_or_missing_time_interval_sheds_until_cleared() {
    for interval in ["<timeInterval/>", ""] {
        let sim = start_sim(SimFleetConfig::generate(2, 2, 1)).await;
        let (status, body) = post_raw(&sim, volttron_shed(interval)).await;
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("<responseCode>100</responseCode>"), "{body}");
        advance(&sim, 6 * 3600).await;
        let port = admin_get(&sim, "stations/1:10001/ports/1").await;
        assert_eq!(port["shed_state"], true, "timeInterval {interval:?}");
        assert_eq!(port["allowed_load"], 3.0);
        assert!(port["load_kw"].as_f64().unwrap() <= 3.0);
    }
}

#[tokio::test]
async fn garbage_gets_a_soap_fault_never_a_crash() {
    let sim = start_sim(SimFleetConfig::generate(2, 1, 1)).await;
    let bodies: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"not xml at all".to_vec(),
        b"<a><b></a>".to_vec(),
        b"<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY e \"boom\">]><x>&e;</x>".to_vec(),
        br#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><ns:launchRocket xmlns:ns="urn:x"/></soap:Body></soap:Envelope>"#.to_vec(),
        vec![0xff, 0xfe, 0x00, 0x3c],
        vec![b'<'; 2 * 1024 * 1024],
    ];
    for body in bodies {
        let shown = String::from_utf8_lossy(&body[..body.len().min(60)]).into_owned();
        let (status, reply) = post_raw(&sim, body).await;
        assert_eq!(status, 500, "{shown}: {reply}");
        assert!(
            reply.contains("<faultcode>soap:Client</faultcode>"),
            "{shown}: {reply}"
        );
    }
    // Still serving.
    let api = client(&sim, 1, T);
    assert_eq!(
        api.get_stations(&StationsQuery::default())
            .await
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn soap_action_naming_another_operation_is_a_client_fault() {
    let sim = start_sim(SimFleetConfig::generate(2, 1, 1)).await;
    let token = UsernameToken {
        username: "account1".into(),
        password: Secret::new("sim-password-1"),
    };
    let body = write_request(&Request::GetLoad(LoadQuery::Group(GroupId(1000))), &token);
    let response = sim_util::http()
        .post(sim.endpoint())
        .header(
            "SOAPAction",
            "\"urn:provider/interface/chargepointservices/shedLoad\"",
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 500);
    let text = response.text().await.unwrap();
    assert!(
        text.contains("<faultcode>soap:Client</faultcode>"),
        "{text}"
    );
    assert!(
        text.contains("does not match the operation &lt;getLoad&gt;"),
        "{text}"
    );
}

#[tokio::test]
async fn wsdl_is_served_with_this_servers_address() {
    let sim = start_sim(SimFleetConfig::generate(1, 1, 1)).await;
    let response = sim_util::http()
        .get(format!("{}?wsdl", sim.endpoint()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let wsdl = response.text().await.unwrap();
    assert!(wsdl.contains(&format!("location=\"{}\"", sim.endpoint())));
    for method in ApiMethod::ALL {
        assert!(
            wsdl.contains(&format!("name=\"{}\"", method.name())),
            "{method}"
        );
    }
}

#[tokio::test]
async fn admin_reports_calls_per_method_and_account_with_stations() {
    let sim = start_sim(SimFleetConfig::generate(4, 2, 2)).await;
    client(&sim, 1, T)
        .get_load(&LoadQuery::Station(sid("1:10002")))
        .await
        .unwrap();
    client(&sim, 2, T)
        .get_station_status(&StatusQuery {
            station_ids: vec![sid("2:20001"), sid("2:20002")],
        })
        .await
        .unwrap();
    let calls = admin_get(&sim, "calls").await;
    assert_eq!(calls["total"], 2);
    assert_eq!(calls["by_account"]["account1"]["getLoad"], 1);
    assert_eq!(calls["by_account"]["account2"]["getStationStatus"], 1);
    assert_eq!(
        calls["recent"][0]["station_ids"],
        serde_json::json!(["1:10002"])
    );
    assert_eq!(
        calls["recent"][1]["station_ids"],
        serde_json::json!(["2:20001", "2:20002"])
    );
    let body = calls["recent"][1]["body"].as_str().unwrap();
    assert!(body.contains("<stationID>2:20001</stationID>"), "{body}");
    assert!(!body.contains("sim-password-2"), "password leaked: {body}");
    let summary = admin_get(&sim, "").await;
    assert_eq!(summary["stations"], 4);
    assert_eq!(summary["accounts"][1]["plan"], "restricted");
    add_fault(&sim, "getLoad=http503:next=1").await;
    assert_eq!(admin_get(&sim, "faults").await[0]["remaining"], 1);
}

#[tokio::test]
async fn same_seed_and_same_steps_give_identical_answers() {
    async fn run(seed: u64) -> (String, String) {
        let mut fleet = SimFleetConfig::generate(6, 2, 1);
        fleet.seed = seed;
        let sim = start_sim(fleet).await;
        let api = client(&sim, 1, T);
        let mut loads = String::new();
        for _ in 0..4 {
            advance(&sim, 5400).await;
            let load = api
                .get_load(&LoadQuery::Group(GroupId(1000)))
                .await
                .unwrap();
            loads.push_str(&format!("{load:?}"));
        }
        let sessions = api
            .get_charging_sessions(&SessionQuery::default())
            .await
            .unwrap();
        (loads, format!("{sessions:?}"))
    }
    let (a, b, other) = (run(7).await, run(7).await, run(8).await);
    assert_eq!(a, b);
    assert_ne!(a.1, other.1, "another seed gives another history");
}

#[tokio::test]
async fn status_follows_sessions_and_reachability() {
    let sim = start_sim(SimFleetConfig::generate(20, 2, 1)).await;
    let api = client(&sim, 1, T);
    let mut seen_in_use = false;
    let mut seen_unreachable = false;
    for _ in 0..48 {
        advance(&sim, 1800).await;
        let status = api
            .get_station_status(&StatusQuery::default())
            .await
            .unwrap();
        for port in status.iter().flat_map(|s| &s.ports) {
            seen_in_use |= port.status == PortStatusWord::InUse;
            seen_unreachable |= port.status == PortStatusWord::Unreachable;
        }
    }
    assert!(seen_in_use, "no port was ever in use over a day");
    assert!(
        seen_unreachable,
        "no port was ever unreachable over a day of 40 ports"
    );
}
