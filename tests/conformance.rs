//! The SOAP codec against ChargePoint's schema and samples: every request and response we write
//! validates against `cp_api_5.0.xsd` (with xmllint), reads back to what was written, and the
//! spec's own sample XML reads into the expected records. Plus the meaning of faults and
//! response codes, and the refusal of hostile or broken XML.
//!
//! Over the ~600-line guide: every operation's schema, round-trip and sample checks share the
//! xmllint and sample helpers of one test binary; splitting it into `tests/conformance/` modules
//! is a change of its own.

mod util;

use chargepoint_supervisor::soap::{
    self, codes, envelope, read_request, read_response, write_fault, write_request, write_response,
    Outcome, Request, RequestError, Response, UsernameToken,
};
use cp_actors::{PortShed, ShedLimit, ShedRequest, ShedScope, SoapError};
use cp_registry::{
    ApiMethod, LoadReport, PortLoad, PortNumber, PortStatus, PortStatusWord, RightsProfile, Secret,
    StationLoad, StationRights, StationStatus,
};
use util::samples::{alarm, at, sid};

const PASSWORD: &str = "s3cr3t-p@ss&word";

fn token() -> UsernameToken {
    UsernameToken {
        username: "api-user-7c1f".into(),
        password: Secret::new(PASSWORD),
    }
}

/// `body` (a response element, or fragments to put inside one) in a SOAP envelope.
fn envelope_around(body: &str) -> Vec<u8> {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<SOAP-ENV:Envelope \
         xmlns:SOAP-ENV=\"http://schemas.xmlsoap.org/soap/envelope/\" \
         xmlns:ns1=\"urn:dictionary:com.chargepoint.webservices\">\n<SOAP-ENV:Body>\n{body}\n\
         </SOAP-ENV:Body>\n</SOAP-ENV:Envelope>\n"
    )
    .into_bytes()
}

fn fixture(name: &str) -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/").to_string() + name;
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Fragments from the spec (`<Alarms>`, `<rightsData>`, ...) inside a successful response.
fn response_around(method: ApiMethod, fragment: &str) -> Vec<u8> {
    envelope_around(&format!(
        "<ns1:{m}Response><responseCode>100</responseCode>\
         <responseText>API input request executed successfully.</responseText>\n{fragment}\
         </ns1:{m}Response>",
        m = method.name()
    ))
}

#[test]
fn every_request_validates_against_the_xsd() {
    for (what, request) in util::samples::requests() {
        util::assert_body_valid(&write_request(&request, &token()), what);
    }
}

#[test]
fn every_response_validates_against_the_xsd() {
    for (what, response) in util::samples::responses() {
        util::assert_body_valid(&write_response(&response), what);
    }
}

#[test]
fn error_responses_and_faults_validate() {
    for method in ApiMethod::ALL {
        let error = RequestError::Invalid {
            method,
            detail: "percentShed must be between 0 and 100, not 150".into(),
        };
        util::assert_body_valid(&error.to_reply(), method.name());
    }
    // The fault's body is SOAP's own element, not ChargePoint's: check it reads back instead.
    let fault = write_fault(envelope::AUTH_FAULT_CODE, envelope::AUTH_FAULT_TEXT);
    assert!(util::body_element(&fault).starts_with("<soap:Fault"));
}

#[test]
fn requests_read_back_as_written_with_their_credentials() {
    for (what, request) in util::samples::requests() {
        let bytes = write_request(&request, &token());
        let (read, credentials) = read_request(&bytes).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(read, request, "{what}");
        assert_eq!(credentials, Some(token()), "{what}");
    }
}

#[test]
fn responses_read_back_as_written() {
    for (what, response) in util::samples::responses() {
        let bytes = write_response(&response);
        let read =
            read_response(response.method(), &bytes).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(read, response, "{what}");
    }
}

#[test]
fn request_carries_ws_security_header_and_escaped_password() {
    let bytes = write_request(
        &Request::GetLoad(cp_actors::LoadQuery::Station(sid("1:1"))),
        &token(),
    );
    let text = String::from_utf8(bytes).unwrap();
    assert!(text.contains(
        "<wsse:Security soap:mustUnderstand=\"1\"><wsse:UsernameToken>\
         <wsse:Username>api-user-7c1f</wsse:Username><wsse:Password \
         Type=\"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText\">\
         s3cr3t-p@ss&amp;word</wsse:Password>"
    ));
    assert!(text.contains("xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\""));
    assert_eq!(
        soap::soap_action(ApiMethod::GetStationStatus),
        "\"urn:provider/interface/chargepointservices/getStationStatus\""
    );
}

#[test]
fn spec_station_status_sample_reads() {
    let bytes = envelope_around(&fixture("spec_get_station_status_response.xml"));
    let response = read_response(ApiMethod::GetStationStatus, &bytes).unwrap();
    let port = |n, status| PortStatus {
        port: PortNumber(n),
        status,
        timestamp: at("2016-11-07T19:19:19Z"),
        connector: None,
        power: None,
    };
    assert_eq!(
        response,
        Response::GetStationStatus {
            outcome: Outcome::success(),
            stations: vec![StationStatus {
                station_id: sid("1:33923"),
                ports: vec![
                    port(1, PortStatusWord::Available),
                    port(2, PortStatusWord::InUse)
                ],
            }],
            more: false,
        }
    );
}

#[test]
fn spec_load_sample_reads_with_its_empty_elements() {
    let bytes = envelope_around(&fixture("spec_get_load_response.xml"));
    let Response::GetLoad { report, .. } = read_response(ApiMethod::GetLoad, &bytes).unwrap()
    else {
        panic!("not a getLoad response");
    };
    let port = |n, user: Option<&str>, cred: Option<&str>, load| PortLoad {
        port: PortNumber(n),
        user_id: user.map(str::to_string),
        credential_id: cred.map(str::to_string),
        shed_state: false,
        port_load: load,
        allowed_load: 0.0,
        percent_shed: 0,
    };
    assert_eq!(
        report,
        LoadReport {
            group_id: None,
            num_stations: None,
            group_name: None,
            group_load: None,
            stations: vec![StationLoad {
                station_id: sid("1:33923"),
                station_name: Some("ALCOGARSTATIONS / ALCOPARK 8 -005".into()),
                address: Some("165 13th St, Oakland, California,  94612, United States".into()),
                station_load: Some(3.314),
                ports: vec![
                    port(1, None, None, 0.0),
                    port(2, Some("664719"), Some("CNCP0000481668"), 3.314),
                ],
            }],
        }
    );
}

#[test]
fn spec_shed_sample_with_empty_time_interval_reads_as_until_cleared() {
    let bytes = envelope_around(&fixture("spec_shed_load_request.xml"));
    let (request, credentials) = read_request(&bytes).unwrap();
    assert_eq!(credentials, None);
    assert_eq!(
        request,
        Request::ShedLoad(ShedRequest {
            scope: ShedScope::Station(sid("1:123456")),
            station_limit: None,
            ports: vec![PortShed {
                port: PortNumber(1),
                limit: ShedLimit::AllowedLoad(3.0),
            }],
            time_interval_minutes: 0,
        })
    );
    // Absent rather than empty, children in another order, another prefix: the same request.
    let reordered = "<cp:shedLoad xmlns:cp=\"urn:dictionary:com.chargepoint.webservices\">\
        <shedQuery><shedStation><Ports><Port><allowedLoadPerPort>3.0</allowedLoadPerPort>\
        <portNumber>1</portNumber></Port></Ports><stationID>1:123456</stationID></shedStation>\
        </shedQuery></cp:shedLoad>";
    let (again, _) = read_request(&envelope_around(reordered)).unwrap();
    assert_eq!(again, request);
}

#[test]
fn spec_alarm_sample_reads_as_a_station_wide_alarm() {
    let bytes = response_around(ApiMethod::GetAlarms, &fixture("spec_alarms.xml"));
    let response = read_response(ApiMethod::GetAlarms, &bytes).unwrap();
    assert_eq!(
        response,
        Response::GetAlarms {
            outcome: Outcome::success(),
            alarms: vec![alarm(None, 1)],
            more: false,
        }
    );
}

#[test]
fn spec_rights_sample_merges_into_one_station_with_two_profiles() {
    let bytes = response_around(
        ApiMethod::GetStationRights,
        &fixture("spec_rights_data.xml"),
    );
    let response = read_response(ApiMethod::GetStationRights, &bytes).unwrap();
    let profile = |sg: &str, name: &str| RightsProfile {
        group_id: Some(sg.into()),
        group_name: Some(name.into()),
        profile: "network_manager".into(),
    };
    assert_eq!(
        response,
        Response::GetStationRights {
            outcome: Outcome::success(),
            rights: vec![StationRights {
                station_id: sid("1:34003"),
                station_name: Some("ALCOGARSTATIONS / ALCOPARK 8 -004".into()),
                station_serial_num: Some("115110013369".into()),
                station_mac_addr: Some("000D:6F00:0154:F1FC".into()),
                profiles: vec![
                    profile("39491", "AlcoPark 8"),
                    profile("58279", "AlcoGarageStations")
                ],
            }],
            more: false,
        }
    );
}

#[test]
fn spec_session_sample_reads() {
    let bytes = response_around(
        ApiMethod::GetChargingSessionData,
        &fixture("spec_charging_session_data.xml"),
    );
    let response = read_response(ApiMethod::GetChargingSessionData, &bytes).unwrap();
    assert_eq!(
        response,
        Response::GetChargingSessionData {
            outcome: Outcome::success(),
            sessions: vec![util::samples::session(53068029, true)],
            more: false,
        }
    );
}

fn code_response(method: ApiMethod, code: &str, text: &str) -> Vec<u8> {
    write_response(&Response::empty(method, Outcome::new(code, text)))
}

#[test]
fn invalid_security_fault_is_an_auth_error() {
    let fault = write_fault("wsse:InvalidSecurity", "UsernameToken processing failed");
    let err = read_response(ApiMethod::GetStationStatus, &fault).unwrap_err();
    assert!(matches!(err, SoapError::Auth { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "getStationStatus: authentication failed: UsernameToken processing failed"
    );
}

#[test]
fn throttle_fault_and_code_are_rate_limits_other_faults_are_faults() {
    let throttled = write_fault(envelope::THROTTLED_FAULT_CODE, "too many requests");
    assert!(matches!(
        read_response(ApiMethod::GetLoad, &throttled),
        Err(SoapError::RateLimited {
            op: ApiMethod::GetLoad,
            retry_after: None
        })
    ));
    let code = code_response(ApiMethod::GetLoad, codes::RATE_LIMITED, "slow down");
    assert!(matches!(
        read_response(ApiMethod::GetLoad, &code),
        Err(SoapError::RateLimited { .. })
    ));
    let other = write_fault("soap:Server", "internal error");
    assert_eq!(
        read_response(ApiMethod::GetLoad, &other)
            .unwrap_err()
            .to_string(),
        "getLoad: SOAP fault soap:Server: internal error"
    );
}

#[test]
fn response_codes_map_to_their_errors() {
    let err = |method, code, text| {
        read_response(method, &code_response(method, code, text))
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        err(ApiMethod::GetLoad, "101", "Not permitted"),
        "getLoad: not permitted by the account's plan (responseCode 101: Not permitted)"
    );
    assert_eq!(
        err(ApiMethod::ShedLoad, "120", "percentShed out of range"),
        "shedLoad: invalid input (responseCode 120: percentShed out of range)"
    );
    assert_eq!(
        err(ApiMethod::GetStations, "102", "No matching station"),
        "getStations: responseCode 102: No matching station"
    );
    assert_eq!(
        err(ApiMethod::GetAlarms, "136", "no data"),
        "getAlarms: responseCode 136: no data"
    );
}

#[test]
fn no_data_codes_are_empty_answers() {
    let sessions = read_response(
        ApiMethod::GetChargingSessionData,
        &code_response(
            ApiMethod::GetChargingSessionData,
            codes::NO_SESSIONS,
            "No data",
        ),
    )
    .unwrap();
    assert!(matches!(
        sessions,
        Response::GetChargingSessionData { ref sessions, more: false, .. } if sessions.is_empty()
    ));
    for method in [ApiMethod::GetAlarms, ApiMethod::ClearAlarms] {
        let read = read_response(
            method,
            &code_response(method, codes::NO_ALARMS, "No alarms"),
        );
        assert_eq!(read.unwrap().outcome().code, codes::NO_ALARMS);
    }
}

fn malformed(method: ApiMethod, bytes: &[u8]) -> String {
    match read_response(method, bytes) {
        Err(SoapError::Malformed { detail, .. }) => detail,
        other => panic!("expected Malformed, got {other:?}"),
    }
}

#[test]
fn truncated_response_is_malformed() {
    let whole = write_response(&util::samples::responses()[0].1);
    for cut in [whole.len() / 3, whole.len() / 2, whole.len() - 10] {
        let detail = malformed(ApiMethod::GetStationStatus, &whole[..cut]);
        assert!(!detail.is_empty());
    }
    // Cut at a tag boundary: well-formed so far, but the envelope never closes.
    let unclosed = whole.len() - "</soap:Envelope>".len();
    assert_eq!(
        malformed(ApiMethod::GetStationStatus, &whole[..unclosed]),
        "document ends before its elements are closed (truncated?)"
    );
}

#[test]
fn doctype_and_entities_are_refused() {
    let bomb = b"<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;\">]>\
        <soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\"><soap:Body>\
        <getLoadResponse><responseCode>&lol2;</responseCode></getLoadResponse></soap:Body></soap:Envelope>";
    assert_eq!(
        malformed(ApiMethod::GetLoad, bomb),
        "DOCTYPE is not allowed (no DTDs or entity definitions)"
    );
    let entity = envelope_around(
        "<ns1:getLoadResponse><responseCode>&xxe;</responseCode></ns1:getLoadResponse>",
    );
    assert_eq!(
        malformed(ApiMethod::GetLoad, &entity),
        "entity reference &xxe; is not allowed (entities are never expanded)"
    );
}

#[test]
fn oversized_response_is_malformed() {
    let mut huge = envelope_around("<ns1:getLoadResponse><responseCode>100</responseCode>");
    huge.resize(soap::MAX_RESPONSE_BYTES + 1, b' ');
    assert_eq!(
        malformed(ApiMethod::GetLoad, &huge),
        "message of 16777217 bytes is over the 16777216-byte limit"
    );
}

#[test]
fn non_utf8_is_malformed_and_a_byte_order_mark_is_fine() {
    let mut latin1 = envelope_around(
        "<ns1:getLoadResponse><responseCode>100</responseCode><groupName>Caf\u{e9}</groupName></ns1:getLoadResponse>",
    );
    let e_acute = latin1.windows(2).position(|w| w == [0xc3, 0xa9]).unwrap();
    latin1.splice(e_acute..e_acute + 2, [0xe9]);
    assert!(malformed(ApiMethod::GetLoad, &latin1).starts_with("not well-formed XML at byte"));

    let mut with_bom = b"\xef\xbb\xbf".to_vec();
    with_bom.extend(code_response(ApiMethod::GetLoad, "100", "ok"));
    assert!(read_response(ApiMethod::GetLoad, &with_bom).is_ok());
}

#[test]
fn wrong_shape_responses_are_malformed() {
    assert_eq!(
        malformed(
            ApiMethod::GetLoad,
            b"<html><body>502 Bad Gateway</body></html>"
        ),
        "not a SOAP envelope: the root element is <html>"
    );
    let wrong_op = code_response(ApiMethod::GetAlarms, "100", "ok");
    assert_eq!(
        malformed(ApiMethod::GetLoad, &wrong_op),
        "expected <getLoadResponse>, found <getAlarmsResponse>"
    );
    let no_code = envelope_around(
        "<ns1:getLoadResponse><responseText>hi</responseText></ns1:getLoadResponse>",
    );
    assert_eq!(
        malformed(ApiMethod::GetLoad, &no_code),
        "<getLoadResponse> has no responseCode"
    );
    let bad_number = envelope_around(
        "<ns1:getLoadResponse><responseCode>100</responseCode><stationData><stationID>1:1</stationID>\
         <stationLoad>lots</stationLoad></stationData></ns1:getLoadResponse>",
    );
    assert_eq!(
        malformed(ApiMethod::GetLoad, &bad_number),
        "<stationLoad>: cannot read 'lots' as a number"
    );
}

#[test]
fn unknown_elements_in_responses_are_skipped() {
    let newer = envelope_around(
        "<ns1:getStationStatusResponse><responseCode>100</responseCode><futureField><a>1</a></futureField>\
         <stationData><stationID>1:33923</stationID><Port><portNumber>1</portNumber>\
         <Status>AVAILABLE</Status><TimeStamp>2016-11-07T19:19:19Z</TimeStamp><Extra/></Port>\
         <Port><portNumber>2</portNumber><Status>CHARGING_FAST</Status>\
         <TimeStamp>2016-11-07T19:19:19.5+01:00</TimeStamp></Port></stationData>\
         <moreFlag>0</moreFlag></ns1:getStationStatusResponse>",
    );
    let Response::GetStationStatus { stations, .. } =
        read_response(ApiMethod::GetStationStatus, &newer).unwrap()
    else {
        panic!("not a status response");
    };
    assert_eq!(
        stations[0].ports[1].status,
        PortStatusWord::Other("CHARGING_FAST".into())
    );
    assert_eq!(stations[0].ports[1].timestamp, at("2016-11-07T18:19:19.5Z"));
}

#[test]
fn request_errors_say_what_to_answer() {
    assert_eq!(
        read_request(b"GET / HTTP/1.1").unwrap_err(),
        RequestError::NotSoap {
            detail: "text before the root element".into()
        }
    );
    assert_eq!(
        read_request(&envelope_around("<ns1:getPublicStations/>")).unwrap_err(),
        RequestError::UnknownOperation {
            name: "getPublicStations".into()
        }
    );
    let over = envelope_around(
        "<ns1:shedLoad><shedQuery><shedGroup><sgID>1</sgID><percentShedPerStation>150\
         </percentShedPerStation></shedGroup><timeInterval>5</timeInterval></shedQuery></ns1:shedLoad>",
    );
    let err = read_request(&over).unwrap_err();
    assert_eq!(
        err.to_string(),
        "shedLoad: invalid request: shedGroup: percentShed must be between 0 and 100, not 150"
    );
    // The simulator's answer to it reads, on the client side, as invalid input.
    assert_eq!(
        read_response(ApiMethod::ShedLoad, &err.to_reply()).unwrap_err().to_string(),
        "shedLoad: invalid input (responseCode 120: shedGroup: percentShed must be between 0 and 100, not 150)"
    );
    let no_limit = envelope_around(
        "<ns1:shedLoad><shedQuery><shedStation><stationID>1:1</stationID></shedStation>\
         <timeInterval/></shedQuery></ns1:shedLoad>",
    );
    assert_eq!(
        read_request(&no_limit).unwrap_err(),
        RequestError::Invalid {
            method: ApiMethod::ShedLoad,
            detail:
                "a shed needs a limit: allowedLoad or percentShed, for the station or for a port"
                    .into()
        }
    );
    let not_xml_fault = RequestError::NotSoap { detail: "x".into() }.to_reply();
    assert!(matches!(
        read_response(ApiMethod::GetLoad, &not_xml_fault),
        Err(SoapError::Fault { ref code, .. }) if code == "soap:Client"
    ));
}

// ---------------------------------------------------------------------------------------------
// The client over HTTP, against a scripted server on loopback.

use chargepoint_supervisor::soap::{ClientConfig, SoapClient};
use cp_actors::{ChargePointApi, ClearShedRequest, RightsQuery, StationsQuery, StatusQuery};
use std::time::Duration;
use util::server::{serve, Reply, Seen};

fn client(url: &str) -> SoapClient {
    SoapClient::new(ClientConfig::new(
        url,
        "api-user-7c1f",
        Secret::new(PASSWORD),
    ))
    .expect("client")
}

fn request_of(seen: &Seen) -> Request {
    let (request, credentials) = read_request(&seen.body).expect("client sent a readable request");
    assert_eq!(credentials, Some(token()));
    request
}

#[tokio::test]
async fn status_for_many_stations_goes_in_pages_of_station_ids() {
    let server = serve(|seen| {
        let Request::GetStationStatus { query, .. } = request_of(seen) else {
            return Reply::status(500, write_fault("soap:Client", "wrong operation"));
        };
        let stations = query
            .station_ids
            .iter()
            .map(|id| util::samples::status_station(id.as_str(), 2))
            .collect();
        Reply::ok(write_response(&Response::GetStationStatus {
            outcome: Outcome::success(),
            stations,
            more: false,
        }))
    })
    .await;
    let mut config = ClientConfig::new(&server.url, "api-user-7c1f", Secret::new(PASSWORD));
    config.status_page_size = 2;
    let client = SoapClient::new(config).unwrap();
    let ids: Vec<_> = (1..=5).map(|n| sid(&format!("1:{n}"))).collect();
    let statuses = client
        .get_station_status(&StatusQuery {
            station_ids: ids.clone(),
        })
        .await
        .unwrap();
    let got: Vec<_> = statuses.iter().map(|s| s.station_id.clone()).collect();
    assert_eq!(got, ids);
    let seen = server.seen();
    assert_eq!(seen.len(), 3, "5 stations in pages of 2");
    for request in &seen {
        assert_eq!(
            request.soap_action.as_deref(),
            Some("\"urn:provider/interface/chargepointservices/getStationStatus\"")
        );
        assert_eq!(
            request.content_type.as_deref(),
            Some("text/xml; charset=utf-8")
        );
    }
    assert_eq!(
        request_of(&seen[2]),
        Request::GetStationStatus {
            query: StatusQuery {
                station_ids: vec![sid("1:5")]
            },
            start_record: Some(1),
            num_stations: Some(1),
        }
    );
}

/// Answers getStations from a fleet of `total` stations, `page` at a time.
fn stations_server(total: usize, page: usize) -> impl Fn(&Seen) -> Reply {
    move |seen| {
        let Request::GetStations { start_record, .. } = request_of(seen) else {
            return Reply::status(500, Vec::new());
        };
        let from = start_record.unwrap_or(1) as usize - 1;
        let to = (from + page).min(total);
        let stations = (from..to)
            .map(|n| cp_registry::StationInfo {
                station_id: Some(sid(&format!("1:{n}"))),
                org_id: "1:ORG1".into(),
                organization_name: "Org".into(),
                ..Default::default()
            })
            .collect();
        Reply::ok(write_response(&Response::GetStations {
            outcome: Outcome::success(),
            stations,
            more: to < total,
        }))
    }
}

#[tokio::test]
async fn stations_follow_more_flag_from_start_record_one() {
    let server = serve(stations_server(5, 2)).await;
    let stations = client(&server.url)
        .get_stations(&StationsQuery::default())
        .await
        .unwrap();
    assert_eq!(stations.len(), 5);
    let starts: Vec<_> = server
        .seen()
        .iter()
        .map(|s| match request_of(s) {
            Request::GetStations {
                start_record,
                num_stations,
                ..
            } => (start_record, num_stations),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        starts,
        vec![
            (Some(1), Some(500)),
            (Some(3), Some(500)),
            (Some(5), Some(500))
        ]
    );
}

#[tokio::test]
async fn a_server_that_always_says_more_is_cut_off() {
    let server = serve(|_| {
        Reply::ok(write_response(&Response::GetAlarms {
            outcome: Outcome::success(),
            alarms: vec![util::samples::alarm(Some(1), 1)],
            more: true,
        }))
    })
    .await;
    let err = client(&server.url)
        .get_alarms(&Default::default())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "getAlarms: malformed response: moreFlag still 1 after 1000 pages"
    );
    assert_eq!(server.seen().len(), 1000);
}

#[tokio::test]
async fn rights_are_merged_across_pages() {
    let server = serve(|seen| {
        let Request::GetStationRights { start_record, .. } = request_of(seen) else {
            return Reply::status(500, Vec::new());
        };
        let rights = util::samples::rights();
        // Page 1: the first station's first profile; page 2: the rest.
        let (page, more) = if start_record == Some(1) {
            let mut first = rights[0].clone();
            first.profiles.truncate(1);
            (vec![first], true)
        } else {
            let mut rest = rights.clone();
            rest[0].profiles.remove(0);
            (rest, false)
        };
        Reply::ok(write_response(&Response::GetStationRights {
            outcome: Outcome::success(),
            rights: page,
            more,
        }))
    })
    .await;
    let rights = client(&server.url)
        .get_station_rights(&RightsQuery::default())
        .await
        .unwrap();
    assert_eq!(rights, util::samples::rights());
}

#[tokio::test]
async fn no_sessions_code_is_an_empty_list() {
    let server = serve(|_| {
        Reply::ok(code_response(
            ApiMethod::GetChargingSessionData,
            codes::NO_SESSIONS,
            "No matching sessions",
        ))
    })
    .await;
    let sessions = client(&server.url)
        .get_charging_sessions(&Default::default())
        .await
        .unwrap();
    assert!(sessions.is_empty());
}

#[tokio::test]
async fn http_429_is_rate_limited_with_retry_after() {
    let server = serve(|_| {
        let mut reply = Reply::status(429, b"Too Many Requests".to_vec());
        reply.headers.push(("retry-after", "3".into()));
        reply
    })
    .await;
    let err = client(&server.url)
        .get_load(&cp_actors::LoadQuery::Station(sid("1:1")))
        .await
        .unwrap_err();
    assert!(
        matches!(err, SoapError::RateLimited { retry_after: Some(d), .. } if d == Duration::from_secs(3)),
        "{err:?}"
    );
}

#[tokio::test]
async fn bad_credentials_fault_with_http_500_is_auth() {
    let server = serve(|_| {
        Reply::status(
            500,
            write_fault(envelope::AUTH_FAULT_CODE, envelope::AUTH_FAULT_TEXT),
        )
    })
    .await;
    let err = client(&server.url)
        .get_stations(&StationsQuery::default())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "getStations: authentication failed: UsernameToken processing failed"
    );
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn plain_http_errors_keep_their_status() {
    let server = serve(|_| Reply::status(503, b"<html>maintenance</html>".to_vec())).await;
    let err = client(&server.url)
        .clear_alarms(&Default::default())
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "clearAlarms: HTTP status 503");
    assert!(err.is_retryable());
}

#[tokio::test]
async fn a_hanging_server_times_out() {
    let server = serve(|_| {
        let mut reply = Reply::ok(code_response(ApiMethod::GetLoad, "100", "ok"));
        reply.delay = Duration::from_secs(5);
        reply
    })
    .await;
    let mut config = ClientConfig::new(&server.url, "u", Secret::new(PASSWORD));
    config.timeout = Duration::from_millis(200);
    let err = SoapClient::new(config)
        .unwrap()
        .get_load(&cp_actors::LoadQuery::Station(sid("1:1")))
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "getLoad: no answer within 200ms");
}

#[tokio::test]
async fn an_oversized_answer_is_refused() {
    let server = serve(|_| Reply::ok(vec![b' '; soap::MAX_RESPONSE_BYTES + 1])).await;
    let err = client(&server.url)
        .get_load(&cp_actors::LoadQuery::Station(sid("1:1")))
        .await
        .unwrap_err();
    assert!(matches!(err, SoapError::Malformed { .. }), "{err:?}");
    assert!(
        err.to_string().ends_with("is over the 16777216-byte limit"),
        "{err}"
    );
}

#[tokio::test]
async fn a_closed_port_is_a_connect_error_that_names_no_secret() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let url = format!("http://api-user:{PASSWORD}@{addr}/services/5.0");
    let err = client(&url)
        .get_load(&cp_actors::LoadQuery::Station(sid("1:1")))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "getLoad: connection to the ChargePoint endpoint failed"
    );
    assert_no_password(&format!("{err:?}"));
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        assert_no_password(&format!("{cause} {cause:?}"));
        source = cause.source();
    }
}

#[tokio::test]
async fn impossible_writes_are_refused_before_sending() {
    let server = serve(|_| Reply::status(500, Vec::new())).await;
    let client = client(&server.url);
    let shed = |scope, station_limit, ports| ShedRequest {
        scope,
        station_limit,
        ports,
        time_interval_minutes: 0,
    };
    let station = || ShedScope::Station(sid("1:1"));
    let cases = [
        (
            shed(station(), Some(ShedLimit::PercentShed(101)), vec![]),
            "shedLoad: invalid input (responseCode client: percentShed must be between 0 and 100, not 101)",
        ),
        (
            shed(station(), Some(ShedLimit::AllowedLoad(-1.0)), vec![]),
            "shedLoad: invalid input (responseCode client: allowedLoad must be a number of kW >= 0, not -1)",
        ),
        (
            shed(station(), Some(ShedLimit::AllowedLoad(f64::NAN)), vec![]),
            "shedLoad: invalid input (responseCode client: allowedLoad must be a number of kW >= 0, not NaN)",
        ),
        (
            shed(station(), None, vec![]),
            "shedLoad: invalid input (responseCode client: a shed needs a limit: allowedLoad or percentShed, for the station or for a port)",
        ),
        (
            shed(
                ShedScope::Group(cp_registry::GroupId(1)),
                None,
                vec![PortShed { port: PortNumber(1), limit: ShedLimit::PercentShed(10) }],
            ),
            "shedLoad: invalid input (responseCode client: per-port limits need a station, not a station group)",
        ),
    ];
    for (request, message) in cases {
        let err = client.shed_load(&request).await.unwrap_err();
        assert_eq!(err.to_string(), message);
    }
    let err = client
        .clear_shed_state(&ClearShedRequest {
            scope: ShedScope::Group(cp_registry::GroupId(1)),
            ports: vec![PortNumber(1)],
        })
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "clearShedState: invalid input (responseCode client: ports can be cleared only on a station, not a station group)"
    );
    assert!(server.seen().is_empty(), "nothing may be sent");
}

fn assert_no_password(text: &str) {
    assert!(!text.contains(PASSWORD), "password leaked into: {text}");
    assert!(!text.contains("s3cr3t"), "password leaked into: {text}");
}

#[tokio::test]
async fn debug_and_display_never_show_the_password() {
    let config = ClientConfig::new(
        "https://example.invalid/5.0",
        "api-user-7c1f",
        Secret::new(PASSWORD),
    );
    assert_no_password(&format!("{config:?}"));
    let client = SoapClient::new(config.clone()).unwrap();
    assert_no_password(&format!("{client:?}"));
    assert_no_password(&format!("{:?}", token()));
    let bad = SoapClient::new(ClientConfig::new(
        format!("ftp://api-user:{PASSWORD}@example.invalid/"),
        "u",
        Secret::new(PASSWORD),
    ))
    .unwrap_err();
    assert_eq!(
        bad.to_string(),
        "invalid ChargePoint endpoint: scheme ftp is not http or https"
    );
    assert_no_password(&format!("{bad} {bad:?}"));
    // Every error the codec can produce from a message that carried the password.
    let request = write_request(
        &Request::GetLoad(cp_actors::LoadQuery::Station(sid("1:1"))),
        &token(),
    );
    for method in ApiMethod::ALL {
        let err = read_response(method, &request).unwrap_err();
        assert_no_password(&format!("{err} {err:?}"));
    }
    let truncated = &request[..request.len() / 2];
    let err = read_request(truncated).unwrap_err();
    assert_no_password(&format!("{err} {err:?}"));
    let (read, credentials) = read_request(&request).unwrap();
    assert_no_password(&format!("{read:?} {credentials:?}"));
}

// ---------------------------------------------------------------------------------------------
// Round trips over generated content: any text survives escaping, any finite number its
// decimal form, any time its xsd:dateTime form.

mod generated {
    use super::*;
    use chrono::{DateTime, TimeZone, Utc};
    use cp_registry::PortLoad;
    use proptest::prelude::*;

    /// Text as ChargePoint sends it: no leading/trailing whitespace (values are trimmed), no
    /// control characters XML cannot carry, but markup characters and any Unicode.
    fn text() -> impl Strategy<Value = String> {
        "[^\\s\\x00-\\x1f\\u{fffe}\\u{ffff}]([^\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\u{fffe}\\u{ffff}]{0,30}[^\\s\\x00-\\x1f\\u{fffe}\\u{ffff}])?"
    }

    fn time() -> impl Strategy<Value = DateTime<Utc>> {
        (0i64..4_102_444_800, 0u32..1_000_000_000)
            .prop_map(|(secs, nanos)| Utc.timestamp_opt(secs, nanos).single().expect("in range"))
    }

    fn port_load() -> impl Strategy<Value = PortLoad> {
        (
            1u16..=16,
            proptest::option::of(text()),
            any::<bool>(),
            -1e6f64..1e6,
            0f64..1e4,
            0u8..=100,
        )
            .prop_map(|(port, user, shed, load, allowed, pct)| PortLoad {
                port: PortNumber(port),
                user_id: user.clone(),
                credential_id: user,
                shed_state: shed,
                port_load: load,
                allowed_load: allowed,
                percent_shed: pct,
            })
    }

    fn station_load() -> impl Strategy<Value = StationLoad> {
        (
            text(),
            proptest::option::of(text()),
            proptest::option::of(any::<f64>().prop_filter("finite", |v| v.is_finite())),
            proptest::collection::vec(port_load(), 0..4),
        )
            .prop_map(|(id, name, load, ports)| StationLoad {
                station_id: sid(&id),
                station_name: name.clone(),
                address: name,
                station_load: load,
                ports,
            })
    }

    fn status_station() -> impl Strategy<Value = StationStatus> {
        let port = (1u16..=16, text(), time(), proptest::option::of(text())).prop_map(
            |(port, status, timestamp, connector)| PortStatus {
                port: PortNumber(port),
                status: PortStatusWord::parse(&status),
                timestamp,
                connector: connector.clone(),
                power: connector,
            },
        );
        (text(), proptest::collection::vec(port, 1..4)).prop_map(|(id, ports)| StationStatus {
            station_id: sid(&id),
            ports,
        })
    }

    proptest! {
        #[test]
        fn load_reports_round_trip(
            stations in proptest::collection::vec(station_load(), 0..4),
            group_name in proptest::option::of(text()),
        ) {
            let response = Response::GetLoad {
                outcome: Outcome::success(),
                report: LoadReport {
                    group_id: Some(cp_registry::GroupId(7)),
                    num_stations: Some(stations.len() as i32),
                    group_name: group_name.clone(),
                    group_load: group_name,
                    stations,
                },
            };
            let read = read_response(ApiMethod::GetLoad, &write_response(&response));
            prop_assert_eq!(read.unwrap(), response);
        }

        #[test]
        fn station_status_round_trips(
            stations in proptest::collection::vec(status_station(), 0..4),
            more in any::<bool>(),
        ) {
            let response = Response::GetStationStatus {
                outcome: Outcome::success(),
                stations,
                more,
            };
            let read = read_response(ApiMethod::GetStationStatus, &write_response(&response));
            prop_assert_eq!(read.unwrap(), response);
        }

        #[test]
        fn shed_requests_round_trip(
            station in text(),
            limit in prop_oneof![
                (0f64..1e4).prop_map(ShedLimit::AllowedLoad),
                (0u8..=100).prop_map(ShedLimit::PercentShed),
            ],
            minutes in 0u32..100_000,
            on_port in any::<bool>(),
        ) {
            let (station_limit, ports) = if on_port {
                (None, vec![PortShed { port: PortNumber(2), limit }])
            } else {
                (Some(limit), vec![])
            };
            let request = Request::ShedLoad(ShedRequest {
                scope: ShedScope::Station(sid(&station)),
                station_limit,
                ports,
                time_interval_minutes: minutes,
            });
            let (read, _) = read_request(&write_request(&request, &token())).unwrap();
            prop_assert_eq!(read, request);
        }
    }
}
