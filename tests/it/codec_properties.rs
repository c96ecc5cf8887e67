//! Codec round trips over generated content: any text survives escaping, any finite number its
//! decimal form, any time its xsd:dateTime form.

use chargepoint_supervisor::soap::{
    read_request, read_response, write_request, write_response, Outcome, Request, Response,
};
use chrono::{DateTime, TimeZone, Utc};
use cp_actors::{PortShed, ShedLimit, ShedRequest, ShedScope};
use cp_registry::{
    ApiMethod, LoadReport, PortLoad, PortNumber, PortStatus, PortStatusWord, StationLoad,
    StationStatus,
};
use proptest::prelude::*;

use crate::util::samples::{sid, token};

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
        // Within the readers' physical range (src/soap/ops/wire.rs): beyond it is refused.
        0f64..=1e3,
        0f64..=1e3,
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
        proptest::option::of(0f64..=1e4),
        proptest::collection::vec(port_load(), 0..4),
    )
        .prop_map(|(id, name, load, ports)| StationLoad {
            station_id: sid(&id),
            station_name: name.clone(),
            address: name,
            station_load: load,
            ports,
            refused: Vec::new(),
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
            (0f64..=ShedLimit::MAX_ALLOWED_LOAD_KW).prop_map(ShedLimit::AllowedLoad),
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
