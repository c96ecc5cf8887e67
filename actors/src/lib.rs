//! `cp-actors`: the behaviour of the ChargePoint supervisor.
//!
//! Layout:
//! - `api`: the [`ChargePointApi`] trait the actors call, with its query types.
//! - `error`: [`SoapError`], the typed failure of one ChargePoint call.
//! - `gateway`: [`Gateway`], one actor per account: batching, coalescing, rate limit, retries.
//! - `observe`: [`CallObserver`], the hook the metrics module implements.

mod api;
mod error;
mod gateway;
mod observe;

#[cfg(test)]
mod fake_api;

pub use api::*;
pub use error::{BoxError, ErrorKind, SoapError};
pub use gateway::{
    AccountId, CallId, CallOutput, Gateway, GatewayArguments, GatewayError, GatewayHandle,
    GatewayMessage, GatewayOptions, GatewayState, ReadReply, ReadRequest, WriteReply, WriteRequest,
    DEFAULT_BATCH_WINDOW, DEFAULT_BURST, DEFAULT_CALL_TIMEOUT, DEFAULT_REQUESTS_PER_MINUTE,
    DEFAULT_RETRY_DEADLINE, MAX_INFLIGHT_PER_ACCOUNT, MAX_QUEUED_PER_ACCOUNT,
};
pub use observe::{CallObserver, NoObserver};
