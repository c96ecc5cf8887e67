//! The device vocabulary the HTTP API and the CLI see: readings, publishes, health, and [`DeviceError`] with its HTTP classification.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use cp_registry::{AccountId, AllMessage, ApiMethod, PointMeta, PointValue, StationId};
use serde::Serialize;

use crate::api::LoadScope;
use crate::error::FailureKind;
use crate::gateway::GatewayError;

/// One point's value as get_point returns it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PointReading {
    pub point: String,
    pub value: PointValue,
    /// When the method that feeds the point last answered.
    pub timestamp: DateTime<Utc>,
    pub meta: PointMeta,
    /// allowedLoad / percentShed: a limit written but not in force (the port is not shed, or
    /// not by it), the intent the next shedState=1 applies. `value` stays the value in force,
    /// as VOLTTRON reads it; absent when nothing is stored apart from it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stored: Option<PointValue>,
}

/// The headers VOLTTRON puts on a device publish (both times RFC 3339 UTC), and what the
/// publish leaves out and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PublishHeaders {
    #[serde(rename = "Date")]
    pub date: String,
    #[serde(rename = "TimeStamp")]
    pub timestamp: String,
    /// The station's failing methods, by method name: the failure and the points it withholds.
    /// Absent when every method answers, so a healthy publish is VOLTTRON's exactly. In the
    /// headers rather than the message's meta map, which historians read as each published
    /// point's `{type, units, tz}`.
    #[serde(rename = "Failures", skip_serializing_if = "BTreeMap::is_empty")]
    pub failures: BTreeMap<String, WithheldPoints>,
}

impl PublishHeaders {
    pub fn at(time: DateTime<Utc>) -> Self {
        let text = time.to_rfc3339_opts(SecondsFormat::Micros, true);
        PublishHeaders {
            date: text.clone(),
            timestamp: text,
            failures: BTreeMap::new(),
        }
    }
}

/// A failing method in a publish's headers: why, since when, and the points left out.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WithheldPoints {
    #[serde(flatten)]
    pub failure: MethodFailure,
    pub withheld: Vec<String>,
}

/// One scrape's publish on `devices/<campus>/<building>/<unit>/all`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Publish {
    /// `devices/<path>/all`.
    pub topic: String,
    /// The device path, `campus/building/unit`.
    pub device: String,
    pub headers: PublishHeaders,
    /// `[{point: value}, {point: {type, units, tz}}]`.
    pub message: AllMessage,
}

/// The last failure of one method for one station.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MethodFailure {
    pub kind: FailureKind,
    /// The whole error chain as text.
    pub text: String,
    pub at: DateTime<Utc>,
}

/// One device in the device list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeviceSummary {
    pub path: String,
    pub station: StationId,
    pub account: AccountId,
    pub ports: Vec<u16>,
    pub up: bool,
    /// `starting` until the first scrape is in (unless a call failed already), then `up`,
    /// `degraded` or `down`: a fleet coming up is not a fleet that is down, and one failing
    /// method is not a station that is down.
    pub state: Liveness,
    pub last_scrape: Option<DateTime<Utc>>,
}

/// Where a station stands: see [`DeviceSummary::state`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Liveness {
    /// No scrape is in yet, and no call has failed.
    Starting,
    /// Every method the station reads answers (a plan refusal is configuration, not outage).
    Up,
    /// Some methods answer and others fail: only the failing methods' points are withheld;
    /// health's `failures` names them and why.
    Degraded,
    /// No method answers.
    Down,
}

/// One station's health.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StationHealth {
    pub device: DeviceSummary,
    /// The last scrape in which every method the station needs answered.
    pub last_ok_scrape: Option<DateTime<Utc>>,
    /// Methods whose latest call failed, by method name.
    pub failures: BTreeMap<String, MethodFailure>,
    /// Ports whose status is INUSE.
    pub ports_charging: usize,
    /// Sum of the ports' present draw, kW.
    pub load_kw: f64,
    /// Ports with a shed in force (getLoad's shedState).
    pub sheds_active: usize,
}

/// The whole fleet's health.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FleetHealth {
    pub stations: Vec<StationHealth>,
    pub stations_total: usize,
    pub stations_up: usize,
    /// Stations whose first scrape is not in yet; neither up nor down.
    pub stations_starting: usize,
    /// Stations with some methods failing and others answering.
    pub stations_degraded: usize,
    pub ports_charging: usize,
    pub total_kw: f64,
    pub sheds_active: usize,
    /// Failing methods summed over stations.
    pub errors: usize,
}

/// The fleet's health in numbers, as the running summary shows it: [`FleetHealth`]'s sums,
/// without the stations.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct FleetCounts {
    pub stations_total: usize,
    pub stations_up: usize,
    /// Stations whose first scrape is not in yet; neither up nor down.
    pub stations_starting: usize,
    /// Stations with some methods failing and others answering.
    pub stations_degraded: usize,
    /// The ports of every station.
    pub ports: usize,
    pub ports_charging: usize,
    pub total_kw: f64,
    pub sheds_active: usize,
    /// Failing methods summed over stations.
    pub errors: usize,
}

impl FleetHealth {
    /// The sums, with the stations' ports counted.
    pub fn counts(&self) -> FleetCounts {
        FleetCounts {
            stations_total: self.stations_total,
            stations_up: self.stations_up,
            stations_starting: self.stations_starting,
            stations_degraded: self.stations_degraded,
            ports: self.stations.iter().map(|s| s.device.ports.len()).sum(),
            ports_charging: self.ports_charging,
            total_kw: self.total_kw,
            sheds_active: self.sheds_active,
            errors: self.errors,
        }
    }

    pub fn from_stations(stations: Vec<StationHealth>) -> Self {
        FleetHealth {
            stations_total: stations.len(),
            stations_up: stations.iter().filter(|s| s.device.up).count(),
            stations_starting: stations
                .iter()
                .filter(|s| s.device.state == Liveness::Starting)
                .count(),
            stations_degraded: stations
                .iter()
                .filter(|s| s.device.state == Liveness::Degraded)
                .count(),
            ports_charging: stations.iter().map(|s| s.ports_charging).sum(),
            // From +0.0: an empty `sum` of floats is -0.0, which would show as "-0.0 kW".
            total_kw: stations.iter().fold(0.0, |kw, s| kw + s.load_kw),
            sheds_active: stations.iter().map(|s| s.sheds_active).sum(),
            errors: stations.iter().map(|s| s.failures.len()).sum(),
            stations,
        }
    }
}

/// Why a device request failed. [`DeviceError::status_hint`] classifies it for HTTP.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DeviceError {
    #[error("unknown device '{device}'")]
    UnknownDevice { device: String },
    #[error("device {device}: unknown point '{point}'")]
    UnknownPoint { device: String, point: String },
    #[error("device {device}: point {point} is read-only")]
    NotWritable { device: String, point: String },
    #[error("device {device}: point {point}: expected {expected}, found {found}")]
    BadValue {
        device: String,
        point: String,
        expected: String,
        found: String,
    },
    #[error("device {device}: point {point}: no allowedLoad or percentShed written for {scope}; write one first")]
    NoShedIntent {
        device: String,
        point: String,
        /// The port, or the whole station, that has no stored limit.
        scope: LoadScope,
    },
    /// The point's method has not answered yet.
    #[error("device {device}: point {point}: no data yet from {method}")]
    NoData {
        device: String,
        point: String,
        method: ApiMethod,
    },
    /// The point's method failed on its latest call.
    #[error("device {device}: point {point}: {method} failed ({kind}): {text}")]
    PointUnavailable {
        device: String,
        point: String,
        method: ApiMethod,
        kind: FailureKind,
        text: String,
    },
    /// The gateway could not serve the request.
    #[error("device {device}: gateway failure ({kind})")]
    Gateway {
        device: String,
        kind: FailureKind,
        #[source]
        source: GatewayError,
    },
    #[error("device {device}: the account's request queue is full; try again later")]
    Overloaded { device: String },
    /// The port (or the station's Load points) has [`crate::MAX_QUEUED_PER_PORT`] jobs
    /// waiting already; nothing was sent.
    #[error("device {device}: {scope} has {queued} writes and renewals waiting; try again later")]
    PortBusy {
        device: String,
        scope: LoadScope,
        queued: usize,
    },
    /// The station actor did not answer (restarting, stopped, or too slow).
    #[error("device {device}: station is not answering ({reason})")]
    Unavailable { device: String, reason: String },
}

impl DeviceError {
    /// The HTTP status this error suggests: 404 unknown, 400 bad request, 409 conflict with the
    /// port's state, 503 try later, 502 ChargePoint failed.
    pub fn status_hint(&self) -> u16 {
        match self {
            DeviceError::UnknownDevice { .. } | DeviceError::UnknownPoint { .. } => 404,
            DeviceError::NotWritable { .. } | DeviceError::BadValue { .. } => 400,
            DeviceError::NoShedIntent { .. } => 409,
            DeviceError::NoData { .. }
            | DeviceError::Overloaded { .. }
            | DeviceError::PortBusy { .. }
            | DeviceError::Unavailable { .. } => 503,
            DeviceError::PointUnavailable { .. } | DeviceError::Gateway { .. } => 502,
        }
    }

    /// Turns a gateway failure into the device's error: a full queue is its own case.
    pub fn from_gateway(device: &str, error: GatewayError) -> Self {
        match error {
            GatewayError::Overloaded { .. } => DeviceError::Overloaded {
                device: device.to_string(),
            },
            other => DeviceError::Gateway {
                device: device.to_string(),
                kind: other.kind(),
                source: other,
            },
        }
    }
}

/// Why a fleet-wide request failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FleetError {
    #[error("fleet supervisor is not answering ({reason})")]
    Unavailable { reason: String },
    #[error("fleet supervisor failed to start: {reason}")]
    Start { reason: String },
    #[error("device {device} is already running")]
    DuplicateDevice { device: String },
    #[error("unknown device '{device}'")]
    UnknownDevice { device: String },
    #[error("device {device}: no account '{account}' in the fleet")]
    UnknownAccount { device: String, account: AccountId },
}

/// An error and its sources joined with `: `, for messages that must stand alone.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
