//! The ChargePoint simulator: a real SOAP 5.0 server on loopback over a simulated fleet.
//!
//! Run it with `chargepoint-supervisor sim` (flags in [`SimArgs`]), or start it in-process with
//! [`start`]; tests get a [`SimHandle`] with the endpoint, the admin URL and the shared state.
//!
//! Layout:
//! - `clock`: simulated time, real-time, scaled or stepped.
//! - `layout`: accounts, plans, organisations, station groups, static station facts.
//! - `station`: one station's changing state (sessions, load, sheds, alarms).
//! - `fleet`: the whole fleet and its answer to each of the nine requests.
//! - `faults`: fault-injection rules and their syntax.
//! - `calls`: the log of what went on the wire.
//! - `state`: what every request shares (fleet, clock, fault rules, call log).
//! - `server`: the HTTP server (SOAP endpoint, WSDL, connection handling).
//! - `admin`: the `/admin` JSON endpoint.
//! - `cli`: `SimArgs` and `run_sim`.
//!
//! # Accounts
//! Account `k` logs in as `account<k>` / `sim-password-<k>` (the simulator's public test
//! credentials). Odd accounts have the full plan; even accounts are restricted. Station IDs are
//! `k:<k×10000+n>` (`1:10001`, `2:20001`); sgIDs are `k×1000` (whole organisation) and
//! `k×1000+g` (groups of `stations_per_group`).
//!
//! # What the simulator answers
//! Authentication comes first: a missing or wrong `UsernameToken` gets a SOAP Fault (HTTP 500)
//! with faultcode `wsse:InvalidSecurity` and faultstring "UsernameToken processing failed". A
//! `SOAPAction` header naming another operation gets a `soap:Client` fault. A body that is not
//! a SOAP envelope, or names an unknown operation, gets a `soap:Client` fault.
//!
//! Every `responseCode` the simulator emits on its own (fault injection can add any other):
//!
//! | code | when |
//! |---|---|
//! | `100` | success, "API input request executed successfully." |
//! | `101` ([`codes::PLAN_RIGHTS`]) | a restricted-plan account calls getLoad, shedLoad or clearShedState |
//! | `102` ([`codes::NO_STATION`]) | no station matches: an unknown stationID or sgID, or one of another account (every method that names one) |
//! | `120` ([`codes::INVALID_INPUT`]) | unacceptable content: percentShed over 100, allowedLoad negative, a port the station lacks, a shed with no limit, a group shed naming ports, an sgID that is not a number, or a request the codec cannot read as its operation (answered before authentication: the codec does not hand over the header of such a request) |
//! | `136` ([`codes::NO_SESSIONS`]) | getChargingSessionData finds no session |
//! | `153` ([`codes::NO_ALARMS`]) | getAlarms finds no alarm; clearAlarms finds nothing to clear |
//!
//! `140` ([`codes::RATE_LIMITED`]) is sent only when injected (`code:140` / `rate-limited`).
//!
//! # Paging
//! `startRecord` counts from 1. getStations: at most 500 a page (`numStations` caps it lower),
//! `moreFlag`. getChargingSessionData: at most 100 a page, oldest first, `MoreFlag`.
//! getStationStatus (`numStations`), getAlarms (`numTransactions`), getStationRights: 500 a
//! page unless the request asks for fewer, `moreFlag`.
//!
//! # Time
//! The model moves in whole simulated minutes from `start − history`: sessions start and end,
//! alarms rise and sheds lapse on the minute, and each request catches up only the stations
//! it reads, to the clock's time. A station's course depends on the seed alone, never on when
//! or how often it was asked, so answers are the same as if every station were stepped on
//! every request. A new shed caps the reported load at once; a lapsed one is no longer reported
//! from its lapse time; a reachable port's status timestamp is the time of the request.
//!
//! # Sheds
//! A port-level shed caps that port; a station-level shed caps each port at its even share of
//! allowedLoad (or at `100 − percentShed` % of its nameplate); a group shed sets a
//! station-level shed on every station of the group. `timeInterval` 0 (or empty or missing)
//! lasts until clearShedState; otherwise the shed lapses after that many minutes. getLoad
//! reports `shedState` 1 with the allowedLoad / percentShed in force on the port.
//!
//! A station-level shed is the simulator's choice where the API guide is silent: the guide
//! says only that a station's allowedLoad is divided between its ports, and getLoad has no
//! station-level shed fields. So each port, charging or not, gets an even share (a 2-port
//! station shed at 6 kW caps each port at 3 kW), and getLoad shows the shed on every port as
//! that share (or as the station's percentShed). VOLTTRON's driver reads a station-level
//! allowedLoad as the largest among the shed ports, so it reads one share, 3 kW, not the 6 kW
//! written; the supervisor reads it the same way and confirms a station shed by the shares
//! adding up to it. A port's own shed and the station's both hold (the port draws at most the
//! tighter), and getLoad shows the port's own. clearShedState for the station lifts the
//! station's shed and every port's; for some ports, only those ports' own.
//!
//! # Admin endpoint
//! JSON, under `/admin` on the same listener as the SOAP endpoint ([`SimHandle::admin_url`]),
//! without credentials (the simulator is a loopback test fixture). Fault rules use the syntax
//! documented on [`FaultRule`].
//!
//! | route | what it does |
//! |---|---|
//! | `GET /admin` | endpoint, simulated time, accounts and plans, station count |
//! | `GET /admin/calls` | call counts per method and per account, the last requests received |
//! | `DELETE /admin/calls` | forgets the call log |
//! | `GET /admin/faults` | the fault rules in force |
//! | `POST /admin/faults` `{"spec": "getLoad=http503:next=3"}` | adds a rule |
//! | `DELETE /admin/faults` | drops every rule |
//! | `POST /admin/advance?seconds=N` | moves simulated time forward N seconds |
//! | `GET /admin/stations/{stationID}/ports/{port}` | a port's status, load, shed and allowed load |
//!
//! [`codes::PLAN_RIGHTS`]: crate::soap::ops::codes::PLAN_RIGHTS
//! [`codes::NO_STATION`]: crate::soap::ops::codes::NO_STATION
//! [`codes::INVALID_INPUT`]: crate::soap::ops::codes::INVALID_INPUT
//! [`codes::NO_SESSIONS`]: crate::soap::ops::codes::NO_SESSIONS
//! [`codes::NO_ALARMS`]: crate::soap::ops::codes::NO_ALARMS
//! [`codes::RATE_LIMITED`]: crate::soap::ops::codes::RATE_LIMITED

mod admin;
mod calls;
mod cli;
mod clock;
mod faults;
mod fleet;
mod layout;
mod server;
mod state;
mod station;

use std::net::SocketAddr;

pub use admin::AdminError;
pub use calls::{CallLog, CallRecord};
pub use cli::{run_sim, SimArgs};
pub use clock::SimClock;
pub use faults::{FaultDecision, FaultKind, FaultRule, FaultSpecError, FaultTable};
pub use fleet::{AccountRef, PortSnapshot, SimFleet, MAX_SESSIONS_PAGE, MAX_STATIONS_PAGE};
pub use layout::{AccountSpec, Plan, SimFleetConfig};
pub use server::{
    router, start, ResetConnection, SimConfig, SimHandle, MAX_REQUEST_BYTES, SOAP_PATH,
};
pub use state::SimState;

/// Why the simulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The fleet shape is out of what the naming scheme can hold.
    #[error("invalid simulator configuration: {0}")]
    InvalidConfig(String),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// Building the fleet's history panicked (a bug in the model).
    #[error("building the simulated fleet failed")]
    FleetBuild,
    /// A fault rule could not be put in force.
    #[error(transparent)]
    Fault(FaultSpecError),
}
