//! `chargepoint-supervisor`: adapters and the binary.
//!
//! Layout:
//! - `sim`: the ChargePoint simulator (`chargepoint-supervisor sim`), a SOAP server over a simulated fleet.
//! - `soap`: the ChargePoint SOAP 5.0 client (implements `cp_actors::ChargePointApi`).
pub mod sim;
pub mod soap;
