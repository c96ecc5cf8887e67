//! The attribute catalog: every attribute a registry CSV may name, from the spec's register tables.
//!
//! For each attribute the catalog knows which register type serves it, which API method feeds it,
//! whether it lives on a port or on the whole station, its value type, its units and whether it
//! can be written. The CSV parser validates rows against it and the actors ask it which calls a
//! registry needs, so nobody else matches on attribute strings.
//!
//! Level decisions follow the XSD: getStations' `portData` carries `stationName`, `Geo`
//! (`Lat`/`Long`), `Description`, `Reservable`, `Level`, `Mode`, `Connector`, `Voltage`,
//! `Current`, `Power` per port, so those are port-level attributes read from the matching
//! `PortInfo`; pricing attributes come from the first `Pricing` entry; the rest are station-level.
//! Alarm attributes are station-level (the spec's rows have no Port #), but a port number is
//! accepted on them: the point then shows the newest alarm of that port or of the whole station.
//! Session attributes are per port (the latest session of that port), but may leave Port #
//! empty, as VOLTTRON's registry generator does: the point then shows the station's latest
//! session, whichever port it was on. The Load register's shedState, allowedLoad and
//! percentShed are per port, but may leave Port # empty, as VOLTTRON's driver allows: the point
//! then stands for the whole station. Reading it gives VOLTTRON's station reading of the ports
//! ([`crate::StationLoad::shed_shown`]); writing it sheds or clears the whole station
//! (`shedStation` with `allowedLoadPerStation` / `percentShedPerStation` and no `Ports`).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::method::ApiMethod;

/// A register type of the spec, the `Register Name` column of a registry CSV.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum RegisterKind {
    /// `StationStatusRegister`, fed by getStationStatus.
    StationStatus,
    /// `LoadRegister`, fed by getLoad; written through shedLoad / clearShedState.
    Load,
    /// `AlarmRegister`, fed by getAlarms; written through clearAlarms.
    Alarm,
    /// `StationRightsRegister`, fed by getStationRights.
    StationRights,
    /// `ChargingSessionRegister`, fed by getChargingSessionData.
    ChargingSession,
    /// `StationRegister`, fed by getStations: static nameplate data.
    Station,
}

impl RegisterKind {
    /// Every register type, in the spec's order.
    pub const ALL: [RegisterKind; 6] = [
        RegisterKind::StationStatus,
        RegisterKind::Load,
        RegisterKind::Alarm,
        RegisterKind::StationRights,
        RegisterKind::ChargingSession,
        RegisterKind::Station,
    ];

    /// The name used in the CSV, e.g. `LoadRegister`.
    pub fn name(self) -> &'static str {
        match self {
            RegisterKind::StationStatus => "StationStatusRegister",
            RegisterKind::Load => "LoadRegister",
            RegisterKind::Alarm => "AlarmRegister",
            RegisterKind::StationRights => "StationRightsRegister",
            RegisterKind::ChargingSession => "ChargingSessionRegister",
            RegisterKind::Station => "StationRegister",
        }
    }

    /// Looks a register type up by its CSV name (exact, as VOLTTRON does).
    pub fn parse(name: &str) -> Option<RegisterKind> {
        RegisterKind::ALL
            .into_iter()
            .find(|r| r.name() == name.trim())
    }

    /// The method whose answer holds this register's values.
    pub fn method(self) -> ApiMethod {
        match self {
            RegisterKind::StationStatus => ApiMethod::GetStationStatus,
            RegisterKind::Load => ApiMethod::GetLoad,
            RegisterKind::Alarm => ApiMethod::GetAlarms,
            RegisterKind::StationRights => ApiMethod::GetStationRights,
            RegisterKind::ChargingSession => ApiMethod::GetChargingSessionData,
            RegisterKind::Station => ApiMethod::GetStations,
        }
    }

    /// The attributes this register serves, in catalog order.
    pub fn attributes(self) -> impl Iterator<Item = Attribute> {
        Attribute::ALL
            .into_iter()
            .filter(move |a| a.register() == self)
    }
}

impl fmt::Display for RegisterKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Whether an attribute belongs to one port (needs a `Port #`) or to the whole station.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Level {
    Port,
    Station,
}

/// A point's value type, the `Type` column of a registry CSV.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ValueType {
    String,
    DateTime,
    Integer,
    Float,
    Bool,
    Dictionary,
}

impl ValueType {
    /// Every value type.
    pub const ALL: [ValueType; 6] = [
        ValueType::String,
        ValueType::DateTime,
        ValueType::Integer,
        ValueType::Float,
        ValueType::Bool,
        ValueType::Dictionary,
    ];

    /// Reads the CSV `Type` column, case-insensitively: `string`, `datetime`/`date`/`time`,
    /// `integer`/`int`, `float`, `bool`/`boolean`, `dictionary`/`dict`.
    pub fn parse(s: &str) -> Option<ValueType> {
        match s.trim().to_ascii_lowercase().as_str() {
            "string" | "str" => Some(ValueType::String),
            // VOLTTRON's driver also knows `date` and `time`, as text like `datetime`.
            "datetime" | "date" | "time" => Some(ValueType::DateTime),
            "integer" | "int" => Some(ValueType::Integer),
            "float" => Some(ValueType::Float),
            "bool" | "boolean" => Some(ValueType::Bool),
            "dictionary" | "dict" => Some(ValueType::Dictionary),
            _ => None,
        }
    }

    /// The type word VOLTTRON publishes in a point's meta (`"integer"`, `"float"`, ...); also
    /// what [`crate::Registry::write_csv`] writes.
    pub fn name(self) -> &'static str {
        match self {
            ValueType::String => "string",
            ValueType::DateTime => "datetime",
            ValueType::Integer => "integer",
            ValueType::Float => "float",
            ValueType::Bool => "boolean",
            ValueType::Dictionary => "dictionary",
        }
    }
}

impl fmt::Display for ValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One attribute of the catalog. `Attribute::parse(register, name)` reads the CSV's
/// `Register Name` + `Attribute Name`; the same name may mean different attributes in different
/// registers (`startTime` of a session vs. of a pricing period).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Attribute {
    // StationStatusRegister
    /// Port status word: AVAILABLE, INUSE, UNREACHABLE, UNKNOWN.
    Status,
    /// Last communication between the station and ChargePoint.
    TimeStamp,
    // LoadRegister
    /// 1 while a shed is in force (with no Port #: while any port is shed). Writing 1 calls
    /// shedLoad with the stored limit, 0 clearShedState.
    ShedState,
    /// Present draw of the port, kW.
    PortLoad,
    /// The kW cap used by the next shed. Writing it clears the stored percentShed. With no
    /// Port #, the station's cap; it reads as the largest among the shed ports.
    AllowedLoad,
    /// Percent of maximum power shed by the next shed. Writing it clears the stored allowedLoad.
    /// With no Port #, the station's; it reads as the largest among the shed ports.
    PercentShed,
    /// Whole-station draw, kW.
    StationLoad,
    // AlarmRegister
    /// Type of the newest alarm, e.g. `GFCI Trip`.
    AlarmType,
    /// Time of the newest alarm.
    AlarmTime,
    /// Writing 1 sends clearAlarms for the whole station.
    ClearAlarms,
    // StationRightsRegister
    /// sgID → rights profile name for every group that grants rights on the station.
    StationRightsProfile,
    // ChargingSessionRegister
    SessionId,
    SessionStartTime,
    SessionEndTime,
    /// Energy delivered in the latest session, kWh.
    Energy,
    /// The session's credential (ChargePoint's `credentialID`).
    RfidSerialNumber,
    /// The driver's account (ChargePoint's `userID`).
    DriverAccountNumber,
    /// API 5.0 does not return a driver name: always null.
    DriverName,
    // StationRegister
    StationId,
    StationManufacturer,
    StationModel,
    PortNumber,
    StationName,
    StationMacAddr,
    StationSerialNum,
    Address,
    City,
    State,
    Country,
    PostalCode,
    Lat,
    Long,
    Reservable,
    /// Charging level of the port (`L1`, `L2`, `L3`).
    ChargingLevel,
    Mode,
    Connector,
    Voltage,
    Current,
    Power,
    NumPorts,
    /// Pricing type of the first pricing period (the spec's `Type`).
    PricingType,
    PricingStartTime,
    PricingEndTime,
    MinPrice,
    MaxPrice,
    UnitPricePerHour,
    UnitPricePerSession,
    UnitPricePerKwh,
    UnitPricePerHourThereafter,
    /// VOLTTRON's name (from API 4.1) for the price of the first `initialUnitPriceDuration`
    /// hours, which API 5.0 calls `unitPricePerHour`: both read the same field.
    UnitPriceForFirst,
    SessionTime,
    Description,
    MainPhone,
    OrgId,
    OrganizationName,
    SgId,
    SgName,
    CurrencyCode,
}

/// One catalog row. `CATALOG[a as usize]` describes attribute `a` (checked by a test).
struct Spec {
    attribute: Attribute,
    register: RegisterKind,
    name: &'static str,
    level: Level,
    value_type: ValueType,
    writable: bool,
    units: &'static str,
}

const fn row(
    attribute: Attribute,
    register: RegisterKind,
    name: &'static str,
    level: Level,
    value_type: ValueType,
    writable: bool,
    units: &'static str,
) -> Spec {
    Spec {
        attribute,
        register,
        name,
        level,
        value_type,
        writable,
        units,
    }
}

use Attribute as A;
use Level::{Port as P, Station as S};
use RegisterKind as R;
use ValueType as T;

const RO: bool = false;
const RW: bool = true;

#[rustfmt::skip]
const CATALOG: [Spec; 58] = [
    row(A::Status, R::StationStatus, "Status", P, T::String, RO, ""),
    row(A::TimeStamp, R::StationStatus, "TimeStamp", P, T::DateTime, RO, ""),
    row(A::ShedState, R::Load, "shedState", P, T::Integer, RW, "0 or 1"),
    row(A::PortLoad, R::Load, "portLoad", P, T::Float, RO, "kW"),
    row(A::AllowedLoad, R::Load, "allowedLoad", P, T::Float, RW, "kW"),
    row(A::PercentShed, R::Load, "percentShed", P, T::Integer, RW, "percent"),
    row(A::StationLoad, R::Load, "stationLoad", S, T::Float, RO, "kW"),
    row(A::AlarmType, R::Alarm, "alarmType", S, T::String, RO, ""),
    row(A::AlarmTime, R::Alarm, "alarmTime", S, T::DateTime, RO, ""),
    row(A::ClearAlarms, R::Alarm, "clearAlarms", S, T::Integer, RW, ""),
    row(A::StationRightsProfile, R::StationRights, "stationRightsProfile", S, T::Dictionary, RO, ""),
    row(A::SessionId, R::ChargingSession, "sessionID", P, T::String, RO, ""),
    row(A::SessionStartTime, R::ChargingSession, "startTime", P, T::DateTime, RO, ""),
    row(A::SessionEndTime, R::ChargingSession, "endTime", P, T::DateTime, RO, ""),
    row(A::Energy, R::ChargingSession, "Energy", P, T::Float, RO, "kWh"),
    row(A::RfidSerialNumber, R::ChargingSession, "rfidSerialNumber", P, T::String, RO, ""),
    row(A::DriverAccountNumber, R::ChargingSession, "driverAccountNumber", P, T::String, RO, ""),
    row(A::DriverName, R::ChargingSession, "driverName", P, T::String, RO, ""),
    row(A::StationId, R::Station, "stationID", S, T::String, RO, ""),
    row(A::StationManufacturer, R::Station, "stationManufacturer", S, T::String, RO, ""),
    row(A::StationModel, R::Station, "stationModel", S, T::String, RO, ""),
    row(A::PortNumber, R::Station, "portNumber", P, T::Integer, RO, ""),
    row(A::StationName, R::Station, "stationName", P, T::String, RO, ""),
    row(A::StationMacAddr, R::Station, "stationMacAddr", S, T::String, RO, ""),
    row(A::StationSerialNum, R::Station, "stationSerialNum", S, T::String, RO, ""),
    row(A::Address, R::Station, "Address", S, T::String, RO, ""),
    row(A::City, R::Station, "City", S, T::String, RO, ""),
    row(A::State, R::Station, "State", S, T::String, RO, ""),
    row(A::Country, R::Station, "Country", S, T::String, RO, ""),
    row(A::PostalCode, R::Station, "postalCode", S, T::String, RO, ""),
    row(A::Lat, R::Station, "Lat", P, T::Float, RO, "degrees"),
    row(A::Long, R::Station, "Long", P, T::Float, RO, "degrees"),
    row(A::Reservable, R::Station, "Reservable", P, T::Integer, RO, ""),
    row(A::ChargingLevel, R::Station, "Level", P, T::String, RO, ""),
    row(A::Mode, R::Station, "Mode", P, T::String, RO, ""),
    row(A::Connector, R::Station, "Connector", P, T::String, RO, ""),
    row(A::Voltage, R::Station, "Voltage", P, T::Float, RO, "V"),
    row(A::Current, R::Station, "Current", P, T::Float, RO, "A"),
    row(A::Power, R::Station, "Power", P, T::Float, RO, "kW"),
    row(A::NumPorts, R::Station, "numPorts", S, T::Integer, RO, ""),
    row(A::PricingType, R::Station, "Type", S, T::String, RO, ""),
    row(A::PricingStartTime, R::Station, "startTime", S, T::String, RO, "HH:MM:SS"),
    row(A::PricingEndTime, R::Station, "endTime", S, T::String, RO, "HH:MM:SS"),
    row(A::MinPrice, R::Station, "minPrice", S, T::Float, RO, ""),
    row(A::MaxPrice, R::Station, "maxPrice", S, T::Float, RO, ""),
    row(A::UnitPricePerHour, R::Station, "unitPricePerHour", S, T::Float, RO, ""),
    row(A::UnitPricePerSession, R::Station, "unitPricePerSession", S, T::Float, RO, ""),
    row(A::UnitPricePerKwh, R::Station, "unitPricePerKWh", S, T::Float, RO, ""),
    row(A::UnitPricePerHourThereafter, R::Station, "unitPricePerHourThereafter", S, T::Float, RO, ""),
    row(A::UnitPriceForFirst, R::Station, "unitPriceForFirst", S, T::Float, RO, ""),
    row(A::SessionTime, R::Station, "sessionTime", S, T::String, RO, ""),
    row(A::Description, R::Station, "Description", P, T::String, RO, ""),
    row(A::MainPhone, R::Station, "mainPhone", S, T::String, RO, ""),
    row(A::OrgId, R::Station, "orgID", S, T::String, RO, ""),
    row(A::OrganizationName, R::Station, "organizationName", S, T::String, RO, ""),
    row(A::SgId, R::Station, "sgID", S, T::String, RO, ""),
    row(A::SgName, R::Station, "sgName", S, T::String, RO, ""),
    row(A::CurrencyCode, R::Station, "currencyCode", S, T::String, RO, ""),
];

impl Attribute {
    /// Every attribute, in catalog order.
    pub const ALL: [Attribute; 58] = {
        let mut all = [Attribute::Status; 58];
        let mut i = 0;
        while i < 58 {
            all[i] = CATALOG[i].attribute;
            i += 1;
        }
        all
    };

    fn spec(self) -> &'static Spec {
        &CATALOG[self as usize]
    }

    /// Reads the CSV's `Attribute Name` within its register. Exact match first (the spec's
    /// names are camel-case); a case-insensitive match is accepted when it is unambiguous.
    pub fn parse(register: RegisterKind, name: &str) -> Option<Attribute> {
        let name = name.trim();
        let served: Vec<Attribute> = register.attributes().collect();
        if let Some(&a) = served.iter().find(|a| a.name() == name) {
            return Some(a);
        }
        // Case-folded match, e.g. `portNUmber` as the spec's own getStations list spells it.
        let mut folded = served
            .into_iter()
            .filter(|a| a.name().eq_ignore_ascii_case(name));
        match (folded.next(), folded.next()) {
            (Some(one), None) => Some(one),
            _ => None,
        }
    }

    /// The attribute's name in the CSV `Attribute Name` column.
    pub fn name(self) -> &'static str {
        self.spec().name
    }

    /// The register type that serves this attribute.
    pub fn register(self) -> RegisterKind {
        self.spec().register
    }

    /// The API method whose answer holds this attribute's value.
    pub fn method(self) -> ApiMethod {
        self.register().method()
    }

    /// Port-level (needs a `Port #`) or station-level.
    pub fn level(self) -> Level {
        self.spec().level
    }

    /// Whether a `Port #` may be given or left out: alarms are station-level but may be
    /// narrowed to a port; sessions are per port, but VOLTTRON's registry generator writes them
    /// without one, meaning the station's latest session; shedState, allowedLoad and
    /// percentShed without one mean the whole station (see the module doc).
    pub fn port_optional(self) -> bool {
        matches!(
            self.register(),
            RegisterKind::Alarm | RegisterKind::ChargingSession
        ) || self.is_station_load_capable()
    }

    /// Whether the attribute, with no `Port #`, reads and writes the whole station's shed:
    /// shedState, allowedLoad and percentShed.
    pub fn is_station_load_capable(self) -> bool {
        matches!(
            self,
            Attribute::ShedState | Attribute::AllowedLoad | Attribute::PercentShed
        )
    }

    /// The attribute's natural value type (what [`crate::StationSnapshot::value`] returns).
    pub fn value_type(self) -> ValueType {
        self.spec().value_type
    }

    /// Whether a CSV may declare this attribute with `Type` = `declared`. Besides its own type,
    /// VOLTTRON's registries use: `string` for anything but the rights dictionary (the value is
    /// published as text), `boolean`/`float` for integer attributes (`Reservable` is `bool` in
    /// VOLTTRON's example), `int` for `Mode` and the pricing `Type`, and `datetime` for the
    /// pricing times. [`crate::PointDef::read`] converts the value into the declared type.
    pub fn accepts_type(self, declared: ValueType) -> bool {
        self.accepted_types().contains(&declared)
    }

    /// Every type [`Attribute::accepts_type`] accepts, the attribute's own first.
    pub fn accepted_types(self) -> Vec<ValueType> {
        let own = self.value_type();
        let mut types = vec![own];
        match own {
            ValueType::Integer => types.extend([ValueType::Bool, ValueType::Float]),
            ValueType::String => match self {
                Attribute::Mode | Attribute::PricingType => types.push(ValueType::Integer),
                Attribute::PricingStartTime
                | Attribute::PricingEndTime
                | Attribute::SessionTime => types.push(ValueType::DateTime),
                _ => {}
            },
            _ => {}
        }
        if own != ValueType::String && own != ValueType::Dictionary {
            types.push(ValueType::String);
        }
        types
    }

    /// Whether set_point is allowed on this attribute.
    pub fn is_writable(self) -> bool {
        self.spec().writable
    }

    /// The methods a write of this attribute may call. allowedLoad / percentShed only store
    /// the next shed's limit, unless the port is already shed, when they re-send shedLoad.
    pub fn write_methods(self) -> &'static [ApiMethod] {
        match self {
            Attribute::ShedState => &[ApiMethod::ShedLoad, ApiMethod::ClearShedState],
            Attribute::AllowedLoad | Attribute::PercentShed => &[ApiMethod::ShedLoad],
            Attribute::ClearAlarms => &[ApiMethod::ClearAlarms],
            _ => &[],
        }
    }

    /// Default units, used when the CSV's `Units` column is empty.
    pub fn units(self) -> &'static str {
        self.spec().units
    }

    /// True for getStations attributes: nameplate data that changes rarely, so its data
    /// currency is never shorter than [`crate::STATIC_MIN_CURRENCY`].
    pub fn is_static(self) -> bool {
        self.register() == RegisterKind::Station
    }
}

impl fmt::Display for Attribute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_rows_are_in_enum_order() {
        for (i, a) in Attribute::ALL.into_iter().enumerate() {
            assert_eq!(a as usize, i, "{a:?} out of order");
        }
        assert_eq!(Attribute::ALL.last(), Some(&Attribute::CurrencyCode));
    }

    #[test]
    fn every_attribute_parses_back_from_its_register_and_name() {
        for a in Attribute::ALL {
            assert_eq!(Attribute::parse(a.register(), a.name()), Some(a), "{a:?}");
        }
    }

    #[test]
    fn start_time_means_session_or_pricing_depending_on_register() {
        assert_eq!(
            Attribute::parse(RegisterKind::ChargingSession, "startTime"),
            Some(Attribute::SessionStartTime)
        );
        assert_eq!(
            Attribute::parse(RegisterKind::Station, "startTime"),
            Some(Attribute::PricingStartTime)
        );
    }

    #[test]
    fn spec_spelling_port_n_umber_is_accepted() {
        assert_eq!(
            Attribute::parse(RegisterKind::Station, "portNUmber"),
            Some(Attribute::PortNumber)
        );
        assert_eq!(Attribute::parse(RegisterKind::Load, "Status"), None);
    }

    #[test]
    fn station_register_serves_the_spec_list_of_attributes_and_volttrons_unit_price_for_first() {
        let spec_list = "stationID, stationManufacturer, stationModel, portNumber, stationName, \
            stationMacAddr, stationSerialNum, Address, City, State, Country, postalCode, Lat, Long, \
            Reservable, Level, Mode, Connector, Voltage, Current, Power, numPorts, Type, startTime, \
            endTime, minPrice, maxPrice, unitPricePerHour, unitPricePerSession, unitPricePerKWh, \
            unitPricePerHourThereafter, sessionTime, Description, mainPhone, orgID, \
            organizationName, sgID, sgName, currencyCode, unitPriceForFirst";
        let names: Vec<&str> = spec_list.split(',').map(str::trim).collect();
        let served: Vec<&str> = RegisterKind::Station
            .attributes()
            .map(|a| a.name())
            .collect();
        let mut a = names.clone();
        let mut b = served.clone();
        a.sort_unstable();
        b.sort_unstable();
        assert_eq!(a, b);
    }

    #[test]
    fn writable_attributes_are_exactly_the_spec_ones() {
        let writable: Vec<&str> = Attribute::ALL
            .into_iter()
            .filter(|a| a.is_writable())
            .map(|a| a.name())
            .collect();
        assert_eq!(
            writable,
            ["shedState", "allowedLoad", "percentShed", "clearAlarms"]
        );
    }
}
