//! Typed records of what the ChargePoint API returns, one struct per kind of answer.
//!
//! These are the shared vocabulary of the whole project: the SOAP client reads responses into
//! them, the simulator writes responses from them, and the actors turn them into point values.
//! ChargePoint's XML element names (`stationID`, `portNumber`) appear only in the SOAP codec;
//! here everything is snake_case with newtypes for identifiers.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::text::Text;

/// A ChargePoint station identifier such as `1:34003` (organisation prefix, colon, number).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StationId(pub String);

impl StationId {
    pub fn new(id: impl Into<String>) -> Self {
        StationId(id.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the ID has ChargePoint's form `ORG:STATION`, digits on both sides of one
    /// colon (`1:34003`); `abc`, `1:` or `:5` never name a station.
    pub fn is_well_formed(&self) -> bool {
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        self.0
            .split_once(':')
            .is_some_and(|(org, number)| digits(org) && digits(number))
    }
}

impl fmt::Display for StationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A port on a station, numbered from 1 as ChargePoint does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PortNumber(pub u16);

impl fmt::Display for PortNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A station group identifier (`sgID`): getLoad and shedLoad accept one to address many stations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct GroupId(pub i32);

impl fmt::Display for GroupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A port's status as getStationStatus reports it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PortStatusWord {
    Available,
    InUse,
    Unreachable,
    Unknown,
    /// A status string this version does not know; kept verbatim rather than lost.
    Other(String),
}

impl PortStatusWord {
    /// Reads ChargePoint's status word (`AVAILABLE`, `INUSE`, ...); anything else is kept as `Other`.
    pub fn parse(s: &str) -> Self {
        match s.trim() {
            "AVAILABLE" => PortStatusWord::Available,
            "INUSE" => PortStatusWord::InUse,
            "UNREACHABLE" => PortStatusWord::Unreachable,
            "UNKNOWN" => PortStatusWord::Unknown,
            other => PortStatusWord::Other(other.to_string()),
        }
    }

    /// The word ChargePoint uses for this status.
    pub fn as_str(&self) -> &str {
        match self {
            PortStatusWord::Other(s) => s,
            known => known.known_word().unwrap_or_default(),
        }
    }

    /// The word of a status this version knows; `None` for [`PortStatusWord::Other`].
    pub fn known_word(&self) -> Option<&'static str> {
        match self {
            PortStatusWord::Available => Some("AVAILABLE"),
            PortStatusWord::InUse => Some("INUSE"),
            PortStatusWord::Unreachable => Some("UNREACHABLE"),
            PortStatusWord::Unknown => Some("UNKNOWN"),
            PortStatusWord::Other(_) => None,
        }
    }
}

impl fmt::Display for PortStatusWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One station's entry in a getStationStatus answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StationStatus {
    pub station_id: StationId,
    pub ports: Vec<PortStatus>,
}

/// One port of a [`StationStatus`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PortStatus {
    pub port: PortNumber,
    pub status: PortStatusWord,
    /// Last communication between the station and ChargePoint.
    pub timestamp: DateTime<Utc>,
    pub connector: Option<String>,
    pub power: Option<String>,
}

/// A whole getLoad answer: the station group's totals (when asked by `sgID`) and every station.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct LoadReport {
    pub group_id: Option<GroupId>,
    pub num_stations: Option<i32>,
    pub group_name: Option<String>,
    /// Group load in kW; ChargePoint sends it as free text, so it is kept as text.
    pub group_load: Option<String>,
    pub stations: Vec<StationLoad>,
}

/// One station's entry in a getLoad answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StationLoad {
    pub station_id: StationId,
    pub station_name: Option<String>,
    pub address: Option<String>,
    /// Whole-station load in kW.
    pub station_load: Option<f64>,
    pub ports: Vec<PortLoad>,
    /// Numbers of this entry that cannot be true, kept out of the data above (which holds 0
    /// or `None` in their place).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refused: Vec<RefusedValue>,
}

/// A number the service sent that cannot be physically true: NaN, an infinity, negative power
/// or energy, more than the largest charger. It is not data: the point that reads it has no
/// value and says why, while the rest of the answer stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RefusedValue {
    /// The element, which is also the attribute that reads it: `portLoad`, `allowedLoad`,
    /// `stationLoad`, `Energy`.
    pub element: String,
    /// The port it was sent for; `None` for a station-wide element or a session's.
    pub port: Option<PortNumber>,
    /// What was sent and what is possible, e.g. `<allowedLoad> is -5, outside its physical
    /// range 0..=1000 kW`.
    pub reason: String,
}

impl StationLoad {
    /// The station's shed as VOLTTRON's driver reads it from the ports, for Load points with no
    /// `Port #`: shed when any port is; allowedLoad and percentShed the largest among the shed
    /// ports (0 when none is). getLoad has no station-level shed fields, so a station-wide shed
    /// shows only through its ports: the simulator reports each port's even share of a station
    /// allowedLoad, which this then reads as one share, not the station's total.
    pub fn shed_shown(&self) -> ShedShown {
        self.ports
            .iter()
            .filter(|p| p.shed_state)
            .fold(ShedShown::default(), |shown, p| ShedShown {
                shed_state: true,
                allowed_load: shown.allowed_load.max(p.allowed_load),
                percent_shed: shown.percent_shed.max(p.percent_shed),
            })
    }
}

/// The shed getLoad shows for one port, or for a whole station (see
/// [`StationLoad::shed_shown`]).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct ShedShown {
    pub shed_state: bool,
    /// kW; 0 when not shed by allowedLoad.
    pub allowed_load: f64,
    /// Percent, 0..=100; 0 when not shed by percentShed.
    pub percent_shed: u8,
}

/// One port of a [`StationLoad`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PortLoad {
    pub port: PortNumber,
    pub user_id: Option<String>,
    pub credential_id: Option<String>,
    /// True while a shed (allowedLoad or percentShed limit) is in force on the port.
    pub shed_state: bool,
    /// Present draw in kW.
    pub port_load: f64,
    /// The kW cap in force while shed; 0 when none.
    pub allowed_load: f64,
    /// Percent of maximum power shed while shed, 0..=100; 0 when none.
    pub percent_shed: u8,
}

impl PortLoad {
    /// The port's shed, as getLoad shows it.
    pub fn shed_shown(&self) -> ShedShown {
        ShedShown {
            shed_state: self.shed_state,
            allowed_load: self.allowed_load,
            percent_shed: self.percent_shed,
        }
    }
}

/// One alarm from getAlarms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alarm {
    pub station_id: StationId,
    pub station_name: Option<String>,
    pub station_model: Option<String>,
    pub org_id: Option<String>,
    pub organization_name: Option<String>,
    pub station_manufacturer: Option<String>,
    pub station_serial_num: Option<String>,
    /// `None` when the alarm concerns the whole station: it then applies to every port.
    pub port: Option<PortNumber>,
    pub alarm_type: String,
    pub alarm_time: DateTime<Utc>,
    pub record_number: Option<i32>,
}

/// What a station keeps of an [`Alarm`]: what its points read (a port's newest alarm, and how
/// many there are). getAlarms repeats the station's names, model and serial number with every
/// alarm; a station has those from getStations, and a day of alarms on every station of a
/// fleet repeating them was ~10 MB at 10,000 stations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StationAlarm {
    /// `None` when the alarm concerns the whole station: it then applies to every port.
    pub port: Option<PortNumber>,
    pub alarm_type: String,
    pub alarm_time: DateTime<Utc>,
    pub record_number: Option<i32>,
}

impl From<Alarm> for StationAlarm {
    fn from(alarm: Alarm) -> Self {
        StationAlarm {
            port: alarm.port,
            alarm_type: alarm.alarm_type,
            alarm_time: alarm.alarm_time,
            record_number: alarm.record_number,
        }
    }
}

/// One station-rights profile from getStationRights: the rights an account holds on a station
/// through one station group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RightsProfile {
    pub group_id: Option<Text>,
    pub group_name: Option<Text>,
    pub profile: Text,
}

/// A station's rights, gathered from every `rightsData` entry that names the station.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StationRights {
    pub station_id: StationId,
    pub station_name: Option<String>,
    pub station_serial_num: Option<String>,
    pub station_mac_addr: Option<String>,
    pub profiles: Vec<RightsProfile>,
}

/// One charging session from getChargingSessionData.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChargingSession {
    pub station_id: StationId,
    pub station_name: Option<Text>,
    pub port: Option<PortNumber>,
    pub address: Option<String>,
    pub city: Option<Text>,
    pub state: Option<Text>,
    pub country: Option<Text>,
    pub postal_code: Option<Text>,
    pub session_id: i64,
    /// Energy delivered in the session, kWh.
    pub energy: f64,
    pub start_time: DateTime<Utc>,
    /// `None` while the session is still running.
    pub end_time: Option<DateTime<Utc>>,
    /// The driver's account (the spec's `driverAccountNumber`).
    pub user_id: Option<String>,
    pub record_number: Option<i64>,
    /// The RFID card or app credential (the spec's `rfidSerialNumber`).
    pub credential_id: Option<String>,
    /// Numbers of this session that cannot be true (its `Energy`), kept out of the data above.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refused: Vec<RefusedValue>,
}

/// One station's description from getStations: essentially static.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct StationInfo {
    pub station_id: Option<StationId>,
    pub manufacturer: Option<Text>,
    pub model: Option<Text>,
    pub mac_addr: Option<String>,
    pub serial_num: Option<String>,
    pub activation_date: Option<DateTime<Utc>>,
    pub address: Option<String>,
    pub city: Option<Text>,
    pub state: Option<Text>,
    pub country: Option<Text>,
    pub postal_code: Option<Text>,
    pub ports: Vec<PortInfo>,
    pub pricing: Vec<Pricing>,
    pub num_ports: Option<i32>,
    pub main_phone: Option<Text>,
    pub currency_code: Option<Text>,
    pub org_id: Text,
    pub organization_name: Text,
    pub group_id: Option<Text>,
    pub group_name: Option<Text>,
}

/// A port's nameplate within [`StationInfo`].
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PortInfo {
    pub port: Option<PortNumber>,
    pub station_name: Option<String>,
    pub lat: Option<String>,
    pub long: Option<String>,
    pub description: Option<Text>,
    pub reservable: Option<i32>,
    pub status: Option<Text>,
    pub level: Option<Text>,
    pub mode: Option<Text>,
    pub connector: Option<Text>,
    pub voltage: Option<Text>,
    pub current: Option<Text>,
    pub power: Option<Text>,
}

/// A pricing specification within [`StationInfo`]. Times are `HH:MM:SS` as the API sends them.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Pricing {
    pub kind: Option<Text>,
    pub start_time: Option<Text>,
    pub end_time: Option<Text>,
    pub min_price: Option<f64>,
    pub max_price: Option<f64>,
    pub initial_unit_price_duration: Option<i32>,
    pub unit_price_per_hour: Option<f64>,
    pub unit_price_per_hour_thereafter: Option<f64>,
    pub unit_price_per_session: Option<f64>,
    pub unit_price_per_kwh: Option<f64>,
    pub session_time: Option<Text>,
}
