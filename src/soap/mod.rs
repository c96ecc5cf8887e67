//! The ChargePoint SOAP 5.0 wire: envelope, WS-Security, the nine operations, the HTTP client.
//!
//! Layout:
//! - `xml`: streaming XML reader and writer primitives (quick-xml, no DOM, no entities).
//! - `envelope`: SOAP 1.1 envelope, WS-Security `UsernameToken`, SOAP Faults.
//! - `ops`: one module per operation, each with its request and response in both directions.
//! - `codec`: whole messages to typed requests/responses and back; `responseCode` meaning.
//! - `transport`: reqwest POSTs with deadlines, size cap and HTTP status mapping.
//! - `client`: [`SoapClient`], the `ChargePointApi` implementation with paging.

pub mod client;
pub mod codec;
pub mod envelope;
pub mod ops;
mod transport;
mod xml;

pub use client::{ClientConfig, ClientError, SoapClient};
pub use codec::{
    read_request, read_response, soap_action, write_fault, write_request, write_response,
    RequestError, MAX_RESPONSE_BYTES,
};
pub use envelope::UsernameToken;
pub use ops::{codes, Outcome, Request, Response};
