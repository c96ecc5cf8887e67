//! [`FleetOptions`]: how the supervisor behaves, shared read-only by the fleet, its stations
//! and their ports, with the defaults and why they were chosen.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::gateway::GatewayOptions;
use crate::observe::{CallObserver, NoObserver, StationObserver};

/// The lease a shed carries when the configuration says nothing: long enough that a renewal
/// every ten minutes is cheap, short enough that a dead supervisor releases ports soon.
pub const DEFAULT_LEASE_MINUTES: u32 = 15;

/// How long a write's call reads getLoad back for it, holding the port's lane, before it
/// frees the lane and settles in the background.
pub const DEFAULT_CONFIRM_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a write's caller waits for its outcome before it is answered `pending` with the
/// write's id. Well within the API's 60 s request timeout and an HTTP client's patience, and
/// long enough for a shed and its first read-backs on a healthy account (a second or two).
pub const DEFAULT_WRITE_ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// Pause between two read-backs of a write.
pub const DEFAULT_CONFIRM_POLL: Duration = Duration::from_secs(5);

/// How often getStations is refreshed when no point needs it sooner: it is nameplate data.
pub const STATION_INFO_REFRESH: Duration = Duration::from_secs(6 * 3600);

/// How the supervisor behaves.
#[derive(Clone)]
pub struct FleetOptions {
    /// Batching window, default rate, retry deadline, queue bounds of every gateway. An
    /// account's `rate_limit_per_minute` overrides the rate.
    pub gateway: GatewayOptions,
    /// `timeInterval` of every shed, minutes, unless the device's `shed_lease_minutes` says
    /// otherwise (the station gives its ports options with that lease).
    pub lease_minutes: u32,
    /// Write the registry's Starting Values when a station starts.
    pub write_starting_values: bool,
    pub confirm_timeout: Duration,
    pub confirm_poll: Duration,
    /// How long a write's caller waits before it is answered `pending` (see
    /// [`DEFAULT_WRITE_ANSWER_TIMEOUT`]).
    pub write_answer_timeout: Duration,
    pub station_info_refresh: Duration,
    /// Receives every gateway call (the metrics module).
    pub observer: Arc<dyn CallObserver>,
    /// Receives station and fleet events (the metrics module).
    pub station_observer: Arc<dyn StationObserver>,
}

impl FleetOptions {
    /// How long a station or port waits for one gateway call: it may queue, retry up to the
    /// deadline and time out once more.
    pub fn gateway_wait(&self) -> Duration {
        let g = &self.gateway;
        g.retry_deadline + g.call_timeout + g.batch_window + Duration::from_secs(30)
    }

    /// How long a shed sent now lasts unless renewed, and so how long a clear of it is worth
    /// retrying. A shed "until cleared" (0) never lapses; its clear is retried for an hour.
    pub fn lease(&self) -> Duration {
        match self.lease_minutes {
            0 => Duration::from_secs(60 * 60),
            minutes => Duration::from_secs(u64::from(minutes) * 60),
        }
    }

    /// How long after a shed is sent it is renewed: two thirds of its lease, so one lost
    /// renewal still leaves time for the next.
    pub fn renewal_period(&self) -> Duration {
        Duration::from_secs(u64::from(self.lease_minutes.max(1)) * 60) * 2 / 3
    }
}

impl Default for FleetOptions {
    fn default() -> Self {
        FleetOptions {
            gateway: GatewayOptions::default(),
            lease_minutes: DEFAULT_LEASE_MINUTES,
            write_starting_values: false,
            confirm_timeout: DEFAULT_CONFIRM_TIMEOUT,
            confirm_poll: DEFAULT_CONFIRM_POLL,
            write_answer_timeout: DEFAULT_WRITE_ANSWER_TIMEOUT,
            station_info_refresh: STATION_INFO_REFRESH,
            observer: Arc::new(NoObserver),
            station_observer: Arc::new(NoObserver),
        }
    }
}

impl fmt::Debug for FleetOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FleetOptions")
            .field("gateway", &self.gateway)
            .field("lease_minutes", &self.lease_minutes)
            .field("write_starting_values", &self.write_starting_values)
            .field("confirm_timeout", &self.confirm_timeout)
            .field("confirm_poll", &self.confirm_poll)
            .field("write_answer_timeout", &self.write_answer_timeout)
            .field("station_info_refresh", &self.station_info_refresh)
            .finish_non_exhaustive()
    }
}
