//! The series labelled by station (and port): each station's numbers kept as one plain row and
//! written in the text format when `/metrics` is rendered.
//!
//! The prometheus crate keeps every labelled child as its own object with its label pairs and
//! a copy of its family's description, about 5 KB for a station's dozen series, and `gather`
//! copies each into a protobuf message at every render. At 10,000 stations that was ~50 MB
//! kept and as much again for each render. A row here is a few hundred bytes, and rendering
//! writes text straight from a copy of the rows, taken under the lock so recording stations
//! never wait for the render.
//!
//! Each family's name, help, type and labels are in [`FAMILIES`]; the fleet-wide and account
//! families stay in `families.rs`. A family with no series is not written, as `gather` drops it.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, PoisonError};

use cp_registry::{ApiMethod, MethodMap, MethodSet, PortNumber, StationId};

use crate::error::FailureKind;

/// One station's series: `None` (or absent) is a series that does not exist.
#[derive(Debug, Clone, Default)]
pub(super) struct StationRow {
    /// The station's account, for `cp_station_up`'s `account` label.
    pub(super) account: Option<Arc<str>>,
    pub(super) up: Option<bool>,
    pub(super) last_scrape: Option<f64>,
    pub(super) overdue: Option<f64>,
    pub(super) restarts: Option<u64>,
    pub(super) refused: MethodSet,
    pub(super) failing: MethodMap<FailureKind>,
    pub(super) alarms: Option<usize>,
    /// By port number, each port once.
    pub(super) ports: Vec<PortRow>,
}

/// One port's series.
#[derive(Debug, Clone)]
pub(super) struct PortRow {
    pub(super) port: PortNumber,
    pub(super) load: Option<f64>,
    pub(super) allowed_load: Option<f64>,
    pub(super) shed_ratio: Option<f64>,
    pub(super) session_energy: Option<f64>,
    /// The `status` label of the port's one `cp_port_status` series.
    pub(super) status: Option<&'static str>,
}

impl StationRow {
    /// The port's row, added (empty) if the station had none for it.
    pub(super) fn port(&mut self, port: PortNumber) -> &mut PortRow {
        let at = match self.ports.binary_search_by_key(&port, |p| p.port) {
            Ok(at) => at,
            Err(at) => {
                let row = PortRow {
                    port,
                    load: None,
                    allowed_load: None,
                    shed_ratio: None,
                    session_energy: None,
                    status: None,
                };
                // A station's ports come once each: no doubling's spare room in every row.
                self.ports.reserve_exact(1);
                self.ports.insert(at, row);
                at
            }
        };
        &mut self.ports[at]
    }
}

/// Every station's row, ordered by station so the output is.
#[derive(Debug, Default)]
pub(super) struct StationSeries {
    rows: Mutex<BTreeMap<StationId, StationRow>>,
}

impl StationSeries {
    /// Changes the station's row, created empty on its first change.
    pub(super) fn update(&self, station: &StationId, change: impl FnOnce(&mut StationRow)) {
        // A panic elsewhere while the lock was held leaves plain numbers, still good to show.
        let mut rows = self.rows.lock().unwrap_or_else(PoisonError::into_inner);
        match rows.get_mut(station) {
            Some(row) => change(row),
            None => change(rows.entry(station.clone()).or_default()),
        }
    }

    /// Removes every series of the station.
    pub(super) fn forget(&self, station: &StationId) {
        let mut rows = self.rows.lock().unwrap_or_else(PoisonError::into_inner);
        rows.remove(station);
    }

    /// Appends every family that has a series to `out`, in the text exposition format.
    pub(super) fn render_into(&self, out: &mut String) {
        let rows: Vec<(StationId, StationRow)> = {
            let rows = self.rows.lock().unwrap_or_else(PoisonError::into_inner);
            rows.iter().map(|(s, r)| (s.clone(), r.clone())).collect()
        };
        let mut samples = String::new();
        for family in &FAMILIES {
            samples.clear();
            for (station, row) in &rows {
                (family.samples)(
                    &mut Samples {
                        out: &mut samples,
                        name: family.name,
                        station: station.as_str(),
                    },
                    row,
                );
            }
            if !samples.is_empty() {
                let _ = writeln!(out, "# HELP {} {}", family.name, escape_help(family.help));
                let _ = writeln!(out, "# TYPE {} {}", family.name, family.kind);
                out.push_str(&samples);
            }
        }
    }
}

/// A station family: how it is described, and which samples a row gives it.
struct Family {
    name: &'static str,
    help: &'static str,
    /// `gauge` or `counter`.
    kind: &'static str,
    samples: fn(&mut Samples<'_>, &StationRow),
}

/// Writes one station's samples of one family.
struct Samples<'a> {
    out: &'a mut String,
    name: &'static str,
    station: &'a str,
}

impl Samples<'_> {
    /// One sample, its labels (`station` among them, in name order) written as given.
    fn write(&mut self, labels: &[(&str, &str)], value: f64) {
        let out = &mut *self.out;
        out.push_str(self.name);
        out.push('{');
        for (n, (name, label_value)) in labels.iter().enumerate() {
            if n > 0 {
                out.push(',');
            }
            out.push_str(name);
            out.push_str("=\"");
            escape_label_into(out, label_value);
            out.push('"');
        }
        out.push_str("} ");
        write_value(out, value);
        out.push('\n');
    }

    /// A sample labelled by station only.
    fn station(&mut self, value: Option<f64>) {
        if let Some(value) = value {
            let station = self.station;
            self.write(&[("station", station)], value);
        }
    }

    /// A sample labelled by method and station.
    fn method(&mut self, method: ApiMethod, value: f64) {
        let station = self.station;
        self.write(&[("method", method.name()), ("station", station)], value);
    }

    /// One sample per port that has a value.
    fn ports(&mut self, row: &StationRow, value: fn(&PortRow) -> Option<f64>) {
        let station = self.station;
        for port in &row.ports {
            if let Some(v) = value(port) {
                self.write(&[("port", &port.port.to_string()), ("station", station)], v);
            }
        }
    }
}

/// The station families, in the order they are written.
const FAMILIES: [Family; 12] = [
    Family {
        name: "cp_station_up",
        help: "1 when the station's last scrape got its data, 0 when its API calls fail.",
        kind: "gauge",
        samples: |s, row| {
            if let (Some(up), Some(account)) = (row.up, &row.account) {
                let station = s.station;
                s.write(
                    &[("account", account), ("station", station)],
                    f64::from(u8::from(up)),
                );
            }
        },
    },
    Family {
        name: "cp_station_last_scrape_timestamp_seconds",
        help: "Unix time the station's last scrape finished.",
        kind: "gauge",
        samples: |s, row| s.station(row.last_scrape),
    },
    Family {
        name: "cp_station_data_overdue_seconds",
        help: "How far the station's stalest data was past its method's period (the points' \
               Data Currency) at the last scrape; 0 while all of it is current.",
        kind: "gauge",
        samples: |s, row| s.station(row.overdue),
    },
    Family {
        name: "cp_station_restarts_total",
        help: "Times the fleet supervisor restarted the station's actor.",
        kind: "counter",
        samples: |s, row| s.station(row.restarts.map(|n| n as f64)),
    },
    Family {
        name: "cp_station_method_refused",
        help: "1 while the account's plan refuses the method for this station; no series for \
               a method that is not refused.",
        kind: "gauge",
        samples: |s, row| {
            for method in row.refused.iter() {
                s.method(method, 1.0);
            }
        },
    },
    Family {
        name: "cp_station_method_failing",
        help: "1 while the method fails for this station (its points are withheld), with the \
               kind of failure (late, http_status, timeout, malformed, ...); no series for a \
               method that answers. Plan refusals are cp_station_method_refused.",
        kind: "gauge",
        samples: |s, row| {
            let station = s.station;
            for (method, kind) in row.failing.iter() {
                let labels = [
                    ("kind", kind.as_str()),
                    ("method", method.name()),
                    ("station", station),
                ];
                s.write(&labels, 1.0);
            }
        },
    },
    Family {
        name: "cp_station_active_alarms",
        help: "Alarms getAlarms reports for the station and not yet cleared.",
        kind: "gauge",
        samples: |s, row| s.station(row.alarms.map(|n| n as f64)),
    },
    Family {
        name: "cp_port_load_watts",
        help: "Port load from getLoad (portLoad); a station's load is their sum.",
        kind: "gauge",
        samples: |s, row| s.ports(row, |p| p.load),
    },
    Family {
        name: "cp_port_allowed_load_watts",
        help: "Load cap of a shed port (allowedLoad); exists only while getLoad reports the \
               port shed (shedState 1), so the port's shed state is whether it exists.",
        kind: "gauge",
        samples: |s, row| s.ports(row, |p| p.allowed_load),
    },
    Family {
        name: "cp_port_shed_ratio",
        help: "Fraction of maximum power shed (percentShed / 100); exists only while getLoad \
               reports the port shed.",
        kind: "gauge",
        samples: |s, row| s.ports(row, |p| p.shed_ratio),
    },
    Family {
        name: "cp_port_session_energy_joules",
        help: "Energy delivered by the port's latest charging session.",
        kind: "gauge",
        samples: |s, row| s.ports(row, |p| p.session_energy),
    },
    Family {
        name: "cp_port_status",
        help: "1, labelled with the port's current getStationStatus status (AVAILABLE, INUSE, \
               UNREACHABLE, UNKNOWN, OTHER); the previous status's series goes on a change, so \
               count or sum by status.",
        kind: "gauge",
        samples: |s, row| {
            let station = s.station;
            for port in &row.ports {
                if let Some(status) = port.status {
                    let number = port.port.to_string();
                    s.write(
                        &[("port", &number), ("station", station), ("status", status)],
                        1.0,
                    );
                }
            }
        },
    },
];

/// A label value as the text format quotes it: backslash, double quote and newline escaped.
fn escape_label_into(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str(r"\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str(r"\n"),
            c => out.push(c),
        }
    }
}

/// A help text as the text format writes it: backslash and newline escaped.
fn escape_help(help: &str) -> String {
    help.replace('\\', r"\\").replace('\n', r"\n")
}

/// A sample value as the prometheus crate's encoder writes it.
fn write_value(out: &mut String, value: f64) {
    if value.is_nan() {
        out.push_str("NaN");
    } else if value.is_infinite() {
        out.push_str(if value > 0.0 { "+Inf" } else { "-Inf" });
    } else {
        let _ = write!(out, "{value}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped_and_odd_values_spelled_as_prometheus_reads_them() {
        let series = StationSeries::default();
        series.update(&StationId::new("a\"b\\c\nd"), |row| {
            row.alarms = Some(2);
            row.overdue = Some(f64::INFINITY);
            row.last_scrape = Some(f64::NAN);
        });
        let mut text = String::new();
        series.render_into(&mut text);
        assert!(
            text.contains(r#"cp_station_active_alarms{station="a\"b\\c\nd"} 2"#),
            "{text}"
        );
        assert!(text.contains(r#"} +Inf"#), "{text}");
        assert!(text.contains(r#"} NaN"#), "{text}");
        // Families without a series are not written.
        assert!(!text.contains("cp_port_status"), "{text}");
    }

    #[test]
    fn ports_are_kept_in_order_each_once() {
        let mut row = StationRow::default();
        row.port(PortNumber(2)).load = Some(1.0);
        row.port(PortNumber(1)).load = Some(2.0);
        row.port(PortNumber(2)).status = Some("INUSE");
        let ports: Vec<u16> = row.ports.iter().map(|p| p.port.0).collect();
        assert_eq!(ports, [1, 2]);
        assert_eq!(row.ports[1].load, Some(1.0));
    }
}
