//! `cp-actors`: the behaviour of the ChargePoint supervisor.
//!
//! Layout:
//! - `api`: the [`ChargePointApi`] trait the actors call, with its query types.
//! - `error`: [`SoapError`], the typed failure of one ChargePoint call.

mod api;
mod error;
mod metrics;

pub use api::*;
pub use error::{BoxError, ErrorKind, SoapError};
pub use metrics::{InFlightCall, Metrics, WriteOutcome};
