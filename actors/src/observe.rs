//! Hook points for metrics: the gateway reports its calls to a [`CallObserver`], station actors
//! and the supervisor report fleet events to a [`StationObserver`].
//!
//! The metrics module implements both with its Prometheus families; tests and tools that need
//! no metrics use [`NoObserver`]. Keeping the hooks traits keeps the actors free of any metrics
//! library. Every method is called from a handler or a call task, so implementations must be
//! quick and must not block. All methods default to doing nothing, so an implementation names
//! only what it records.

use std::time::Duration;

use chrono::{DateTime, Utc};
use cp_registry::{AccountId, ApiMethod, ChargingSession, StationId, StationLoad, StationStatus};

use crate::error::{ErrorKind, FailureKind};
use crate::outcome::WriteOutcome;

/// What the gateway tells whoever counts its calls.
pub trait CallObserver: Send + Sync + 'static {
    /// One attempt at one ChargePoint call finished (a retried call reports each attempt).
    fn call_finished(
        &self,
        _account: &AccountId,
        _op: ApiMethod,
        _elapsed: Duration,
        _outcome: Result<(), ErrorKind>,
    ) {
    }

    /// The account's plan refusal of `op` stands (`true`: the method is not asked again for an
    /// hour) or ended (`false`: the method was answered again).
    fn plan_refusal(&self, _account: &AccountId, _op: ApiMethod, _standing: bool) {}

    /// A failed attempt is about to be retried.
    fn call_retried(&self, _account: &AccountId, _op: ApiMethod) {}

    /// A retry waited this long for the account's rate limiter.
    fn rate_limit_waited(&self, _account: &AccountId, _waited: Duration) {}

    /// Calls on the wire for the account right now.
    fn calls_in_flight(&self, _account: &AccountId, _count: usize) {}

    /// A merged call went out for this many stations (getStationStatus with a list of IDs,
    /// getLoad by group).
    fn batch_sent(&self, _account: &AccountId, _op: ApiMethod, _stations: usize) {}

    /// The number of requests waiting in the account's queue (batching window and lanes).
    fn queue_depth(&self, _account: &AccountId, _depth: usize) {}

    /// A request was refused because the account's queue was full.
    fn overloaded(&self, _account: &AccountId) {}
}

/// What station actors and the supervisor tell whoever keeps fleet metrics.
pub trait StationObserver: Send + Sync + 'static {
    /// A station actor started; `writable` names the registry attributes it may write on
    /// behalf of `account`.
    fn station_started(&self, _station: &StationId, _account: &AccountId, _writable: &[&str]) {}

    /// A station left the fleet (removed or reloaded away): forget its series.
    fn station_removed(&self, _station: &StationId) {}

    /// The supervisor restarted a failed station actor.
    fn station_restarted(&self, _station: &StationId) {}

    /// After each scrape: whether the station (of `account`) counts as up.
    fn station_up(&self, _station: &StationId, _account: &AccountId, _up: bool) {}

    /// A scrape published after `elapsed` (from the tick to the publish).
    fn scrape_finished(&self, _station: &StationId, _elapsed: Duration, _at: DateTime<Utc>) {}

    /// After each scrape: how old the data of each method the station reads is, for every
    /// method that has answered at least once.
    fn data_ages(&self, _station: &StationId, _ages: &[DataAge]) {}

    /// A method's latest call was (or stopped being) refused by the account's plan.
    fn method_refused(&self, _station: &StationId, _op: ApiMethod, _refused: bool) {}

    /// A method started failing for the station with `kind` (or its kind changed), or stopped
    /// failing (`None`). Plan refusals go to [`StationObserver::method_refused`] instead.
    fn method_failing(&self, _station: &StationId, _op: ApiMethod, _kind: Option<FailureKind>) {}

    /// An answer of `op` for the station carried a number for `element` that cannot be true;
    /// its point has no value. Called for every such answer.
    fn value_refused(&self, _station: &StationId, _op: ApiMethod, _element: &str) {}

    /// A write of `attribute` to the station, on behalf of `account`, ended with `outcome`.
    fn write_finished(
        &self,
        _station: &StationId,
        _account: &AccountId,
        _attribute: &str,
        _outcome: &WriteOutcome,
    ) {
    }

    /// The station's alarms, after each scrape.
    fn alarms_active(&self, _station: &StationId, _alarms: usize) {}

    /// Fresh records, for telemetry gauges.
    fn load_observed(&self, _load: &StationLoad) {}
    fn status_observed(&self, _status: &StationStatus) {}
    fn session_observed(&self, _session: &ChargingSession) {}
}

/// How old one method's data was when a station published, and how old it may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataAge {
    pub method: ApiMethod,
    /// Since the method last answered.
    pub age: Duration,
    /// How often the station calls the method: its points' shortest Data Currency, at least
    /// the device's `cacheExpiration`. Data older than this is overdue.
    pub period: Duration,
}

impl DataAge {
    /// How far the data is past its period; zero while it is current.
    pub fn overdue(&self) -> Duration {
        self.age.saturating_sub(self.period)
    }
}

/// Observes nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoObserver;

impl CallObserver for NoObserver {}
impl StationObserver for NoObserver {}
