//! The metric families kept by the prometheus crate (API calls by account, the fleet-wide
//! distributions, writes by account): every name, help text, label set and bucket layout, and
//! their registration in one registry. The families labelled by station are in
//! `station_series`.
//!
//! Dashboards (`dashboards/`), alert rules and the Prometheus tests depend on these names and
//! labels exactly as written here.
//!
//! Series per station are few on purpose (issue 12: at most 16 for a 2-port station, its share
//! of the fleet-wide series included): distributions (scrape durations, data ages) are
//! fleet-wide histograms, writes are counted per account, and a series whose value would only
//! say "nothing here" (a cap while the port is not shed, a method that is not refused, a
//! status the port is not in) does not exist. The test
//! `a_shed_two_port_station_costs_at_most_16_series` holds the count.

use prometheus::{GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

use super::station_series::StationSeries;

/// SOAP call and scrape durations: 10 ms (a loopback simulator) to 60 s (the longest call
/// deadline a gateway allows, retries included).
const DURATION_BUCKETS: &[f64] = &[
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// Rate-limiter waits: most are zero or a few milliseconds; a throttled account waits seconds.
const RATE_LIMIT_WAIT_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// Data ages: a getLoad kept 30 s (the shipped registry's load currency) to getStations kept a
/// day (its points' currency), with room above for data that stopped coming.
const DATA_AGE_BUCKETS: &[f64] = &[
    1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 21600.0, 86400.0, 172800.0,
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
    pub(super) plan_refused: GaugeVec,
    pub(super) in_flight: GaugeVec,
    pub(super) batch_stations: HistogramVec,
    pub(super) queued_requests: GaugeVec,
    pub(super) overload_rejections: IntCounterVec,
    // Fleet health: fleet-wide distributions, writes by account, the rest by station.
    pub(super) scrape_duration: Histogram,
    pub(super) data_age: HistogramVec,
    pub(super) writes: IntCounterVec,
    pub(super) refused_values: IntCounterVec,
    /// Every series labelled by station (and port): fleet health and telemetry.
    pub(super) stations: StationSeries,
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
            plan_refused: gauge(
                r,
                "cp_plan_refused",
                "1 while the account's plan refusal of the method stands: the gateway does not \
                 ask the method again for an hour after a refusal. Created at the first refusal.",
                &["account", "method"],
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
            scrape_duration: plain_histogram(
                r,
                "cp_station_scrape_duration_seconds",
                "Duration of one scrape of a station (all points), over the whole fleet.",
                DURATION_BUCKETS,
            )?,
            data_age: histogram(
                r,
                "cp_data_age_seconds",
                "Age of a method's data each time a station publishes, over the whole fleet \
                 (one observation per station, method and publish).",
                &["method"],
                DATA_AGE_BUCKETS,
            )?,
            writes: counter(
                r,
                "cp_writes_total",
                "Point writes of the account's stations, by attribute and final outcome \
                 (confirmed, stored, failed, superseded), counted when they settle.",
                &["account", "attribute", "outcome"],
            )?,
            refused_values: counter(
                r,
                "cp_refused_values_total",
                "Numbers from the service that cannot be true (NaN, infinite, negative power, \
                 more than the largest charger), by method and element; the point reading one \
                 has no value while it stands (the log names the station, once).",
                &["method", "element"],
            )?,
            stations: StationSeries::default(),
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

fn plain_histogram(
    r: &Registry,
    name: &str,
    help: &str,
    buckets: &[f64],
) -> prometheus::Result<Histogram> {
    let histogram = Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets.to_vec()))?;
    r.register(Box::new(histogram.clone()))?;
    Ok(histogram)
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
