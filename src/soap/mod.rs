//! The ChargePoint SOAP 5.0 wire: envelope, WS-Security, the nine operations, the HTTP client.
pub mod ops;
