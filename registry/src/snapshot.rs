//! A station's latest API records and the extraction of point values from them.
//!
//! The actors keep one [`StationSnapshot`] per station, replace a record kind whenever its
//! method answers, and ask [`StationSnapshot::value`] for each point: nobody outside this module
//! matches on attributes to find a value.
//!
//! `value` returns `None` when the record kind has not been fetched yet, and
//! `Some(PointValue::Null)` when it has but holds nothing for the point (no alarm, no session on
//! the port, a field the API left out, a port the station does not have).

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::catalog::{Attribute, Level};
use crate::point::PointValue;
use crate::records::{
    ChargingSession, PortInfo, PortLoad, PortNumber, PortStatus, Pricing, RefusedValue, ShedShown,
    StationAlarm, StationInfo, StationLoad, StationRights, StationStatus,
};

/// The latest record of each kind for one station. `None` = that method has not answered yet.
///
/// The records read for many stations at once (alarms, rights, sessions, nameplate) are shared
/// (`Arc`) with the account's answer they came from: a fleet of thousands would otherwise hold
/// each twice, once in its gateway and once in its station.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct StationSnapshot {
    /// From getStationStatus.
    pub status: Option<Arc<StationStatus>>,
    /// This station's entry of getLoad.
    pub load: Option<Arc<StationLoad>>,
    /// The station's alarms from getAlarms (any order; the newest is used).
    pub alarms: Option<Arc<[StationAlarm]>>,
    /// From getStationRights.
    pub rights: Option<Arc<StationRights>>,
    /// The station's sessions from getChargingSessionData (any order; the latest per port is used).
    pub sessions: Option<Arc<[ChargingSession]>>,
    /// From getStations.
    pub info: Option<Arc<StationInfo>>,
}

impl StationSnapshot {
    /// The value of `attribute` (on `port` for port-level attributes) in the latest records.
    /// `None` when the method feeding it has not answered yet; see the module doc.
    pub fn value(&self, attribute: Attribute, port: Option<PortNumber>) -> Option<PointValue> {
        attribute.extract(self, port)
    }

    /// Why the value of `attribute` (on `port`) is missing although its method answered: the
    /// service sent a number that cannot be true. For a station-wide shed attribute, a refusal
    /// on any port counts; for a session attribute, one on the session the point reads.
    pub fn refused(&self, attribute: Attribute, port: Option<PortNumber>) -> Option<&RefusedValue> {
        use Attribute as A;
        let element = attribute.name();
        let matches =
            |r: &&RefusedValue| r.element == element && (port.is_none() || r.port == port);
        match attribute {
            A::PortLoad | A::AllowedLoad | A::PercentShed | A::StationLoad => {
                self.load.as_ref()?.refused.iter().find(matches)
            }
            A::Energy => latest_of(self.sessions.as_ref()?, port)?
                .refused
                .iter()
                .find(|r| r.element == element),
            _ => None,
        }
    }
}

impl Attribute {
    /// Reads this attribute from a snapshot; see [`StationSnapshot::value`].
    pub fn extract(
        self,
        snapshot: &StationSnapshot,
        port: Option<PortNumber>,
    ) -> Option<PointValue> {
        use Attribute as A;
        let v = match self {
            A::Status | A::TimeStamp => {
                let ports = &snapshot.status.as_ref()?.ports;
                port_status(self, ports.iter().find(|p| Some(p.port) == port))
            }
            A::ShedState | A::AllowedLoad | A::PercentShed if port.is_none() => {
                shed_value(self, snapshot.load.as_ref()?.shed_shown())
            }
            A::ShedState | A::PortLoad | A::AllowedLoad | A::PercentShed => {
                let ports = &snapshot.load.as_ref()?.ports;
                port_load(self, ports.iter().find(|p| Some(p.port) == port))
            }
            A::StationLoad => float(snapshot.load.as_ref()?.station_load),
            A::AlarmType | A::AlarmTime | A::ClearAlarms => {
                newest_alarm(self, snapshot.alarms.as_ref()?, port)
            }
            A::StationRightsProfile => {
                let rights = snapshot.rights.as_ref()?;
                PointValue::Dict(
                    rights
                        .profiles
                        .iter()
                        .map(|p| {
                            let group = p.group_id.as_deref().unwrap_or_default();
                            (group.to_owned(), p.profile.to_string())
                        })
                        .collect::<BTreeMap<_, _>>(),
                )
            }
            A::SessionId
            | A::SessionStartTime
            | A::SessionEndTime
            | A::Energy
            | A::RfidSerialNumber
            | A::DriverAccountNumber
            | A::DriverName => latest_session(self, snapshot.sessions.as_ref()?, port),
            _ => station_info(self, snapshot.info.as_ref()?, port),
        };
        Some(v)
    }
}

fn port_status(attribute: Attribute, p: Option<&PortStatus>) -> PointValue {
    match (attribute, p) {
        (Attribute::Status, Some(p)) => PointValue::Str(p.status.as_str().to_string()),
        (Attribute::TimeStamp, Some(p)) => PointValue::DateTime(p.timestamp),
        _ => PointValue::Null,
    }
}

fn port_load(attribute: Attribute, p: Option<&PortLoad>) -> PointValue {
    match (attribute, p) {
        (Attribute::PortLoad, Some(p)) => PointValue::Float(p.port_load),
        (_, Some(p)) => shed_value(attribute, p.shed_shown()),
        (_, None) => PointValue::Null,
    }
}

/// shedState, allowedLoad or percentShed of a port's or a station's shed.
fn shed_value(attribute: Attribute, shown: ShedShown) -> PointValue {
    match attribute {
        Attribute::ShedState => PointValue::Int(i64::from(shown.shed_state)),
        Attribute::AllowedLoad => PointValue::Float(shown.allowed_load),
        Attribute::PercentShed => PointValue::Int(i64::from(shown.percent_shed)),
        _ => PointValue::Null,
    }
}

/// The newest alarm that concerns `port`: a port's own alarms and station-wide ones (no port)
/// both count; with no port asked for, every alarm of the station counts.
fn newest_alarm(
    attribute: Attribute,
    alarms: &[StationAlarm],
    port: Option<PortNumber>,
) -> PointValue {
    if attribute == Attribute::ClearAlarms {
        // A command point: reads 0, like its Starting Value, once alarms are known.
        return PointValue::Int(0);
    }
    let newest = alarms
        .iter()
        .filter(|a| port.is_none() || a.port.is_none() || a.port == port)
        .max_by_key(|a| (a.alarm_time, a.record_number));
    match (attribute, newest) {
        (Attribute::AlarmType, Some(a)) => PointValue::Str(a.alarm_type.clone()),
        (Attribute::AlarmTime, Some(a)) => PointValue::DateTime(a.alarm_time),
        _ => PointValue::Null,
    }
}

/// The latest session of `port` (sessions without a port number count for every port).
fn latest_session(
    attribute: Attribute,
    sessions: &[ChargingSession],
    port: Option<PortNumber>,
) -> PointValue {
    let Some(s) = latest_of(sessions, port) else {
        return PointValue::Null;
    };
    match attribute {
        Attribute::SessionId => PointValue::Str(s.session_id.to_string()),
        Attribute::SessionStartTime => PointValue::DateTime(s.start_time),
        Attribute::SessionEndTime => datetime(s.end_time),
        Attribute::Energy => PointValue::Float(s.energy),
        Attribute::RfidSerialNumber => text(&s.credential_id),
        Attribute::DriverAccountNumber => text(&s.user_id),
        // API 5.0 has no driver name in session data.
        _ => PointValue::Null,
    }
}

/// The session a port's session points read.
fn latest_of(sessions: &[ChargingSession], port: Option<PortNumber>) -> Option<&ChargingSession> {
    sessions
        .iter()
        .filter(|s| port.is_none() || s.port.is_none() || s.port == port)
        .max_by_key(|s| (s.start_time, s.session_id))
}

fn station_info(attribute: Attribute, info: &StationInfo, port: Option<PortNumber>) -> PointValue {
    use Attribute as A;
    if attribute.level() == Level::Port {
        return info
            .ports
            .iter()
            .find(|p| p.port.is_some() && p.port == port)
            .map_or(PointValue::Null, |p| port_nameplate(attribute, p));
    }
    match attribute {
        A::StationId => text(&info.station_id.as_ref().map(|s| s.0.clone())),
        A::StationManufacturer => text(&info.manufacturer),
        A::StationModel => text(&info.model),
        A::StationMacAddr => text(&info.mac_addr),
        A::StationSerialNum => text(&info.serial_num),
        A::Address => text(&info.address),
        A::City => text(&info.city),
        A::State => text(&info.state),
        A::Country => text(&info.country),
        A::PostalCode => text(&info.postal_code),
        A::NumPorts => int(info.num_ports),
        A::MainPhone => text(&info.main_phone),
        A::CurrencyCode => text(&info.currency_code),
        A::OrgId => non_empty(&info.org_id),
        A::OrganizationName => non_empty(&info.organization_name),
        A::SgId => text(&info.group_id),
        A::SgName => text(&info.group_name),
        // The rest are pricing attributes, read from the first pricing period.
        _ => info
            .pricing
            .first()
            .map_or(PointValue::Null, |p| pricing(attribute, p)),
    }
}

fn port_nameplate(attribute: Attribute, p: &PortInfo) -> PointValue {
    use Attribute as A;
    match attribute {
        A::PortNumber => int(p.port.map(|n| i32::from(n.0))),
        A::StationName => text(&p.station_name),
        A::Lat => number(&p.lat),
        A::Long => number(&p.long),
        A::Reservable => int(p.reservable),
        A::ChargingLevel => text(&p.level),
        A::Mode => text(&p.mode),
        A::Connector => text(&p.connector),
        A::Voltage => number(&p.voltage),
        A::Current => number(&p.current),
        A::Power => number(&p.power),
        A::Description => text(&p.description),
        _ => PointValue::Null,
    }
}

fn pricing(attribute: Attribute, p: &Pricing) -> PointValue {
    use Attribute as A;
    match attribute {
        A::PricingType => text(&p.kind),
        A::PricingStartTime => text(&p.start_time),
        A::PricingEndTime => text(&p.end_time),
        A::MinPrice => float(p.min_price),
        A::MaxPrice => float(p.max_price),
        A::UnitPricePerHour | A::UnitPriceForFirst => float(p.unit_price_per_hour),
        A::UnitPricePerSession => float(p.unit_price_per_session),
        A::UnitPricePerKwh => float(p.unit_price_per_kwh),
        A::UnitPricePerHourThereafter => float(p.unit_price_per_hour_thereafter),
        A::SessionTime => text(&p.session_time),
        _ => PointValue::Null,
    }
}

fn int(i: Option<i32>) -> PointValue {
    i.map_or(PointValue::Null, |n| PointValue::Int(n.into()))
}

fn text<S: AsRef<str>>(s: &Option<S>) -> PointValue {
    match s.as_ref().map(AsRef::as_ref) {
        Some(s) if !s.is_empty() => PointValue::Str(s.to_owned()),
        _ => PointValue::Null,
    }
}

fn non_empty(s: &str) -> PointValue {
    if s.is_empty() {
        PointValue::Null
    } else {
        PointValue::Str(s.to_string())
    }
}

fn float(f: Option<f64>) -> PointValue {
    f.map_or(PointValue::Null, PointValue::Float)
}

/// A number the XSD types as free text (Lat, Voltage, ...): Null when it is not a number.
fn number<S: AsRef<str>>(s: &Option<S>) -> PointValue {
    s.as_ref()
        .map(AsRef::as_ref)
        .and_then(|t| t.trim().parse::<f64>().ok())
        .filter(|f| f.is_finite())
        .map_or(PointValue::Null, PointValue::Float)
}

fn datetime(d: Option<DateTime<Utc>>) -> PointValue {
    d.map_or(PointValue::Null, PointValue::DateTime)
}
