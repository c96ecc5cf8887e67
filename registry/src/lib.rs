//! `cp-registry`: the data model of the ChargePoint supervisor, pure and synchronous.
//!
//! Layout:
//! - `method`: the nine API 5.0 methods ([`ApiMethod`]).
//! - `records`: typed records of what the API returns (`StationStatus`, `LoadReport`, `Alarm`, ...).
//! - `secret`: [`Secret`], a password that redacts itself everywhere.

mod method;
mod records;
mod secret;

pub use method::ApiMethod;
pub use records::*;
pub use secret::Secret;
