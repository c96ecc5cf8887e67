//! Recording the stations' events: fleet health (up, scrapes, data age, restarts, refused
//! methods, writes, alarms) and telemetry (load, shed, status, session energy), labelled by
//! station and port except the fleet-wide distributions and the writes, which are counted per
//! account; forgetting a station that left; and [`StationObserver`] for [`Metrics`].

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use cp_registry::{
    AccountId, ApiMethod, ChargingSession, PortStatusWord, StationId, StationLoad, StationStatus,
};

use super::Metrics;
use crate::error::FailureKind;
use crate::observe::{DataAge, StationObserver};
use crate::outcome::WriteOutcome;

/// Watts per kilowatt: ChargePoint reports kW, Prometheus wants base units.
const WATTS_PER_KILOWATT: f64 = 1_000.0;

/// Joules per kilowatt-hour.
const JOULES_PER_KILOWATT_HOUR: f64 = 3_600_000.0;

/// The `outcome` label values of `cp_writes_total`, one per [`WriteOutcome`] variant but
/// `refused`.
/// A plan refusal counts as `failed`: the write did not take effect, as for any failed call.
/// A superseded write counts as itself: it was not sent, or its outcome gave way to a later
/// write's, which is counted.
const WRITE_OUTCOMES: [&str; 5] = ["confirmed", "pending", "failed", "stored", "superseded"];

/// The `outcome` label value of a write's outcome.
fn write_outcome_label(outcome: &WriteOutcome) -> &'static str {
    match outcome {
        WriteOutcome::Confirmed => WRITE_OUTCOMES[0],
        WriteOutcome::Pending => WRITE_OUTCOMES[1],
        WriteOutcome::Failed { .. } | WriteOutcome::Refused { .. } => WRITE_OUTCOMES[2],
        WriteOutcome::Stored => WRITE_OUTCOMES[3],
        WriteOutcome::Superseded { .. } => WRITE_OUTCOMES[4],
    }
}

impl Metrics {
    // --- Fleet health (station actors, fleet supervisor) ---

    /// Starts a new station's restart counter at zero, and its account's write counters for
    /// every outcome of each writable attribute (e.g. `["shedState", "allowedLoad",
    /// "percentShed", "clearAlarms"]`) unless a station of the account did already, so the first
    /// restart or failed write shows in `increase()` and fires `CpWriteFailures`.
    pub(crate) fn add_station(
        &self,
        station: &StationId,
        account: &str,
        writable_attributes: &[&str],
    ) {
        let f = &self.families;
        f.stations.update(station, |row| {
            row.restarts.get_or_insert(0);
        });
        for attribute in writable_attributes {
            for outcome in WRITE_OUTCOMES {
                f.writes
                    .with_label_values(&[account, attribute, outcome])
                    .inc_by(0);
            }
        }
    }

    /// Whether the station's API calls currently succeed; the series also names its account,
    /// for dashboards that join a station to its account's series.
    pub(crate) fn set_station_up(&self, station: &StationId, account: &str, up: bool) {
        self.families.stations.update(station, |row| {
            if row.account.as_deref() != Some(account) {
                row.account = Some(Arc::from(account));
            }
            row.up = Some(up);
        });
    }

    /// A scrape of the station finished at `finished_at` after `elapsed`.
    pub(crate) fn record_scrape(
        &self,
        station: &StationId,
        elapsed: Duration,
        finished_at: DateTime<Utc>,
    ) {
        let f = &self.families;
        f.scrape_duration.observe(elapsed.as_secs_f64());
        f.stations.update(station, |row| {
            row.last_scrape = Some(unix_seconds(finished_at));
        });
    }

    /// The ages of the station's data at a scrape: each goes into its method's fleet-wide
    /// histogram, and the station keeps how far its stalest data is past its period.
    pub(crate) fn record_data_ages(&self, station: &StationId, ages: &[DataAge]) {
        let f = &self.families;
        let mut overdue = Duration::ZERO;
        for age in ages {
            f.data_age
                .with_label_values(&[age.method.name()])
                .observe(age.age.as_secs_f64());
            overdue = overdue.max(age.overdue());
        }
        f.stations.update(station, |row| {
            row.overdue = Some(overdue.as_secs_f64());
        });
    }

    /// The fleet supervisor restarted the station's actor.
    pub(crate) fn record_station_restart(&self, station: &StationId) {
        self.families.stations.update(station, |row| {
            *row.restarts.get_or_insert(0) += 1;
        });
    }

    /// Whether the account's plan refuses `method` for the station (a plan-rights answer sets
    /// it; a later success removes it: a granted method has no series).
    pub(crate) fn set_method_refused(&self, station: &StationId, method: ApiMethod, refused: bool) {
        self.families.stations.update(station, |row| {
            if refused {
                row.refused.insert(method);
            } else {
                row.refused.remove(&method);
            }
        });
    }

    /// Whether `method` fails for the station, and how: one series while it does, labelled
    /// with the kind; none once it answers again.
    pub(crate) fn set_method_failing(
        &self,
        station: &StationId,
        method: ApiMethod,
        kind: Option<FailureKind>,
    ) {
        self.families.stations.update(station, |row| match kind {
            Some(kind) => drop(row.failing.insert(method, kind)),
            None => drop(row.failing.remove(&method)),
        });
    }

    /// A write of `attribute` (the registry attribute, e.g. `allowedLoad`) by one of the
    /// account's stations ended with `outcome`.
    pub(crate) fn record_write(&self, account: &str, attribute: &str, outcome: &WriteOutcome) {
        self.families
            .writes
            .with_label_values(&[account, attribute, write_outcome_label(outcome)])
            .inc();
    }

    /// The number of alarms getAlarms reports for the station.
    pub(crate) fn set_active_alarms(&self, station: &StationId, alarms: usize) {
        self.families.stations.update(station, |row| {
            row.alarms = Some(alarms);
        });
    }

    // --- Telemetry (the registry's numeric points) ---

    /// One station's entry of a getLoad answer: every port's load, and while a port is shed its
    /// cap and shed fraction (removed when the shed ends). The whole-station load is not kept:
    /// it is the sum of the ports'.
    pub(crate) fn record_station_load(&self, load: &StationLoad) {
        self.families.stations.update(&load.station_id, |row| {
            for port in &load.ports {
                // An impossible number has no series: it is not data.
                let refused = |element: &str| {
                    load.refused
                        .iter()
                        .any(|r| r.element == element && r.port == Some(port.port))
                };
                let shed = |element: &str, value: f64| {
                    (port.shed_state && !refused(element)).then_some(value)
                };
                let series = row.port(port.port);
                series.load = (!refused("portLoad")).then_some(port.port_load * WATTS_PER_KILOWATT);
                series.allowed_load = shed("allowedLoad", port.allowed_load * WATTS_PER_KILOWATT);
                series.shed_ratio = shed("percentShed", f64::from(port.percent_shed) / 100.0);
            }
        });
    }

    /// One station's entry of a getStationStatus answer: each port's series of its current
    /// status (the previous status's series goes).
    pub(crate) fn record_station_status(&self, status: &StationStatus) {
        self.families.stations.update(&status.station_id, |row| {
            for port in &status.ports {
                row.port(port.port).status = Some(port_status_label(&port.status));
            }
        });
    }

    /// The latest charging session of a port; sessions without a port number are ignored.
    pub(crate) fn record_session(&self, session: &ChargingSession) {
        if session.refused.iter().any(|r| r.element == "Energy") {
            return;
        }
        if let Some(port) = session.port {
            self.families.stations.update(&session.station_id, |row| {
                row.port(port).session_energy = Some(session.energy * JOULES_PER_KILOWATT_HOUR);
            });
        }
    }

    /// Removes every series of a station that left the fleet, so dashboards stop showing it.
    /// Account-level series are kept: other stations of the account still use them.
    pub(crate) fn forget_station(&self, station: &StationId) {
        self.families.stations.forget(station);
    }
}

/// The `status` label of a port's status: ChargePoint's word, or `OTHER` for any word this
/// version does not know (kept out of the label so an odd reply cannot grow the series).
fn port_status_label(status: &PortStatusWord) -> &'static str {
    status.known_word().unwrap_or("OTHER")
}

fn unix_seconds(at: DateTime<Utc>) -> f64 {
    at.timestamp_millis() as f64 / 1_000.0
}

/// The stations' and supervisor's hook: fleet health and telemetry.
impl StationObserver for Metrics {
    fn station_started(&self, station: &StationId, account: &AccountId, writable: &[&str]) {
        self.add_station(station, &account.0, writable);
    }

    fn station_removed(&self, station: &StationId) {
        self.forget_station(station);
    }

    fn station_restarted(&self, station: &StationId) {
        self.record_station_restart(station);
    }

    fn station_up(&self, station: &StationId, account: &AccountId, up: bool) {
        self.set_station_up(station, &account.0, up);
    }

    fn scrape_finished(&self, station: &StationId, elapsed: Duration, at: DateTime<Utc>) {
        self.record_scrape(station, elapsed, at);
    }

    fn data_ages(&self, station: &StationId, ages: &[DataAge]) {
        self.record_data_ages(station, ages);
    }

    fn method_refused(&self, station: &StationId, op: ApiMethod, refused: bool) {
        self.set_method_refused(station, op, refused);
    }

    fn value_refused(&self, _station: &StationId, op: ApiMethod, element: &str) {
        self.families
            .refused_values
            .with_label_values(&[op.name(), element])
            .inc();
    }

    fn method_failing(&self, station: &StationId, op: ApiMethod, kind: Option<FailureKind>) {
        self.set_method_failing(station, op, kind);
    }

    fn write_finished(
        &self,
        _station: &StationId,
        account: &AccountId,
        attribute: &str,
        outcome: &WriteOutcome,
    ) {
        self.record_write(&account.0, attribute, outcome);
    }

    fn alarms_active(&self, station: &StationId, alarms: usize) {
        self.set_active_alarms(station, alarms);
    }

    fn load_observed(&self, load: &StationLoad) {
        self.record_station_load(load);
    }

    fn status_observed(&self, status: &StationStatus) {
        self.record_station_status(status);
    }

    fn session_observed(&self, session: &ChargingSession) {
        self.record_session(session);
    }
}
