//! The SOAP client over HTTP against a scripted server on loopback: paging, merging, what each
//! kind of failed answer becomes, deadlines, limits, refusals before sending, and secrecy of the
//! password.

use std::time::Duration;

use chargepoint_supervisor::soap::{
    self, codes, envelope, read_request, read_response, write_fault, write_request, write_response,
    ClientConfig, Outcome, Request, Response, SoapClient,
};
use cp_actors::{
    ChargePointApi, ClearShedRequest, PortShed, RightsQuery, ShedLimit, ShedRequest, ShedScope,
    SoapError, StationsQuery, StatusQuery,
};
use cp_registry::{ApiMethod, PortNumber, RefusedValue, Secret};

use crate::util::samples::{self, code_response, sid, token, PASSWORD};
use crate::util::scripted_server::{serve, Reply, Seen};

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
            .map(|id| samples::status_station(id.as_str(), 2))
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
            alarms: vec![samples::alarm(Some(1), 1)],
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
        let rights = samples::rights();
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
    assert_eq!(rights, samples::rights());
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
            "shedLoad: invalid input (responseCode client: allowedLoad must be a number of kW from 0 to 1000, not -1)",
        ),
        (
            shed(station(), Some(ShedLimit::AllowedLoad(f64::NAN)), vec![]),
            "shedLoad: invalid input (responseCode client: allowedLoad must be a number of kW from 0 to 1000, not NaN)",
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

#[tokio::test]
async fn redirect_to_another_origin_is_an_error_and_the_envelope_stays_home() {
    let elsewhere = serve(|_| Reply::ok(Vec::new())).await;
    let target = format!(
        "{}?from=redirect",
        elsewhere.url.replace("127.0.0.1", "localhost")
    );
    let location = target.clone();
    let server = serve(move |_| Reply {
        status: 307,
        headers: vec![("location", location.clone())],
        body: Vec::new(),
        delay: Duration::ZERO,
    })
    .await;
    let err = client(&server.url)
        .get_stations(&StationsQuery::default())
        .await
        .expect_err("a 307 is not an answer");
    assert_eq!(
        err.to_string(),
        format!("getStations: HTTP status 307 redirects to {target}; redirects are not followed")
    );
    assert!(matches!(err, SoapError::Redirect { status: 307, .. }));
    assert!(!err.is_retryable());
    assert_eq!(server.seen().len(), 1);
    assert!(elsewhere.seen().is_empty(), "the envelope was re-sent");
    assert!(!err.to_string().contains(PASSWORD));
}

#[tokio::test]
async fn a_physically_impossible_number_is_refused_for_its_point_only() {
    let good = String::from_utf8(write_response(&Response::GetLoad {
        outcome: Outcome::success(),
        report: samples::load_report(),
    }))
    .expect("UTF-8");
    let limit = good
        .find(">3.5<")
        .expect("the sample's allowedLoad of 3.5 kW");
    for (bad, shown) in [
        ("NaN", "NaN"),
        ("INF", "inf"),
        ("-INF", "-inf"),
        ("-2.5", "-2.5"),
        ("1e308", "1e308"),
    ] {
        let body = format!("{}>{bad}<{}", &good[..limit], &good[limit + 5..]);
        let server = serve(move |_| Reply::ok(body.clone().into_bytes())).await;
        let report = client(&server.url)
            .get_load(&cp_actors::LoadQuery::Station(sid("1:33923")))
            .await
            .expect("the rest of the answer stands");
        let mut expected = samples::load_report();
        // Port 2's allowedLoad is left out (0, "none") and refused, naming what was sent.
        expected.stations[0].ports[1].allowed_load = 0.0;
        expected.stations[0].refused = vec![RefusedValue {
            element: "allowedLoad".into(),
            port: Some(PortNumber(2)),
            reason: format!("<allowedLoad> is {shown}, outside its physical range 0..=1000 kW"),
        }];
        assert_eq!(report, expected, "{bad}");
    }
}
