//! A port's registers: what the spec's write semantics remember per port, as plain data with
//! the rules that change it, tested without an actor.
//!
//! The latest getLoad and getStationStatus entries, the last-written limit (the *intent*:
//! allowedLoad or percentShed, never both), the shed the supervisor believes is in force, and a
//! clearShedState still owed. The port actor ([`super::PortActor`]) holds them and leaves a copy
//! with its station after every change, so a restarted port carries on with them.

use chrono::{DateTime, Utc};
use cp_registry::{PortLoad, PortNumber, PortStatus, StationId};
use tokio::time::Instant;

use crate::api::ShedLimit;

/// One port's registers as the supervisor knows them.
#[derive(Debug, Clone, PartialEq)]
pub struct PortRegisters {
    pub station: StationId,
    pub port: PortNumber,
    /// This port's entry of the latest getLoad, and when it arrived.
    pub load: Option<(PortLoad, DateTime<Utc>)>,
    /// This port's entry of the latest getStationStatus, and when it arrived.
    pub status: Option<(PortStatus, DateTime<Utc>)>,
    /// The last-written allowedLoad or percentShed: what the next shed uses.
    pub intent: Option<ShedLimit>,
    /// The shed the supervisor believes is in force (and keeps re-asserting).
    pub believed_shed: Option<ShedLimit>,
    /// Until when a clearShedState ChargePoint accepted is owed: while getLoad still shows the
    /// port shed, the station sends it again. Ends when getLoad shows the port unshed, when a
    /// new shed is applied, or at the end of the cleared shed's lease, when it lapses anyway
    /// (a shed made later by someone else is not fought).
    pub clear_owed_until: Option<Instant>,
    /// Whether a getLoad has been seen since the station started (the first one may adopt a
    /// shed).
    seen_load: bool,
}

impl PortRegisters {
    /// The registers of a port the supervisor knows nothing about yet.
    pub fn new(station: StationId, port: PortNumber) -> Self {
        PortRegisters {
            station,
            port,
            load: None,
            status: None,
            intent: None,
            believed_shed: None,
            clear_owed_until: None,
            seen_load: false,
        }
    }

    /// Stores observations. The first getLoad since the station started adopts a shed in force
    /// as believed (and as intent if none was written): a restarted supervisor keeps the port
    /// capped and re-asserts the lease instead of letting it lapse unnoticed. A restarted port
    /// keeps its registers, so it adopts nothing it had not believed (a shed it saw cleared
    /// stays cleared).
    pub fn on_observed(
        &mut self,
        load: Option<PortLoad>,
        status: Option<PortStatus>,
        at: DateTime<Utc>,
    ) {
        if let Some(load) = load {
            if !self.seen_load {
                self.seen_load = true;
                if load.shed_state && self.believed_shed.is_none() {
                    let limit = shown_limit(&load);
                    self.believed_shed = Some(limit);
                    self.intent.get_or_insert(limit);
                }
            }
            if !load.shed_state {
                self.clear_owed_until = None;
            }
            self.load = Some((load, at));
        }
        if let Some(status) = status {
            self.status = Some((status, at));
        }
    }

    /// See [`PortMessage::SetLimit`].
    pub fn on_set_limit(&mut self, limit: ShedLimit) -> Option<ShedLimit> {
        self.intent = Some(limit);
        self.believed_shed.map(|_| limit)
    }

    pub fn on_shed_applied(&mut self, limit: ShedLimit) {
        self.believed_shed = Some(limit);
        self.clear_owed_until = None;
    }

    pub fn on_shed_cleared(&mut self, retry_until: Instant) {
        self.believed_shed = None;
        self.clear_owed_until = Some(retry_until);
    }

    /// Whether a clearShedState should be sent again, `load` being the port's latest getLoad
    /// entry: one is owed, and the port still shows shed.
    pub fn owes_clear(&self, load: &PortLoad, now: Instant) -> bool {
        load.shed_state
            && self.believed_shed.is_none()
            && self.clear_owed_until.is_some_and(|until| now < until)
    }
}

/// The limit a shed port reports: allowedLoad when set, else percentShed.
pub fn shown_limit(load: &PortLoad) -> ShedLimit {
    if load.allowed_load > 0.0 {
        ShedLimit::AllowedLoad(load.allowed_load)
    } else {
        ShedLimit::PercentShed(load.percent_shed)
    }
}

/// Whether a getLoad entry shows `limit` in force. allowedLoad is compared to the watt, since
/// ChargePoint reports kW with three decimals.
pub fn shows_limit(load: &PortLoad, limit: ShedLimit) -> bool {
    load.shed_state
        && match limit {
            ShedLimit::AllowedLoad(kw) => (load.allowed_load - kw).abs() < 0.0005,
            ShedLimit::PercentShed(pct) => load.percent_shed == pct,
        }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(shed: bool, allowed: f64, pct: u8) -> PortLoad {
        PortLoad {
            port: PortNumber(1),
            user_id: None,
            credential_id: None,
            shed_state: shed,
            port_load: 0.0,
            allowed_load: allowed,
            percent_shed: pct,
        }
    }

    #[test]
    fn a_limit_written_to_an_unshed_port_is_only_stored() {
        let mut port = PortRegisters::new(StationId::new("1:1"), PortNumber(1));
        assert_eq!(port.on_set_limit(ShedLimit::AllowedLoad(3.0)), None);
        assert_eq!(port.intent, Some(ShedLimit::AllowedLoad(3.0)));
        // percentShed replaces allowedLoad: the intent holds one kind only.
        assert_eq!(port.on_set_limit(ShedLimit::PercentShed(40)), None);
        assert_eq!(port.intent, Some(ShedLimit::PercentShed(40)));
    }

    #[test]
    fn a_limit_written_to_a_shed_port_applies_at_once() {
        let mut port = PortRegisters::new(StationId::new("1:1"), PortNumber(1));
        port.on_shed_applied(ShedLimit::PercentShed(50));
        assert_eq!(
            port.on_set_limit(ShedLimit::AllowedLoad(2.5)),
            Some(ShedLimit::AllowedLoad(2.5))
        );
    }

    #[test]
    fn the_first_load_adopts_a_shed_in_force_and_later_ones_do_not() {
        let mut port = PortRegisters::new(StationId::new("1:1"), PortNumber(1));
        port.on_observed(Some(load(true, 4.0, 0)), None, Utc::now());
        assert_eq!(port.believed_shed, Some(ShedLimit::AllowedLoad(4.0)));
        assert_eq!(port.intent, Some(ShedLimit::AllowedLoad(4.0)));

        let mut fresh = PortRegisters::new(StationId::new("1:1"), PortNumber(1));
        fresh.on_observed(Some(load(false, 0.0, 0)), None, Utc::now());
        fresh.on_observed(Some(load(true, 0.0, 30)), None, Utc::now());
        assert_eq!(fresh.believed_shed, None);
    }

    #[test]
    fn a_clear_is_owed_while_load_shows_the_shed_within_its_lease() {
        let now = Instant::now();
        let lease_end = now + std::time::Duration::from_secs(15 * 60);
        let mut port = PortRegisters::new(StationId::new("1:1"), PortNumber(1));
        port.on_shed_applied(ShedLimit::AllowedLoad(3.0));
        port.on_shed_cleared(lease_end);
        let shed = load(true, 3.0, 0);
        assert!(port.owes_clear(&shed, now));
        assert!(
            !port.owes_clear(&shed, lease_end),
            "past the lease it lapses anyway"
        );
        assert!(!port.owes_clear(&load(false, 0.0, 0), now));

        port.on_observed(Some(load(false, 0.0, 0)), None, Utc::now());
        assert!(
            !port.owes_clear(&shed, now),
            "once seen unshed, a new shed is not ours"
        );

        port.on_shed_cleared(lease_end);
        port.on_shed_applied(ShedLimit::AllowedLoad(2.0));
        assert!(
            !port.owes_clear(&shed, now),
            "a new shed supersedes the clear"
        );
    }
}
