//! `chargepoint-supervisor`: adapters and the binary.
//!
//! Layout:
//! - `check`: the `check` command: validates configuration and summarises what it will do.
//! - `sim`: the ChargePoint simulator (`chargepoint-supervisor sim`), a SOAP server over a simulated fleet.
//! - `soap`: the ChargePoint SOAP 5.0 client (implements `cp_actors::ChargePointApi`).
pub mod check;
pub mod sim;
pub mod soap;
