//! The metric families: every name, help text, label set and bucket layout, and their
//! registration in one registry.
//!
//! Dashboards (`dashboards/`), alert rules and the Prometheus tests depend on these names and
//! labels exactly as written here.

use prometheus::{GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

/// SOAP call and scrape durations: 10 ms (a loopback simulator) to 60 s (the longest call
/// deadline a gateway allows, retries included).
const DURATION_BUCKETS: &[f64] = &[
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// Rate-limiter waits: most are zero or a few milliseconds; a throttled account waits seconds.
const RATE_LIMIT_WAIT_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// Stations per batched call: one station up to a large fleet's page (getStationStatus pages
/// hold at most 500 stations).
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 250.0, 500.0];

/// Every family, by field; the recording methods in `calls` and `stations` fill them.
pub(super) struct Families {
    pub(super) registry: Registry,
    // API calls, by account.
    pub(super) request_duration: HistogramVec,
    pub(super) requests: IntCounterVec,
    pub(super) errors: IntCounterVec,
    pub(super) retries: IntCounterVec,
    pub(super) plan_rights_errors: IntCounterVec,
    pub(super) rate_limit_wait: HistogramVec,
    pub(super) in_flight: GaugeVec,
    pub(super) batch_stations: HistogramVec,
    pub(super) queued_requests: GaugeVec,
    pub(super) overload_rejections: IntCounterVec,
    // Fleet health, by station.
    pub(super) station_up: GaugeVec,
    pub(super) last_scrape: GaugeVec,
    pub(super) scrape_duration: HistogramVec,
    pub(super) data_age: GaugeVec,
    pub(super) restarts: IntCounterVec,
    pub(super) method_refused: GaugeVec,
    pub(super) writes: IntCounterVec,
    pub(super) sheds_active: GaugeVec,
    pub(super) active_alarms: GaugeVec,
    // Telemetry, by station and port.
    pub(super) station_load: GaugeVec,
    pub(super) port_load: GaugeVec,
    pub(super) port_allowed_load: GaugeVec,
    pub(super) port_shed_ratio: GaugeVec,
    pub(super) port_shed_state: GaugeVec,
    pub(super) port_session_energy: GaugeVec,
    pub(super) port_status: GaugeVec,
}

impl Families {
    /// Creates every family and registers it in a fresh registry.
    pub(super) fn new() -> prometheus::Result<Families> {
        let registry = Registry::new();
        let r = &registry;
        Ok(Families {
            request_duration: histogram(
                r,
                "cp_soap_request_duration_seconds",
                "Duration of one ChargePoint SOAP call attempt.",
                &["account", "method"],
                DURATION_BUCKETS,
            )?,
            requests: counter(
                r,
                "cp_soap_requests_total",
                "ChargePoint SOAP call attempts, by outcome (ok or the error kind).",
                &["account", "method", "outcome"],
            )?,
            errors: counter(
                r,
                "cp_soap_errors_total",
                "Failed ChargePoint SOAP call attempts, by error kind.",
                &["account", "method", "kind"],
            )?,
            retries: counter(
                r,
                "cp_soap_retries_total",
                "ChargePoint SOAP calls tried again after a transient failure.",
                &["account", "method"],
            )?,
            plan_rights_errors: counter(
                r,
                "cp_plan_rights_errors_total",
                "Calls refused because the account's plan does not grant the method.",
                &["account", "method"],
            )?,
            rate_limit_wait: histogram(
                r,
                "cp_ratelimit_wait_seconds",
                "Time a call waited for the account's rate limiter before it was sent.",
                &["account"],
                RATE_LIMIT_WAIT_BUCKETS,
            )?,
            in_flight: gauge(
                r,
                "cp_soap_requests_in_flight",
                "ChargePoint SOAP calls sent and not yet answered.",
                &["account"],
            )?,
            batch_stations: histogram(
                r,
                "cp_batch_stations",
                "Stations covered by one batched call (getStationStatus list, getLoad group).",
                &["account", "method"],
                BATCH_BUCKETS,
            )?,
            queued_requests: gauge(
                r,
                "cp_gateway_queued_requests",
                "Requests waiting in the account's gateway queue.",
                &["account"],
            )?,
            overload_rejections: counter(
                r,
                "cp_gateway_overload_rejections_total",
                "Requests refused because the account's gateway queue was full.",
                &["account"],
            )?,
            station_up: gauge(
                r,
                "cp_station_up",
                "1 when the station's last scrape got its data, 0 when its API calls fail.",
                &["station"],
            )?,
            last_scrape: gauge(
                r,
                "cp_station_last_scrape_timestamp_seconds",
                "Unix time the station's last scrape finished.",
                &["station"],
            )?,
            scrape_duration: histogram(
                r,
                "cp_station_scrape_duration_seconds",
                "Duration of one scrape of a station (all points).",
                &["station"],
                DURATION_BUCKETS,
            )?,
            data_age: gauge(
                r,
                "cp_station_data_age_seconds",
                "Age of the newest data from each API method when the station last scraped.",
                &["station", "method"],
            )?,
            restarts: counter(
                r,
                "cp_station_restarts_total",
                "Times the fleet supervisor restarted the station's actor.",
                &["station"],
            )?,
            method_refused: gauge(
                r,
                "cp_station_method_refused",
                "1 while the account's plan refuses the method for this station, else 0.",
                &["station", "method"],
            )?,
            writes: counter(
                r,
                "cp_writes_total",
                "Point writes, by attribute and outcome (confirmed, pending, failed).",
                &["station", "attribute", "outcome"],
            )?,
            sheds_active: gauge(
                r,
                "cp_sheds_active",
                "Ports of the station under a shed the supervisor commanded and has not cleared.",
                &["station"],
            )?,
            active_alarms: gauge(
                r,
                "cp_station_active_alarms",
                "Alarms getAlarms reports for the station and not yet cleared.",
                &["station"],
            )?,
            station_load: gauge(
                r,
                "cp_station_load_watts",
                "Whole-station load from getLoad.",
                &["station"],
            )?,
            port_load: gauge(
                r,
                "cp_port_load_watts",
                "Port load from getLoad (portLoad).",
                &["station", "port"],
            )?,
            port_allowed_load: gauge(
                r,
                "cp_port_allowed_load_watts",
                "Load cap in force while the port is shed (allowedLoad); 0 when none.",
                &["station", "port"],
            )?,
            port_shed_ratio: gauge(
                r,
                "cp_port_shed_ratio",
                "Fraction of maximum power shed while the port is shed (percentShed / 100).",
                &["station", "port"],
            )?,
            port_shed_state: gauge(
                r,
                "cp_port_shed_state",
                "1 while a shed limit is in force on the port (shedState), else 0.",
                &["station", "port"],
            )?,
            port_session_energy: gauge(
                r,
                "cp_port_session_energy_joules",
                "Energy delivered by the port's latest charging session.",
                &["station", "port"],
            )?,
            port_status: gauge(
                r,
                "cp_port_status",
                "1 for the port's current status from getStationStatus, 0 for the others.",
                &["station", "port", "status"],
            )?,
            registry,
        })
    }
}

fn counter(
    r: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> prometheus::Result<IntCounterVec> {
    let family = IntCounterVec::new(Opts::new(name, help), labels)?;
    r.register(Box::new(family.clone()))?;
    Ok(family)
}

fn gauge(r: &Registry, name: &str, help: &str, labels: &[&str]) -> prometheus::Result<GaugeVec> {
    let family = GaugeVec::new(Opts::new(name, help), labels)?;
    r.register(Box::new(family.clone()))?;
    Ok(family)
}

fn histogram(
    r: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
    buckets: &[f64],
) -> prometheus::Result<HistogramVec> {
    let opts = HistogramOpts::new(name, help).buckets(buckets.to_vec());
    let family = HistogramVec::new(opts, labels)?;
    r.register(Box::new(family.clone()))?;
    Ok(family)
}
