//! The simulator's shared state: the fleet, simulated time, fault rules and the call log, as
//! every request (SOAP or admin) sees them.

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::calls::CallLog;
use super::clock::SimClock;
use super::faults::{FaultRule, FaultSpecError, FaultTable};
use super::fleet::{PortSnapshot, SimFleet};

/// The state every request shares. std Mutexes: each is held for in-memory work only, never
/// across an await.
#[derive(Debug)]
pub struct SimState {
    pub(super) fleet: Mutex<SimFleet>,
    pub(super) clock: SimClock,
    pub(super) faults: Mutex<FaultTable>,
    pub(super) calls: Mutex<CallLog>,
    pub(super) endpoint: String,
    /// Cancelled when the server shuts down: hung and delayed answers give up on it.
    pub(super) shutdown: CancellationToken,
}

pub(super) fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks cannot leave the data half-written in a way
    // later calls depend on (each critical section is one model step or one counter update).
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl SimState {
    /// The full SOAP endpoint URL.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Simulated now.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    /// Moves simulated time forward and runs the whole fleet up to it, so the next calls find
    /// the work done (their answers would be the same either way).
    pub fn advance(&self, by: Duration) {
        self.clock.advance(by);
        self.sync_fleet();
    }

    /// Adds a fault rule written as on the command line.
    ///
    /// # Errors
    /// [`FaultSpecError`] if the spec does not parse or too many rules are in force.
    pub fn add_fault(&self, spec: &str) -> Result<FaultRule, FaultSpecError> {
        let rule = FaultRule::parse(spec)?;
        locked(&self.faults).add(rule.clone())?;
        Ok(rule)
    }

    /// Drops every fault rule.
    pub fn clear_faults(&self) {
        locked(&self.faults).clear();
    }

    /// The fault rules in force.
    pub fn faults(&self) -> Vec<FaultRule> {
        locked(&self.faults).rules().to_vec()
    }

    /// A copy of the call log.
    pub fn calls(&self) -> CallLog {
        locked(&self.calls).clone()
    }

    /// Forgets every logged call.
    pub fn reset_calls(&self) {
        *locked(&self.calls) = CallLog::default();
    }

    /// A port's state at simulated now.
    pub fn port(
        &self,
        station: &cp_registry::StationId,
        port: cp_registry::PortNumber,
    ) -> Option<PortSnapshot> {
        let mut fleet = locked(&self.fleet);
        fleet.set_time(self.clock.now());
        fleet.port_snapshot(station, port)
    }

    /// Runs `f` on the fleet, moved to simulated now (its answers catch up the stations they
    /// read).
    pub fn with_fleet<T>(&self, f: impl FnOnce(&mut SimFleet) -> T) -> T {
        let mut fleet = locked(&self.fleet);
        fleet.set_time(self.clock.now());
        f(&mut fleet)
    }

    fn sync_fleet(&self) {
        locked(&self.fleet).advance_to(self.clock.now());
    }
}
