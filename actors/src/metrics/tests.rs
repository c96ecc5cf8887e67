//! The families as Prometheus renders them: names, labels, units, zero starts, series that
//! exist only while they say something, forgetting a station, the series a station costs, and
//! `promtool check metrics` on the whole output.

use std::io::Write;
use std::process::{Command, Stdio};

use cp_registry::{PortLoad, PortStatus};

use std::time::Duration;

use chrono::{TimeZone, Utc};
use cp_registry::{
    AccountId, ApiMethod, ChargingSession, PortNumber, PortStatusWord, StationId, StationLoad,
    StationStatus,
};

use super::Metrics;
use crate::error::{ErrorKind, FailureKind};
use crate::observe::{CallObserver, DataAge, StationObserver};
use crate::outcome::WriteOutcome;

fn station(id: &str) -> StationId {
    StationId::new(id)
}

fn port_load(port: u16, kw: f64, allowed_kw: f64, percent: u8) -> PortLoad {
    PortLoad {
        port: PortNumber(port),
        user_id: None,
        credential_id: None,
        shed_state: allowed_kw > 0.0 || percent > 0,
        port_load: kw,
        allowed_load: allowed_kw,
        percent_shed: percent,
    }
}

fn station_load(id: &str, ports: Vec<PortLoad>) -> StationLoad {
    StationLoad {
        station_id: station(id),
        station_name: None,
        address: None,
        station_load: Some(ports.iter().map(|p| p.port_load).sum()),
        ports,
        refused: Vec::new(),
    }
}

fn station_status(id: &str, statuses: &[PortStatusWord]) -> StationStatus {
    StationStatus {
        station_id: station(id),
        ports: statuses
            .iter()
            .enumerate()
            .map(|(i, status)| PortStatus {
                port: PortNumber(i as u16 + 1),
                status: status.clone(),
                timestamp: Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap(),
                connector: None,
                power: None,
            })
            .collect(),
    }
}

fn session(id: &str, port: u16, kwh: f64) -> ChargingSession {
    ChargingSession {
        station_id: station(id),
        station_name: None,
        port: Some(PortNumber(port)),
        address: None,
        city: None,
        state: None,
        country: None,
        postal_code: None,
        session_id: 8_812_345,
        energy: kwh,
        start_time: Utc.with_ymd_and_hms(2026, 11, 25, 9, 0, 0).unwrap(),
        end_time: None,
        user_id: Some("driver-77".into()),
        record_number: None,
        credential_id: None,
        refused: Vec::new(),
    }
}

/// One call attempt of account `acme` that took `millis`.
fn acme_call(m: &Metrics, method: ApiMethod, millis: u64, outcome: Result<(), ErrorKind>) {
    m.record_call("acme", method, Duration::from_millis(millis), outcome);
}

fn data_age(method: ApiMethod, age_secs: u64, period_secs: u64) -> DataAge {
    DataAge {
        method,
        age: Duration::from_secs(age_secs),
        period: Duration::from_secs(period_secs),
    }
}

/// Records at least one series in every family, as a running supervisor would.
fn populate_every_family(m: &Metrics) {
    let s1 = station("1:34003");
    acme_call(m, ApiMethod::GetLoad, 40, Ok(()));
    acme_call(
        m,
        ApiMethod::GetChargingSessionData,
        30,
        Err(ErrorKind::PlanRights),
    );
    m.record_retry("acme", ApiMethod::GetLoad);
    m.record_rate_limit_wait("acme", Duration::from_millis(5));
    m.set_calls_in_flight("acme", 1);
    m.record_batch("acme", ApiMethod::GetStationStatus, 12);
    m.set_queue_depth("acme", 3);
    m.record_overload_rejection("acme");
    m.set_station_up(&s1, "acme", true);
    let finished = Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 5).unwrap();
    m.record_scrape(&s1, Duration::from_millis(250), finished);
    m.record_data_ages(&s1, &[data_age(ApiMethod::GetLoad, 4, 30)]);
    m.record_station_restart(&s1);
    m.set_method_refused(&s1, ApiMethod::GetChargingSessionData, true);
    m.set_method_failing(&s1, ApiMethod::GetAlarms, Some(FailureKind::Late));
    StationObserver::value_refused(m, &s1, ApiMethod::GetLoad, "portLoad");
    m.record_write("acme", "allowedLoad", &WriteOutcome::Confirmed);
    m.set_active_alarms(&s1, 2);
    m.record_station_load(&station_load("1:34003", vec![port_load(1, 6.6, 3.3, 0)]));
    m.record_station_status(&station_status("1:34003", &[PortStatusWord::InUse]));
    m.record_session(&session("1:34003", 1, 12.5));
}

fn family_names(text: &str) -> Vec<&str> {
    text.lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.split(' ').next())
        .collect()
}

#[test]
fn call_outcomes_are_counted_by_kind_and_plan_rights_separately() {
    let m = Metrics::new().unwrap();
    acme_call(&m, ApiMethod::GetLoad, 40, Ok(()));
    acme_call(&m, ApiMethod::GetLoad, 3000, Err(ErrorKind::Timeout));
    acme_call(&m, ApiMethod::GetAlarms, 20, Err(ErrorKind::PlanRights));
    let text = m.render();
    for line in [
        r#"cp_soap_requests_total{account="acme",method="getLoad",outcome="ok"} 1"#,
        r#"cp_soap_requests_total{account="acme",method="getLoad",outcome="timeout"} 1"#,
        r#"cp_soap_errors_total{account="acme",kind="timeout",method="getLoad"} 1"#,
        r#"cp_soap_errors_total{account="acme",kind="plan_rights",method="getAlarms"} 1"#,
        r#"cp_plan_rights_errors_total{account="acme",method="getAlarms"} 1"#,
        r#"cp_soap_request_duration_seconds_bucket{account="acme",method="getLoad",le="0.05"} 1"#,
        r#"cp_soap_request_duration_seconds_bucket{account="acme",method="getLoad",le="5"} 2"#,
        r#"cp_soap_request_duration_seconds_count{account="acme",method="getLoad"} 2"#,
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line} in:\n{text}"
        );
    }
    assert!(!text.contains(r#"cp_plan_rights_errors_total{account="acme",method="getLoad"}"#));
}

#[test]
fn station_load_is_exported_in_base_units_and_shed_as_ratio() {
    let m = Metrics::new().unwrap();
    m.record_station_load(&station_load(
        "1:34003",
        vec![port_load(1, 6.6, 3.3, 0), port_load(2, 0.0, 0.0, 40)],
    ));
    m.record_session(&session("1:34003", 2, 12.5));
    let text = m.render();
    for line in [
        r#"cp_port_load_watts{port="1",station="1:34003"} 6600"#,
        r#"cp_port_allowed_load_watts{port="1",station="1:34003"} 3300"#,
        r#"cp_port_shed_ratio{port="1",station="1:34003"} 0"#,
        r#"cp_port_allowed_load_watts{port="2",station="1:34003"} 0"#,
        r#"cp_port_shed_ratio{port="2",station="1:34003"} 0.4"#,
        r#"cp_port_session_energy_joules{port="2",station="1:34003"} 45000000"#,
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line} in:\n{text}"
        );
    }
    assert!(
        !text.contains("8812345"),
        "a session ID became a label:\n{text}"
    );
    assert!(
        !text.contains("driver-77"),
        "a user ID became a label:\n{text}"
    );
}

#[test]
fn a_ports_cap_and_shed_fraction_exist_only_while_it_is_shed() {
    let m = Metrics::new().unwrap();
    let unshed = |m: &Metrics| {
        m.record_station_load(&station_load(
            "1:34003",
            vec![port_load(1, 6.6, 0.0, 0), port_load(2, 1.0, 0.0, 0)],
        ));
    };
    unshed(&m);
    let shed_series = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| {
                l.starts_with("cp_port_allowed_load_watts{") || l.starts_with("cp_port_shed_ratio{")
            })
            .map(str::to_string)
            .collect()
    };
    assert_eq!(shed_series(&m.render()), Vec::<String>::new());
    m.record_station_load(&station_load(
        "1:34003",
        vec![port_load(1, 3.3, 3.3, 0), port_load(2, 1.0, 0.0, 0)],
    ));
    assert_eq!(
        shed_series(&m.render()),
        [
            r#"cp_port_allowed_load_watts{port="1",station="1:34003"} 3300"#,
            r#"cp_port_shed_ratio{port="1",station="1:34003"} 0"#,
        ]
    );
    unshed(&m);
    assert_eq!(shed_series(&m.render()), Vec::<String>::new());
}

#[test]
fn port_status_has_the_current_status_only() {
    let m = Metrics::new().unwrap();
    m.record_station_status(&station_status(
        "1:34003",
        &[PortStatusWord::InUse, PortStatusWord::Available],
    ));
    m.record_station_status(&station_status(
        "1:34003",
        &[
            PortStatusWord::Other("MAINTENANCE".into()),
            PortStatusWord::Available,
        ],
    ));
    let text = m.render();
    let statuses: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("cp_port_status{"))
        .collect();
    assert_eq!(
        statuses,
        [
            r#"cp_port_status{port="1",station="1:34003",status="OTHER"} 1"#,
            r#"cp_port_status{port="2",station="1:34003",status="AVAILABLE"} 1"#,
        ]
    );
}

#[test]
fn a_method_refused_has_a_series_only_while_refused() {
    let m = Metrics::new().unwrap();
    let s = station("2:20001");
    m.set_method_refused(&s, ApiMethod::GetStationStatus, false);
    m.set_method_refused(&s, ApiMethod::GetLoad, true);
    let refused = |m: &Metrics| -> Vec<String> {
        m.render()
            .lines()
            .filter(|l| l.starts_with("cp_station_method_refused{"))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(
        refused(&m),
        [r#"cp_station_method_refused{method="getLoad",station="2:20001"} 1"#]
    );
    m.set_method_refused(&s, ApiMethod::GetLoad, false);
    assert_eq!(refused(&m), Vec::<String>::new());
}

#[test]
fn a_failing_method_has_one_series_with_its_kind_only_while_failing() {
    let m = Metrics::new().unwrap();
    let s = station("2:20001");
    let failing = |m: &Metrics| -> Vec<String> {
        m.render()
            .lines()
            .filter(|l| l.starts_with("cp_station_method_failing{"))
            .map(str::to_string)
            .collect()
    };
    m.set_method_failing(&s, ApiMethod::GetLoad, Some(FailureKind::Late));
    m.set_method_failing(
        &station("2:20002"),
        ApiMethod::GetLoad,
        Some(FailureKind::Late),
    );
    m.set_method_failing(
        &s,
        ApiMethod::GetLoad,
        Some(FailureKind::Call(ErrorKind::HttpStatus)),
    );
    assert_eq!(
        failing(&m),
        [
            r#"cp_station_method_failing{kind="http_status",method="getLoad",station="2:20001"} 1"#,
            r#"cp_station_method_failing{kind="late",method="getLoad",station="2:20002"} 1"#,
        ]
    );
    m.set_method_failing(&s, ApiMethod::GetLoad, None);
    assert_eq!(
        failing(&m),
        [r#"cp_station_method_failing{kind="late",method="getLoad",station="2:20002"} 1"#]
    );
}

#[test]
fn an_impossible_number_has_no_series_and_is_counted() {
    let m = Metrics::new().unwrap();
    let mut load = station_load(
        "1:34003",
        vec![port_load(1, 6.6, 3.3, 0), port_load(2, 1.0, 0.0, 0)],
    );
    load.refused = vec![cp_registry::RefusedValue {
        element: "portLoad".into(),
        port: Some(PortNumber(1)),
        reason: "<portLoad> is NaN, outside its physical range 0..=1000 kW".into(),
    }];
    m.record_station_load(&load);
    StationObserver::value_refused(&m, &station("1:34003"), ApiMethod::GetLoad, "portLoad");
    let text = m.render();
    assert!(!text.contains(r#"cp_port_load_watts{port="1""#), "{text}");
    assert!(
        text.contains(r#"cp_port_load_watts{port="2",station="1:34003"} 1000"#),
        "{text}"
    );
    assert!(text.contains(r#"cp_refused_values_total{element="portLoad",method="getLoad"} 1"#));
}

#[test]
fn the_gateway_observer_starts_an_accounts_counters_at_zero_on_its_first_call() {
    let m = Metrics::new().unwrap();
    let account = AccountId("acme".into());
    CallObserver::call_finished(
        &m,
        &account,
        ApiMethod::GetLoad,
        Duration::from_millis(40),
        Ok(()),
    );
    CallObserver::call_finished(
        &m,
        &account,
        ApiMethod::GetLoad,
        Duration::from_millis(40),
        Err(ErrorKind::PlanRights),
    );
    let text = m.render();
    for line in [
        r#"cp_gateway_overload_rejections_total{account="acme"} 0"#,
        r#"cp_soap_retries_total{account="acme",method="shedLoad"} 0"#,
        r#"cp_plan_rights_errors_total{account="acme",method="getLoad"} 1"#,
        r#"cp_soap_requests_total{account="acme",method="getLoad",outcome="ok"} 1"#,
    ] {
        assert!(text.contains(line), "missing `{line}` in:\n{text}");
    }
}

#[test]
fn the_gateway_observer_sets_calls_in_flight_and_counts_writes_by_outcome() {
    let m = Metrics::new().unwrap();
    let account = AccountId("acme".into());
    CallObserver::calls_in_flight(&m, &account, 2);
    assert!(m
        .render()
        .contains(r#"cp_soap_requests_in_flight{account="acme"} 2"#));
    let s1 = station("1:34003");
    let failed = WriteOutcome::Failed {
        reason: "getLoad: HTTP status 503".into(),
    };
    StationObserver::write_finished(&m, &s1, &account, "shedState", &failed);
    let text = m.render();
    assert!(
        text.contains(
            r#"cp_writes_total{account="acme",attribute="shedState",outcome="failed"} 1"#
        ),
        "{text}"
    );
    // Writes are counted per account: the station is no label of theirs.
    assert!(!text.contains("1:34003"));
    // The failure's text never becomes a label.
    assert!(!text.contains("503"));
}

#[test]
fn scrape_sets_the_last_scrape_timestamp_and_fleet_wide_distributions() {
    let m = Metrics::new().unwrap();
    let s = station("1:34003");
    let finished = Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 5).unwrap();
    m.record_scrape(&s, Duration::from_millis(250), finished);
    m.record_data_ages(
        &s,
        &[
            data_age(ApiMethod::GetLoad, 4, 30),
            data_age(ApiMethod::GetAlarms, 200, 300),
        ],
    );
    let text = m.render();
    for line in [
        r#"cp_station_last_scrape_timestamp_seconds{station="1:34003"} 1795608005"#,
        r#"cp_station_scrape_duration_seconds_bucket{le="0.25"} 1"#,
        r#"cp_data_age_seconds_bucket{method="getLoad",le="5"} 1"#,
        r#"cp_data_age_seconds_bucket{method="getAlarms",le="300"} 1"#,
        r#"cp_data_age_seconds_sum{method="getAlarms"} 200"#,
        r#"cp_station_data_overdue_seconds{station="1:34003"} 0"#,
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line} in:\n{text}"
        );
    }
}

#[test]
fn a_stations_overdue_time_is_its_stalest_methods_age_past_its_period() {
    let m = Metrics::new().unwrap();
    let s = station("1:34003");
    m.record_data_ages(
        &s,
        &[
            // getStations is a day old, and allowed two.
            data_age(ApiMethod::GetStations, 86_400, 172_800),
            data_age(ApiMethod::GetLoad, 95, 30),
            data_age(ApiMethod::GetAlarms, 400, 300),
        ],
    );
    assert!(m
        .render()
        .lines()
        .any(|l| l == r#"cp_station_data_overdue_seconds{station="1:34003"} 100"#));
}

#[test]
fn forgetting_a_station_removes_its_series_and_keeps_the_others() {
    let m = Metrics::new().unwrap();
    populate_every_family(&m);
    let other = station("1:50001");
    m.set_station_up(&other, "acme", false);
    m.record_station_load(&station_load("1:50001", vec![port_load(1, 1.0, 0.0, 0)]));
    m.forget_station(&station("1:34003"));
    let text = m.render();
    assert!(
        !text.contains("1:34003"),
        "series left for the removed station:\n{text}"
    );
    assert!(text.contains(r#"cp_station_up{account="acme",station="1:50001"} 0"#));
    assert!(text.contains(r#"cp_port_load_watts{port="1",station="1:50001"} 1000"#));
    assert!(
        text.contains(r#"cp_soap_requests_total{account="acme",method="getLoad",outcome="ok"} 1"#)
    );
    assert!(text.contains(
        r#"cp_writes_total{account="acme",attribute="allowedLoad",outcome="confirmed"} 1"#
    ));
}

#[test]
fn added_accounts_and_stations_start_their_counters_at_zero() {
    let m = Metrics::new().unwrap();
    m.add_account("acme");
    m.add_station(&station("1:34003"), "acme", &["shedState", "allowedLoad"]);
    m.add_station(&station("1:34004"), "acme", &["shedState", "allowedLoad"]);
    let text = m.render();
    for line in [
        r#"cp_plan_rights_errors_total{account="acme",method="getChargingSessionData"} 0"#,
        r#"cp_soap_retries_total{account="acme",method="shedLoad"} 0"#,
        r#"cp_soap_requests_total{account="acme",method="getLoad",outcome="ok"} 0"#,
        r#"cp_gateway_overload_rejections_total{account="acme"} 0"#,
        r#"cp_station_restarts_total{station="1:34003"} 0"#,
        r#"cp_station_restarts_total{station="1:34004"} 0"#,
        r#"cp_writes_total{account="acme",attribute="allowedLoad",outcome="failed"} 0"#,
        r#"cp_writes_total{account="acme",attribute="shedState",outcome="confirmed"} 0"#,
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line} in:\n{text}"
        );
    }
    // Per account, not per station: the second station adds none.
    assert_eq!(text.matches("cp_writes_total{").count(), 10);
}

#[test]
fn clones_record_into_the_same_families() {
    let m = Metrics::new().unwrap();
    m.clone().record_retry("acme", ApiMethod::ShedLoad);
    m.record_retry("acme", ApiMethod::ShedLoad);
    assert!(m
        .render()
        .contains(r#"cp_soap_retries_total{account="acme",method="shedLoad"} 2"#));
}

#[test]
fn every_family_appears_once_populated() {
    let m = Metrics::new().unwrap();
    populate_every_family(&m);
    let text = m.render();
    let mut names = family_names(&text);
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "cp_batch_stations",
            "cp_data_age_seconds",
            "cp_gateway_overload_rejections_total",
            "cp_gateway_queued_requests",
            "cp_plan_rights_errors_total",
            "cp_port_allowed_load_watts",
            "cp_port_load_watts",
            "cp_port_session_energy_joules",
            "cp_port_shed_ratio",
            "cp_port_status",
            "cp_ratelimit_wait_seconds",
            "cp_refused_values_total",
            "cp_soap_errors_total",
            "cp_soap_request_duration_seconds",
            "cp_soap_requests_in_flight",
            "cp_soap_requests_total",
            "cp_soap_retries_total",
            "cp_station_active_alarms",
            "cp_station_data_overdue_seconds",
            "cp_station_last_scrape_timestamp_seconds",
            "cp_station_method_failing",
            "cp_station_method_refused",
            "cp_station_restarts_total",
            "cp_station_scrape_duration_seconds",
            "cp_station_up",
            "cp_writes_total",
        ]
    );
}

/// The issue-12 budget: series per 2-port station, its share of the fleet-wide series included.
const SERIES_PER_TWO_PORT_STATION: f64 = 16.0;

/// The registry's writable attributes (`registry/configs/chargepoint.csv`).
const WRITABLE: [&str; 4] = ["shedState", "allowedLoad", "percentShed", "clearAlarms"];

/// Every event an account's gateway reports in a busy minute: each method answered and timed
/// out once and retried, a throttled call, batches, a full queue.
fn account_traffic(m: &Metrics, account: &AccountId) {
    for method in ApiMethod::ALL {
        let elapsed = Duration::from_millis(120);
        CallObserver::call_finished(m, account, method, elapsed, Ok(()));
        CallObserver::call_finished(m, account, method, elapsed, Err(ErrorKind::Timeout));
        CallObserver::call_retried(m, account, method);
    }
    CallObserver::rate_limit_waited(m, account, Duration::from_millis(300));
    CallObserver::batch_sent(m, account, ApiMethod::GetStationStatus, 250);
    CallObserver::batch_sent(m, account, ApiMethod::GetLoad, 20);
    CallObserver::calls_in_flight(m, account, 3);
    CallObserver::queue_depth(m, account, 40);
    CallObserver::overloaded(m, account);
}

/// A 2-port station starts and publishes its first scrape, as its actor reports them: status,
/// load, a session per port, alarms, data ages of every method it reads.
fn station_scraped(m: &Metrics, id: &StationId, account: &AccountId) {
    StationObserver::station_started(m, id, account, &WRITABLE);
    let statuses = [PortStatusWord::InUse, PortStatusWord::Available];
    StationObserver::status_observed(m, &station_status(id.as_str(), &statuses));
    let load = station_load(
        id.as_str(),
        vec![port_load(1, 6.6, 0.0, 0), port_load(2, 0.0, 0.0, 0)],
    );
    StationObserver::load_observed(m, &load);
    for port in [1, 2] {
        StationObserver::session_observed(m, &session(id.as_str(), port, 12.5));
    }
    let ages = [
        data_age(ApiMethod::GetStations, 3_600, 86_400),
        data_age(ApiMethod::GetStationStatus, 1, 60),
        data_age(ApiMethod::GetLoad, 1, 30),
        data_age(ApiMethod::GetAlarms, 120, 300),
        data_age(ApiMethod::GetChargingSessionData, 120, 300),
        data_age(ApiMethod::GetStationRights, 600, 3_600),
    ];
    for age in &ages {
        StationObserver::method_refused(m, id, age.method, false);
    }
    StationObserver::data_ages(m, id, &ages);
    StationObserver::alarms_active(m, id, 1);
    let at = Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 5).unwrap();
    StationObserver::scrape_finished(m, id, Duration::from_millis(800), at);
    StationObserver::station_up(m, id, account, true);
}

#[test]
fn a_shed_two_port_station_costs_at_most_16_series() {
    // The fleet benchmark's smaller fleet: 1,000 stations of 2 ports on 4 accounts.
    const STATIONS: usize = 1_000;
    let m = Metrics::new().unwrap();
    let accounts: Vec<AccountId> = (1..=4).map(|a| AccountId(format!("account{a}"))).collect();
    for account in &accounts {
        account_traffic(&m, account);
    }
    for i in 0..STATIONS {
        let id = station(&format!("1:{}", 10_000 + i));
        station_scraped(&m, &id, &accounts[i % accounts.len()]);
    }
    // The station under test: scraped, then a limit written, a shed confirmed, and a port that
    // changed status.
    let id = station("1:10000");
    let account = &accounts[0];
    StationObserver::write_finished(&m, &id, account, "allowedLoad", &WriteOutcome::Stored);
    StationObserver::write_finished(&m, &id, account, "shedState", &WriteOutcome::Confirmed);
    let shed = station_load(
        id.as_str(),
        vec![port_load(1, 3.3, 3.3, 0), port_load(2, 0.0, 0.0, 0)],
    );
    StationObserver::load_observed(&m, &shed);
    let statuses = [PortStatusWord::Available, PortStatusWord::InUse];
    StationObserver::status_observed(&m, &station_status(id.as_str(), &statuses));

    let text = m.render();
    let series: Vec<&str> = text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let own: Vec<&str> = series
        .iter()
        .copied()
        .filter(|l| l.contains(r#"station="1:10000""#))
        .collect();
    let fleet_wide = series.iter().filter(|l| !l.contains("station=")).count();
    let share = fleet_wide as f64 / STATIONS as f64;
    let cost = own.len() as f64 + share;
    assert!(
        cost <= SERIES_PER_TWO_PORT_STATION,
        "{cost:.2} series: its own {} and {share:.2} of {fleet_wide} fleet-wide:\n{}",
        own.len(),
        own.join("\n")
    );
    // Whatever the fleet's mix, no station of it exceeds the budget either.
    assert!(series.len() as f64 / STATIONS as f64 <= SERIES_PER_TWO_PORT_STATION);
}

/// promtool comes from Debian's `prometheus` package (scripts/prometheus-test-env.sh).
#[test]
fn rendered_metrics_pass_promtool_check_metrics() {
    let m = Metrics::new().unwrap();
    populate_every_family(&m);
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!(
                "SKIPPED rendered_metrics_pass_promtool_check_metrics: promtool not found \
                 (run scripts/prometheus-test-env.sh)"
            );
            return;
        }
        Err(e) => panic!("cannot start promtool: {e}"),
    };
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(m.render().as_bytes()).unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(report, "", "promtool check metrics complained");
    assert!(out.status.success(), "promtool exited with {}", out.status);
}
