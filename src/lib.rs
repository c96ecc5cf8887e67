//! `chargepoint-supervisor`: adapters and the binary.
//!
//! Layout:
//! - `soap`: the ChargePoint SOAP 5.0 client (implements `cp_actors::ChargePointApi`).
//! - `check`: the `check` command: validates configuration and summarises what it will do.
pub mod check;
pub mod soap;
