//! The SOAP codec against ChargePoint's schema and samples: every request and response we write
//! validates against `cp_api_5.0.xsd` (with xmllint), reads back to what was written, and the
//! spec's own sample XML reads into the expected records. Plus the meaning of faults and
//! response codes, and the refusal of hostile or broken XML.

use chargepoint_supervisor::soap::{
    self, codes, envelope, read_request, read_response, write_fault, write_request, write_response,
    Outcome, Request, RequestError, Response,
};
use cp_actors::{PortShed, ShedLimit, ShedRequest, ShedScope, SoapError};
use cp_registry::{
    ApiMethod, LoadReport, PortLoad, PortNumber, PortStatus, PortStatusWord, RightsProfile,
    StationInfo, StationLoad, StationRights, StationStatus,
};

use crate::util::samples::{self, alarm, at, code_response, sid, token};
use crate::util::{schema, tools_present, XMLLINT};

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
    if !tools_present(&[XMLLINT]) {
        return;
    }
    for (what, request) in samples::requests() {
        schema::assert_body_valid(&write_request(&request, &token()), what);
    }
}

#[test]
fn every_response_validates_against_the_xsd() {
    if !tools_present(&[XMLLINT]) {
        return;
    }
    for (what, response) in samples::responses() {
        schema::assert_body_valid(&write_response(&response), what);
    }
}

#[test]
fn error_responses_and_faults_validate() {
    if !tools_present(&[XMLLINT]) {
        return;
    }
    for method in ApiMethod::ALL {
        let error = RequestError::Invalid {
            method,
            detail: "percentShed must be between 0 and 100, not 150".into(),
        };
        schema::assert_body_valid(&error.to_reply(), method.name());
    }
    // The fault's body is SOAP's own element, not ChargePoint's: check it reads back instead.
    let fault = write_fault(envelope::AUTH_FAULT_CODE, envelope::AUTH_FAULT_TEXT);
    assert!(schema::body_element(&fault).starts_with("<soap:Fault"));
}

#[test]
fn requests_read_back_as_written_with_their_credentials() {
    for (what, request) in samples::requests() {
        let bytes = write_request(&request, &token());
        let (read, credentials) = read_request(&bytes).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(read, request, "{what}");
        assert_eq!(credentials, Some(token()), "{what}");
    }
}

#[test]
fn responses_read_back_as_written() {
    for (what, response) in samples::responses() {
        let bytes = write_response(&response);
        let read =
            read_response(response.method(), &bytes).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(read, response, "{what}");
    }
}

/// The records a fleet holds for hours (nameplates, rights, load), one per station, are read
/// without the spare room a growing list keeps: at 10,000 stations that room was ~13 MB.
#[test]
fn held_records_keep_no_spare_room() {
    let mut checked = 0;
    for (what, response) in samples::responses() {
        let read = read_response(response.method(), &write_response(&response))
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        let mut exact = |len: usize, capacity: usize, list: &str| {
            assert_eq!(capacity, len, "{what}: {list}");
            checked += 1;
        };
        match read {
            Response::GetStations { stations, .. } => {
                for s in stations {
                    exact(s.ports.len(), s.ports.capacity(), "ports");
                    exact(s.pricing.len(), s.pricing.capacity(), "pricing");
                }
            }
            Response::GetLoad { report, .. } => {
                for s in report.stations {
                    exact(s.ports.len(), s.ports.capacity(), "ports");
                }
            }
            Response::GetStationRights { rights, .. } => {
                for r in rights {
                    exact(r.profiles.len(), r.profiles.capacity(), "profiles");
                }
            }
            _ => {}
        }
    }
    assert!(checked >= 5, "the samples hold stations, load and rights");
}

/// What repeats from station to station in an answer (maker, connector, organisation) is held
/// once and shared by every station that names it; what is the station's own stays its own.
#[test]
fn repeating_nameplate_text_is_held_once_per_answer() {
    let stations: Vec<StationInfo> = ["1:1", "1:2", "1:3"]
        .into_iter()
        .map(|id| StationInfo {
            station_id: Some(sid(id)),
            mac_addr: Some(format!("000D:6F00:0154:{}", &id[2..])),
            ..samples::station_info()
        })
        .collect();
    let response = Response::GetStations {
        outcome: Outcome::success(),
        stations: stations.clone(),
        more: false,
    };
    let Response::GetStations { stations: read, .. } =
        read_response(ApiMethod::GetStations, &write_response(&response)).unwrap()
    else {
        panic!("not a getStations answer");
    };
    assert_eq!(read, stations, "sharing changes no value");
    let same = |a: &str, b: &str| std::ptr::eq(a.as_ptr(), b.as_ptr());
    let (first, last) = (&read[0], &read[2]);
    for (what, a, b) in [
        (
            "maker",
            first.manufacturer.as_deref(),
            last.manufacturer.as_deref(),
        ),
        (
            "organisation",
            Some(&*first.organization_name),
            Some(&*last.organization_name),
        ),
        (
            "connector",
            first.ports[0].connector.as_deref(),
            last.ports[0].connector.as_deref(),
        ),
        (
            "pricing",
            first.pricing[0].kind.as_deref(),
            last.pricing[0].kind.as_deref(),
        ),
    ] {
        let (a, b) = (a.unwrap(), b.unwrap());
        assert!(same(a, b), "{what}: one copy for every station");
    }
    let (a, b) = (first.mac_addr.as_deref(), last.mac_addr.as_deref());
    assert!(
        !same(a.unwrap(), b.unwrap()),
        "each station's own MAC address"
    );
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
                refused: Vec::new(),
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
            sessions: vec![samples::session(53068029, true)],
            more: false,
        }
    );
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
    let whole = write_response(&samples::responses()[0].1);
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
