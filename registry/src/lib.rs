//! `cp-registry`: the data model of the ChargePoint supervisor, pure and synchronous.
//!
//! Layout:
//! - `method`: the nine API 5.0 methods ([`ApiMethod`]).
//! - `records`: typed records of what the API returns (`StationStatus`, `LoadReport`, `Alarm`, ...).
//! - `secret`: [`Secret`], a password that redacts itself everywhere.
//! - `catalog`: every attribute a registry may name ([`Attribute`]): register, method, level, type.
//! - `point`: point values ([`PointValue`]) and VOLTTRON meta ([`PointMeta`]).
//! - `registry`: the registry CSV ([`Registry`], [`PointDef`]): parsing, validation, writing.
//! - `snapshot`: a station's latest records ([`StationSnapshot`]) and value extraction.
//! - `error`: every configuration problem ([`RegistryError`]), collected into [`Problems`].

mod catalog;
mod error;
mod method;
mod point;
mod records;
mod registry;
mod secret;
mod snapshot;

pub use catalog::{Attribute, Level, RegisterKind, ValueType};
pub use error::{Position, Problems, RegistryError};
pub use method::ApiMethod;
pub use point::{CoerceError, PointMeta, PointValue};
pub use records::*;
pub use registry::{PointDef, Registry, MAX_PORT_NUMBER, STATIC_MIN_CURRENCY};
pub use secret::Secret;
pub use snapshot::StationSnapshot;
