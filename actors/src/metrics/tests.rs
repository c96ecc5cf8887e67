//! The families as Prometheus renders them: names, labels, units, zero starts, forgetting a
//! station, and `promtool check metrics` on the whole output.

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
use crate::error::ErrorKind;
use crate::observe::{CallObserver, StationObserver};
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
    }
}

/// One call attempt of account `acme` that took `millis`.
fn acme_call(m: &Metrics, method: ApiMethod, millis: u64, outcome: Result<(), ErrorKind>) {
    m.record_call("acme", method, Duration::from_millis(millis), outcome);
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
    m.set_station_up(&s1, true);
    let finished = Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 5).unwrap();
    m.record_scrape(&s1, Duration::from_millis(250), finished);
    m.set_data_age(&s1, ApiMethod::GetLoad, Duration::from_secs(4));
    m.record_station_restart(&s1);
    m.set_method_refused(&s1, ApiMethod::GetChargingSessionData, true);
    m.record_write(&s1, "allowedLoad", &WriteOutcome::Confirmed);
    m.set_sheds_active(&s1, 1);
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
        r#"cp_station_load_watts{station="1:34003"} 6600"#,
        r#"cp_port_load_watts{port="1",station="1:34003"} 6600"#,
        r#"cp_port_allowed_load_watts{port="1",station="1:34003"} 3300"#,
        r#"cp_port_shed_state{port="1",station="1:34003"} 1"#,
        r#"cp_port_shed_ratio{port="2",station="1:34003"} 0.4"#,
        r#"cp_port_shed_state{port="2",station="1:34003"} 1"#,
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
fn port_status_marks_the_current_status_and_clears_the_previous_one() {
    let m = Metrics::new().unwrap();
    m.record_station_status(&station_status("1:34003", &[PortStatusWord::InUse]));
    m.record_station_status(&station_status(
        "1:34003",
        &[PortStatusWord::Other("MAINTENANCE".into())],
    ));
    let text = m.render();
    let port1: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("cp_port_status{"))
        .collect();
    assert_eq!(
        port1,
        [
            r#"cp_port_status{port="1",station="1:34003",status="AVAILABLE"} 0"#,
            r#"cp_port_status{port="1",station="1:34003",status="INUSE"} 0"#,
            r#"cp_port_status{port="1",station="1:34003",status="OTHER"} 1"#,
            r#"cp_port_status{port="1",station="1:34003",status="UNKNOWN"} 0"#,
            r#"cp_port_status{port="1",station="1:34003",status="UNREACHABLE"} 0"#,
        ]
    );
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
    StationObserver::write_finished(&m, &s1, "shedState", &failed);
    let text = m.render();
    assert!(text.contains(
        r#"cp_writes_total{attribute="shedState",outcome="failed",station="1:34003"} 1"#
    ));
    // The failure's text never becomes a label.
    assert!(!text.contains("503"));
}

#[test]
fn scrape_sets_the_last_scrape_timestamp_and_data_age() {
    let m = Metrics::new().unwrap();
    let s = station("1:34003");
    let finished = Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 5).unwrap();
    m.record_scrape(&s, Duration::from_millis(250), finished);
    m.set_data_age(&s, ApiMethod::GetLoad, Duration::from_millis(4_500));
    let text = m.render();
    assert!(
        text.contains(r#"cp_station_last_scrape_timestamp_seconds{station="1:34003"} 1795608005"#)
    );
    assert!(text.contains(r#"cp_station_data_age_seconds{method="getLoad",station="1:34003"} 4.5"#));
    assert!(text
        .contains(r#"cp_station_scrape_duration_seconds_bucket{station="1:34003",le="0.25"} 1"#));
}

#[test]
fn forgetting_a_station_removes_its_series_and_keeps_the_others() {
    let m = Metrics::new().unwrap();
    populate_every_family(&m);
    let other = station("1:50001");
    m.set_station_up(&other, false);
    m.record_station_load(&station_load("1:50001", vec![port_load(1, 1.0, 0.0, 0)]));
    m.forget_station(&station("1:34003"));
    let text = m.render();
    assert!(
        !text.contains("1:34003"),
        "series left for the removed station:\n{text}"
    );
    assert!(text.contains(r#"cp_station_up{station="1:50001"} 0"#));
    assert!(text.contains(r#"cp_port_load_watts{port="1",station="1:50001"} 1000"#));
    assert!(
        text.contains(r#"cp_soap_requests_total{account="acme",method="getLoad",outcome="ok"} 1"#)
    );
}

#[test]
fn added_accounts_and_stations_start_their_counters_at_zero() {
    let m = Metrics::new().unwrap();
    m.add_account("acme");
    m.add_station(&station("1:34003"), &["shedState", "allowedLoad"]);
    let text = m.render();
    for line in [
        r#"cp_plan_rights_errors_total{account="acme",method="getChargingSessionData"} 0"#,
        r#"cp_soap_retries_total{account="acme",method="shedLoad"} 0"#,
        r#"cp_soap_requests_total{account="acme",method="getLoad",outcome="ok"} 0"#,
        r#"cp_gateway_overload_rejections_total{account="acme"} 0"#,
        r#"cp_station_restarts_total{station="1:34003"} 0"#,
        r#"cp_writes_total{attribute="allowedLoad",outcome="failed",station="1:34003"} 0"#,
        r#"cp_writes_total{attribute="shedState",outcome="confirmed",station="1:34003"} 0"#,
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line} in:\n{text}"
        );
    }
    assert_eq!(text.matches("cp_writes_total{").count(), 8);
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
            "cp_gateway_overload_rejections_total",
            "cp_gateway_queued_requests",
            "cp_plan_rights_errors_total",
            "cp_port_allowed_load_watts",
            "cp_port_load_watts",
            "cp_port_session_energy_joules",
            "cp_port_shed_ratio",
            "cp_port_shed_state",
            "cp_port_status",
            "cp_ratelimit_wait_seconds",
            "cp_sheds_active",
            "cp_soap_errors_total",
            "cp_soap_request_duration_seconds",
            "cp_soap_requests_in_flight",
            "cp_soap_requests_total",
            "cp_soap_retries_total",
            "cp_station_active_alarms",
            "cp_station_data_age_seconds",
            "cp_station_last_scrape_timestamp_seconds",
            "cp_station_load_watts",
            "cp_station_method_refused",
            "cp_station_restarts_total",
            "cp_station_scrape_duration_seconds",
            "cp_station_up",
            "cp_writes_total",
        ]
    );
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
