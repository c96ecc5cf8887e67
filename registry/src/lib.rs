//! `cp-registry`: the data model of the ChargePoint supervisor, pure and synchronous.
//!
//! Layout:
//! - `method`: the nine API 5.0 methods ([`ApiMethod`]).
//! - `records`: typed records of what the API returns (`StationStatus`, `LoadReport`, `Alarm`, ...).
//! - `secret`: [`Secret`], a password that redacts itself everywhere.
//! - `text`: [`Text`], a string the API repeats across stations, held once and shared.
//! - `catalog`: every attribute a registry may name ([`Attribute`]): register, method, level, type.
//! - `point`: point values ([`PointValue`]) and VOLTTRON meta ([`PointMeta`]).
//! - `registry`: the registry CSV ([`Registry`], [`PointDef`]): parsing, validation, writing.
//! - `snapshot`: a station's latest records ([`StationSnapshot`]) and value extraction.
//! - `publish`: VOLTTRON's scrape-all message ([`AllMessage`]).
//! - `jsonc`: JSON with VOLTTRON's comments and trailing commas, with key lines for messages.
//! - `config`: VOLTTRON device configs ([`DeviceConfig`], [`DevicePath`]).
//! - `fleet`: fleet directories and fleet files ([`FleetConfig`], [`Account`], [`StationSet`]).
//! - `summary`: what a fleet will do, in numbers ([`FleetSummary`]).
//! - `read`: reading a configuration or secret file whole: regular files only, size-capped.
//! - `file`: what can be wrong with such a file ([`FileError`], [`NotText`]) and the size caps.
//! - `seconds`: seconds as durations, with the range every interval and currency shares.
//! - `timezones`: the IANA time zone names a `timezone` may give.
//! - `error`: every configuration problem ([`RegistryError`]), collected into [`Problems`];
//!   a likely [`Mistake`] is an error in a fleet file and a warning in VOLTTRON's own files.

mod catalog;
mod config;
mod error;
mod file;
mod fleet;
mod jsonc;
pub mod limits;
mod method;
mod point;
mod publish;
mod read;
mod records;
mod registry;
mod seconds;
mod secret;
mod snapshot;
mod summary;
mod text;
mod timezones;

pub use catalog::{Attribute, Level, RegisterKind, ValueType};
pub use config::{DeviceConfig, DevicePath, DriverConfig, DEFAULT_INTERVAL};
pub use error::{Mistake, Position, Problems, RegistryError, RegistryWarning};
pub use file::{Capped, FileError, NotText, MAX_CONFIG_FILE_BYTES, MAX_SECRET_FILE_BYTES};
pub use fleet::{
    is_fleet_file, Account, AccountId, Device, DevicePattern, FleetConfig, StationSelection,
    StationSet, FLEET_FILE,
};
pub use method::{ApiMethod, MethodMap, MethodSet};
pub use point::{CoerceError, PointMeta, PointValue};
pub use publish::AllMessage;
pub use read::probe;
pub use records::*;
pub use registry::{
    PointDef, Registry, MAX_PORT_NUMBER, STATIC_MIN_CURRENCY, STATION_GROUP_REFRESH,
};
pub use secret::Secret;
pub use snapshot::StationSnapshot;
pub use summary::{AccountRate, FleetSummary, MethodRate};
pub use text::Text;
