//! The port actor: one port's register state.
//!
//! It holds what the spec's write semantics need to remember per port: the latest getLoad and
//! getStationStatus entries, the last-written limit (the *intent*: allowedLoad or percentShed,
//! never both), and the shed the supervisor believes is in force. The station actor feeds it
//! observations and asks it, from its write tasks, what a write means; the port never calls
//! ChargePoint.
//!
//! The registers outlive the actor: after every message that changes them, the port leaves a
//! copy with its station, and a port that fails is restarted from that copy, so it carries on
//! with the intent, believed shed and observations it had.

use chrono::{DateTime, Utc};
use cp_registry::{PortLoad, PortNumber, PortStatus, StationId};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::api::ShedLimit;

/// The port actor; all state lives in [`PortState`].
pub struct PortActor;

/// What [`PortActor`] needs to start.
pub struct PortArguments {
    /// Where the port keeps its registers; the port starts from the registers it holds.
    pub kept: watch::Sender<PortRegisters>,
}

impl PortArguments {
    /// A port starting from `registers`, and the receiver its station reads the port's latest
    /// registers from (to restart it from them, should it fail).
    pub fn new(registers: PortRegisters) -> (Self, watch::Receiver<PortRegisters>) {
        let (kept, receiver) = watch::channel(registers);
        (PortArguments { kept }, receiver)
    }
}

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

/// The port actor's state.
pub struct PortState {
    registers: PortRegisters,
    /// The station's copy of `registers`, replaced after each message that changes them. The
    /// station holds the receiver; when this actor fails the sender drops with it, and the
    /// station restarts the port from the last registers sent: those of the last message the
    /// port handled in full. A watch rather than a report to the station's mailbox because
    /// ractor hands a supervisor the failure of its child ahead of messages already queued, so
    /// a report could arrive after the restart it should have seeded.
    kept: watch::Sender<PortRegisters>,
}

/// The port's mailbox.
pub enum PortMessage {
    /// The latest getLoad / getStationStatus entries for the port. Sent after each poll; a
    /// `None` leaves that register as it was.
    Observed {
        load: Option<PortLoad>,
        status: Option<PortStatus>,
        at: DateTime<Utc>,
    },
    /// allowedLoad or percentShed was written: store it as the intent (replacing the other
    /// kind). Replies the limit to apply at once when the port is believed shed.
    SetLimit {
        limit: ShedLimit,
        reply: RpcReplyPort<Option<ShedLimit>>,
    },
    /// Forget the intent (a revert to "never written").
    ClearIntent,
    /// ChargePoint accepted a shed of the port with `limit`.
    ShedApplied { limit: ShedLimit },
    /// ChargePoint accepted a clearShedState of the port; it is owed until `retry_until`.
    ShedCleared { retry_until: Instant },
    /// The port's registers.
    Get { reply: RpcReplyPort<PortRegisters> },
    /// Chaos hook (tests and the `chaos` feature): the handler panics, as a bug would.
    #[cfg(any(test, feature = "chaos"))]
    InjectPanic,
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
                    let limit = limit_in_force(&load);
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
pub fn limit_in_force(load: &PortLoad) -> ShedLimit {
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

impl PortState {
    /// Applies `change` to the registers and keeps the result with the station.
    fn update<R>(&mut self, change: impl FnOnce(&mut PortRegisters) -> R) -> R {
        let result = change(&mut self.registers);
        // Nobody waits for a change: the station reads the copy only to restart the port.
        self.kept.send_replace(self.registers.clone());
        result
    }
}

impl Actor for PortActor {
    type Msg = PortMessage;
    type State = PortState;
    type Arguments = PortArguments;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        args: PortArguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        let registers = args.kept.borrow().clone();
        Ok(PortState {
            registers,
            kept: args.kept,
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        // A failed reply send means the asker timed out; it has nothing left to learn.
        match message {
            PortMessage::Observed { load, status, at } => {
                state.update(|r| r.on_observed(load, status, at))
            }
            PortMessage::SetLimit { limit, reply } => {
                let _ = reply.send(state.update(|r| r.on_set_limit(limit)));
            }
            PortMessage::ClearIntent => state.update(|r| r.intent = None),
            PortMessage::ShedApplied { limit } => state.update(|r| r.on_shed_applied(limit)),
            PortMessage::ShedCleared { retry_until } => {
                state.update(|r| r.on_shed_cleared(retry_until))
            }
            PortMessage::Get { reply } => {
                let _ = reply.send(state.registers.clone());
            }
            #[cfg(any(test, feature = "chaos"))]
            PortMessage::InjectPanic => panic!(
                "injected panic in port {} of station {}",
                state.registers.port, state.registers.station
            ),
        }
        Ok(())
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

    #[tokio::test]
    async fn the_kept_registers_are_those_of_the_last_message_before_a_panic() {
        let registers = PortRegisters::new(StationId::new("1:1"), PortNumber(1));
        let (args, kept) = PortArguments::new(registers);
        let (port, join) = Actor::spawn(None, PortActor, args).await.unwrap();
        let apply = ractor::call_t!(
            port,
            |reply| PortMessage::SetLimit {
                limit: ShedLimit::AllowedLoad(3.0),
                reply
            },
            1_000
        )
        .unwrap();
        assert_eq!(apply, None);
        port.cast(PortMessage::ShedApplied {
            limit: ShedLimit::AllowedLoad(3.0),
        })
        .unwrap();
        port.cast(PortMessage::InjectPanic).unwrap();
        join.await.unwrap();
        let last = kept.borrow().clone();
        assert_eq!(last.intent, Some(ShedLimit::AllowedLoad(3.0)));
        assert_eq!(last.believed_shed, Some(ShedLimit::AllowedLoad(3.0)));

        // A port started from them answers with them.
        let (args, _kept) = PortArguments::new(last.clone());
        let (again, _) = Actor::spawn(None, PortActor, args).await.unwrap();
        let registers = ractor::call_t!(again, |reply| PortMessage::Get { reply }, 1_000).unwrap();
        assert_eq!(registers, last);
        again.stop(None);
    }
}
