//! A port's registers: what the spec's write semantics remember per port, as plain data with
//! the rules that change it, tested without an actor.
//!
//! The latest getLoad and getStationStatus entries, the last-written limit (the *intent*:
//! allowedLoad or percentShed, never both), the shed the supervisor believes is in force, and a
//! clearShedState still owed. The port actor ([`super::PortActor`]) holds them and leaves a copy
//! with its station after every change, so a restarted port carries on with them.
//!
//! The whole station has registers of the same kind when its registry writes station-level
//! Load points (no `Port #`): [`LoadScope::Station`]. They hold the station's intent and the
//! station-wide shed believed in force; getLoad shows that shed only through the ports, read as
//! VOLTTRON's driver reads them ([`StationLoad::shed_shown`]). What getLoad shows of a scope is
//! here ([`LoadScope::shown`] and the read-back tests); the type itself is in [`crate::api`].

use chrono::{DateTime, Utc};
use cp_registry::{PortStatus, ShedShown, StationId, StationLoad};
use tokio::time::Instant;

use crate::api::{LoadScope, ShedLimit};
use crate::outcome::WriteId;

impl LoadScope {
    /// The shed this scope shows in a station's getLoad entry: the port's own entry (`None` if
    /// the answer lacks the port), or the station's reading of its ports.
    pub fn shown(self, load: &StationLoad) -> Option<ShedShown> {
        match self {
            LoadScope::Station => Some(load.shed_shown()),
            LoadScope::Port(port) => load
                .ports
                .iter()
                .find(|p| p.port == port)
                .map(cp_registry::PortLoad::shed_shown),
        }
    }

    /// Whether a getLoad entry shows `limit` in force on this scope: the write's read-back.
    ///
    /// A port shows it as its own allowedLoad or percentShed. A station shows it on every port,
    /// since getLoad has no station-level shed fields: each port shed with the station's
    /// percentShed, or with allowedLoads that add up to the station's (ChargePoint divides a
    /// station's allowedLoad between its ports; the simulator evenly) or that each equal it
    /// (the API guide does not say how getLoad reports the division, so that reading counts
    /// too). A port with its own, different shed hides the station's, and the write stays
    /// pending.
    pub fn shows_limit(self, load: &StationLoad, limit: ShedLimit) -> bool {
        match self {
            LoadScope::Port(_) => self
                .shown(load)
                .is_some_and(|shown| shows_limit(&shown, limit)),
            LoadScope::Station => {
                let ports = &load.ports;
                if ports.is_empty() || !ports.iter().all(|p| p.shed_state) {
                    return false;
                }
                match limit {
                    ShedLimit::PercentShed(pct) => ports.iter().all(|p| p.percent_shed == pct),
                    ShedLimit::AllowedLoad(kw) => {
                        let total: f64 = ports.iter().map(|p| p.allowed_load).sum();
                        // Each share is rounded to the watt.
                        let slack = KW_ROUNDING * ports.len() as f64;
                        (total - kw).abs() < slack
                            || ports
                                .iter()
                                .all(|p| (p.allowed_load - kw).abs() < KW_ROUNDING)
                    }
                }
            }
        }
    }

    /// Whether a getLoad entry shows this scope unshed: the port, or every port of the
    /// station (a station-wide clearShedState clears them all).
    pub fn shows_unshed(self, load: &StationLoad) -> bool {
        self.shown(load).is_some_and(|shown| !shown.shed_state)
    }
}

/// How closely getLoad's kW match a limit: ChargePoint reports kW with three decimals.
const KW_ROUNDING: f64 = 0.0005;

/// One port's registers (or the station's, see [`LoadScope`]) as the supervisor knows them.
#[derive(Debug, Clone, PartialEq)]
pub struct PortRegisters {
    pub station: StationId,
    pub scope: LoadScope,
    /// The shed the latest getLoad showed for the scope, and when it arrived.
    pub shown: Option<(ShedShown, DateTime<Utc>)>,
    /// This port's entry of the latest getStationStatus, and when it arrived (ports only).
    pub status: Option<(PortStatus, DateTime<Utc>)>,
    /// The last-written allowedLoad or percentShed: what the next shed uses.
    pub intent: Option<ShedLimit>,
    /// The shed the supervisor believes is in force (and keeps re-asserting).
    pub believed_shed: Option<ShedLimit>,
    /// Until when a clearShedState ChargePoint accepted is owed: while getLoad still shows the
    /// scope shed, the station sends it again. Ends when getLoad shows the scope unshed, when a
    /// new shed is applied, or at the end of the cleared shed's lease, when it lapses anyway
    /// (a shed made later by someone else is not fought).
    pub clear_owed_until: Option<Instant>,
    /// The write whose call ended unsettled and that is settling in the background (see
    /// `PortMessage::Unsettled`): the next shed or clear the port sends supersedes it.
    pub unsettled: Option<WriteId>,
    /// Whether a getLoad has been seen since the station started (the first one may adopt a
    /// shed).
    seen_load: bool,
}

impl PortRegisters {
    /// The registers of a scope the supervisor knows nothing about yet.
    pub fn new(station: StationId, scope: LoadScope) -> Self {
        PortRegisters {
            station,
            scope,
            shown: None,
            status: None,
            intent: None,
            believed_shed: None,
            clear_owed_until: None,
            unsettled: None,
            seen_load: false,
        }
    }

    /// Stores observations. The first getLoad since the station started adopts a port's shed
    /// in force as believed (and as intent if none was written): a restarted supervisor keeps
    /// the port capped and re-asserts the lease instead of letting it lapse unnoticed. A
    /// restarted port keeps its registers, so it adopts nothing it had not believed (a shed it
    /// saw cleared stays cleared). The station adopts nothing: getLoad cannot tell a
    /// station-wide shed from sheds of its ports, so one left by an earlier run lapses at its
    /// lease unless written again.
    pub fn on_observed(
        &mut self,
        shown: Option<ShedShown>,
        status: Option<PortStatus>,
        at: DateTime<Utc>,
    ) {
        if let Some(shown) = shown {
            if !self.seen_load {
                self.seen_load = true;
                let adopts = matches!(self.scope, LoadScope::Port(_));
                if adopts && shown.shed_state && self.believed_shed.is_none() {
                    let limit = shown_limit(&shown);
                    self.believed_shed = Some(limit);
                    self.intent.get_or_insert(limit);
                }
            }
            if !shown.shed_state {
                self.clear_owed_until = None;
            }
            self.shown = Some((shown, at));
        }
        if let Some(status) = status {
            self.status = Some((status, at));
        }
    }

    /// A written allowedLoad or percentShed becomes the intent; returned when the scope is
    /// shed, to be applied at once.
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

    /// A clearShedState of the whole station was accepted: a port's shed went with it. The
    /// intent stays, for the next shedState 1; no clear is owed by the port (the station's
    /// registers re-send the station's).
    pub fn on_station_cleared(&mut self) {
        self.believed_shed = None;
    }

    /// Whether a clearShedState should be sent again, `shown` being the scope's latest getLoad
    /// reading: one is owed, and the scope still shows shed.
    pub fn owes_clear(&self, shown: &ShedShown, now: Instant) -> bool {
        shown.shed_state
            && self.believed_shed.is_none()
            && self.clear_owed_until.is_some_and(|until| now < until)
    }
}

/// The limit a shed port reports: allowedLoad when set, else percentShed.
pub fn shown_limit(shown: &ShedShown) -> ShedLimit {
    if shown.allowed_load > 0.0 {
        ShedLimit::AllowedLoad(shown.allowed_load)
    } else {
        ShedLimit::PercentShed(shown.percent_shed)
    }
}

/// Whether a port's getLoad entry shows `limit` in force. allowedLoad is compared to the
/// watt, since ChargePoint reports kW with three decimals.
pub fn shows_limit(shown: &ShedShown, limit: ShedLimit) -> bool {
    shown.shed_state
        && match limit {
            ShedLimit::AllowedLoad(kw) => (shown.allowed_load - kw).abs() < KW_ROUNDING,
            ShedLimit::PercentShed(pct) => shown.percent_shed == pct,
        }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cp_registry::PortNumber;

    fn load(shed: bool, allowed: f64, pct: u8) -> ShedShown {
        ShedShown {
            shed_state: shed,
            allowed_load: allowed,
            percent_shed: pct,
        }
    }

    fn port_load(port: u16, shed: bool, allowed: f64, pct: u8) -> cp_registry::PortLoad {
        cp_registry::PortLoad {
            port: PortNumber(port),
            user_id: None,
            credential_id: None,
            shed_state: shed,
            port_load: 0.0,
            allowed_load: allowed,
            percent_shed: pct,
        }
    }

    fn station_load(ports: Vec<cp_registry::PortLoad>) -> StationLoad {
        StationLoad {
            station_id: StationId::new("1:1"),
            station_name: None,
            address: None,
            station_load: Some(0.0),
            ports,
            refused: Vec::new(),
        }
    }

    const PORT1: LoadScope = LoadScope::Port(PortNumber(1));

    #[test]
    fn a_limit_written_to_an_unshed_port_is_only_stored() {
        let mut port = PortRegisters::new(StationId::new("1:1"), PORT1);
        assert_eq!(port.on_set_limit(ShedLimit::AllowedLoad(3.0)), None);
        assert_eq!(port.intent, Some(ShedLimit::AllowedLoad(3.0)));
        // percentShed replaces allowedLoad: the intent holds one kind only.
        assert_eq!(port.on_set_limit(ShedLimit::PercentShed(40)), None);
        assert_eq!(port.intent, Some(ShedLimit::PercentShed(40)));
    }

    #[test]
    fn a_limit_written_to_a_shed_port_applies_at_once() {
        let mut port = PortRegisters::new(StationId::new("1:1"), PORT1);
        port.on_shed_applied(ShedLimit::PercentShed(50));
        assert_eq!(
            port.on_set_limit(ShedLimit::AllowedLoad(2.5)),
            Some(ShedLimit::AllowedLoad(2.5))
        );
    }

    #[test]
    fn the_first_load_adopts_a_shed_in_force_and_later_ones_do_not() {
        let mut port = PortRegisters::new(StationId::new("1:1"), PORT1);
        port.on_observed(Some(load(true, 4.0, 0)), None, Utc::now());
        assert_eq!(port.believed_shed, Some(ShedLimit::AllowedLoad(4.0)));
        assert_eq!(port.intent, Some(ShedLimit::AllowedLoad(4.0)));

        let mut fresh = PortRegisters::new(StationId::new("1:1"), PORT1);
        fresh.on_observed(Some(load(false, 0.0, 0)), None, Utc::now());
        fresh.on_observed(Some(load(true, 0.0, 30)), None, Utc::now());
        assert_eq!(fresh.believed_shed, None);
    }

    #[test]
    fn a_clear_is_owed_while_load_shows_the_shed_within_its_lease() {
        let now = Instant::now();
        let lease_end = now + std::time::Duration::from_secs(15 * 60);
        let mut port = PortRegisters::new(StationId::new("1:1"), PORT1);
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

    #[test]
    fn the_station_adopts_no_shed_and_owes_a_clear_while_any_port_shows_one() {
        let now = Instant::now();
        let mut station = PortRegisters::new(StationId::new("1:1"), LoadScope::Station);
        station.on_observed(Some(load(true, 3.0, 0)), None, Utc::now());
        assert_eq!(
            station.believed_shed, None,
            "a port's shed is not the station's"
        );
        assert_eq!(station.intent, None);
        station.on_shed_applied(ShedLimit::AllowedLoad(6.0));
        station.on_shed_cleared(now + std::time::Duration::from_secs(60));
        assert!(station.owes_clear(&load(true, 3.0, 0), now));
    }

    #[test]
    fn a_station_clear_ends_a_ports_shed_but_keeps_its_intent() {
        let mut port = PortRegisters::new(StationId::new("1:1"), PORT1);
        port.on_set_limit(ShedLimit::AllowedLoad(2.0));
        port.on_shed_applied(ShedLimit::AllowedLoad(2.0));
        port.on_station_cleared();
        assert_eq!(port.believed_shed, None);
        assert_eq!(port.intent, Some(ShedLimit::AllowedLoad(2.0)));
        assert_eq!(
            port.clear_owed_until, None,
            "the station re-sends its own clear"
        );
    }

    #[test]
    fn a_station_shows_its_limit_on_every_port() {
        let kw = ShedLimit::AllowedLoad(5.0);
        let station = LoadScope::Station;
        // Divided between the ports, each share to the watt (5 / 3 kW reads 1.667).
        let shares = station_load((1..=3).map(|p| port_load(p, true, 1.667, 0)).collect());
        assert!(station.shows_limit(&shares, kw));
        let whole = station_load((1..=2).map(|p| port_load(p, true, 5.0, 0)).collect());
        assert!(station.shows_limit(&whole, kw));
        let one_unshed = station_load(vec![
            port_load(1, true, 5.0, 0),
            port_load(2, false, 0.0, 0),
        ]);
        assert!(!station.shows_limit(&one_unshed, kw));
        let pct = station_load((1..=2).map(|p| port_load(p, true, 0.0, 40)).collect());
        assert!(station.shows_limit(&pct, ShedLimit::PercentShed(40)));
        assert!(!station.shows_limit(&pct, ShedLimit::PercentShed(30)));
        assert!(!station.shows_limit(&station_load(Vec::new()), kw));
        assert!(!station.shows_unshed(&one_unshed));
        assert!(PORT1.shows_limit(&one_unshed, kw));
        assert!(LoadScope::Port(PortNumber(2)).shows_unshed(&one_unshed));
    }
}
