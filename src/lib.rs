//! `chargepoint-supervisor`: adapters and the binary.
//!
//! Layout:
//! - `soap`: the ChargePoint SOAP 5.0 client (implements `cp_actors::ChargePointApi`).
pub mod soap;
