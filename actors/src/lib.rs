//! `cp-actors`: the behaviour of the ChargePoint supervisor.
//!
//! Layout:
//! - `api`: the [`ChargePointApi`] trait the actors call, with its query types.
//! - `error`: [`SoapError`], the typed failure of one ChargePoint call.
//! - `gateway`: `Gateway`, one actor per account: batching, coalescing, rate limit, retries.
//! - `fleet`: `FleetSupervisor`: gateways and station actors, restart policy, sheds on exit.
//! - `options`: [`FleetOptions`], how the supervisor behaves, with its defaults.
//! - `station`: `StationActor`: one station as one device: scrapes, publishes, answers
//!   reads, routes writes to its ports.
//! - `port`: `PortActor`: one port's registers and writes: intent, believed shed, lease,
//!   clear re-sends, the shedLoad/clearShedState calls and their read-back.
//! - `directory`: the live station actors by device path, kept by the supervisor for the handle.
//! - `tally`: the fleet's health in numbers, kept by the stations for the running summary.
//! - `handle`: [`Fleet`], the handle the HTTP API and the CLI use.
//! - `device`: what the handle returns: readings, publishes, health, [`DeviceError`].
//! - `outcome`: [`WriteOutcome`], what became of a write; [`WriteAnswer`], what its caller is told.
//! - `writes`: [`WriteLog`], the fleet's recent writes by [`WriteId`], until and after they settle.
//! - `observe`: [`CallObserver`], [`StationObserver`]: the hooks the metrics module implements.
//! - `metrics`: [`Metrics`], every Prometheus family of the supervisor.

mod api;
mod device;
mod directory;
mod error;
mod fleet;
mod gateway;
mod handle;
mod metrics;
mod observe;
mod options;
mod outcome;
mod port;
mod station;
mod tally;
mod writes;

#[cfg(test)]
mod fake_api;
#[cfg(test)]
mod tests;

pub use api::*;
pub use device::{
    error_chain, DeviceError, DeviceSummary, FleetCounts, FleetError, FleetHealth, Liveness,
    MethodFailure, PointReading, Publish, PublishHeaders, StationHealth, WithheldPoints,
};
pub use error::{BoxError, ErrorKind, FailureKind, SoapError};
pub use fleet::Connect;
pub use gateway::{pace_request, GatewayError, GatewayOptions};
pub use handle::{Fleet, PUBLISH_CHANNEL_CAPACITY};
pub use metrics::Metrics;
pub use observe::{CallObserver, DataAge, NoObserver, StationObserver};
pub use options::{
    FleetOptions, DEFAULT_CONFIRM_POLL, DEFAULT_CONFIRM_TIMEOUT, DEFAULT_LEASE_MINUTES,
    DEFAULT_WRITE_ANSWER_TIMEOUT, STATION_INFO_REFRESH,
};
pub use outcome::{WriteAnswer, WriteId, WriteOutcome};
pub use port::MAX_QUEUED_PER_PORT;
pub use writes::{WriteLog, WriteRecord, MAX_WRITES_KEPT, SETTLED_WRITES_KEPT_FOR};
