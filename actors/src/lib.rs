//! `cp-actors`: the behaviour of the ChargePoint supervisor.
//!
//! Layout:
//! - `api`: the [`ChargePointApi`] trait the actors call, with its query types.
//! - `error`: [`SoapError`], the typed failure of one ChargePoint call.
//! - `gateway`: `Gateway`, one actor per account: batching, coalescing, rate limit, retries.
//! - `fleet`: [`FleetSupervisor`]: gateways and station actors, restart policy, sheds on exit.
//! - `station`: [`StationActor`]: one station as one device: schedule, publish, writes, leases.
//! - `port`: [`PortActor`]: one port's registers: latest load/status, shed intent and belief,
//!   kept with the station so a restarted port carries on.
//! - `handle`: [`Fleet`], the handle the HTTP API and the CLI use.
//! - `device`: what the handle returns: readings, publishes, outcomes, health, [`DeviceError`].
//! - `observe`: [`CallObserver`], [`StationObserver`]: the hooks the metrics module implements.
//! - `metrics`: [`Metrics`], every Prometheus family of the supervisor.

mod api;
mod device;
mod error;
mod fleet;
mod gateway;
mod handle;
mod metrics;
mod observe;
mod port;
mod station;

#[cfg(test)]
mod fake_api;
#[cfg(test)]
mod tests;

pub use api::*;
pub use device::{
    error_chain, DeviceError, DeviceSummary, FleetError, FleetHealth, MethodFailure, PointReading,
    Publish, PublishHeaders, StationHealth, WriteOutcome,
};
pub use error::{BoxError, ErrorKind, SoapError};
pub use fleet::{
    AccountSpec, Connect, DeviceSpec, FleetArguments, FleetMessage, FleetOptions, FleetSpec,
    FleetState, FleetSupervisor, DEFAULT_CONFIRM_POLL, DEFAULT_CONFIRM_TIMEOUT,
    DEFAULT_LEASE_MINUTES, MAX_RESTART_DELAY, STATION_INFO_REFRESH,
};
pub use gateway::{GatewayError, GatewayHandle, GatewayOptions, ReadReply};
pub use handle::{Fleet, PUBLISH_CHANNEL_CAPACITY};
pub use metrics::Metrics;
pub use observe::{CallObserver, NoObserver, StationObserver};
pub use port::{PortActor, PortArguments, PortMessage, PortRegisters, PortState};
pub use station::{StationActor, StationArguments, StationMessage, StationState};
