//! The port actor: one port's registers and every write to them.
//!
//! The station routes a checked write here ([`PortMessage::Write`]); the port owns the rest:
//! its intent (the last-written allowedLoad or percentShed), the shed it believes in force,
//! the lease renewal of that shed, the re-sends of a clear getLoad does not show, and the
//! read-back that confirms a write (the calls themselves are in [`write`]). Writes to one port
//! run one at a time, in the order they arrived; writes to different ports run side by side.
//!
//! Writes waiting for the port's call lane coalesce: a write to a point supersedes the writes
//! to the same point queued right before it (the latest wins, the others are answered
//! `superseded` and never sent), and at most [`MAX_QUEUED_PER_PORT`] jobs wait. A write whose
//! call ends unsettled (accepted but not shown yet, or its answer lost and getLoad unreadable)
//! frees the lane and settles in the background; the next shed or clear the port sends
//! supersedes it, so a stale write never settles against a newer one's effect (see
//! [`write`]). Every write carries a [`WriteTicket`], which answers its caller and settles its
//! entry in the fleet's write log.
//!
//! The registers outlive the actor: after every message that changes them, the port leaves a
//! copy with its station, and a port that fails is restarted from that copy. A call in flight
//! when the port fails goes on in its task, answers its caller, and reports to the new port.
//!
//! A station whose registry writes station-level Load points (no `Port #`) runs one more of
//! these actors, for [`crate::api::LoadScope::Station`]: the same registers, queue, lease and
//! read-back, with shedLoad and clearShedState addressed to the whole station. Its writes run
//! side by side with the ports', as the ports' run side by side with each other's.

mod registers;
mod ticket;
mod write;

use std::collections::VecDeque;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use cp_registry::{PortStatus, ShedShown};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

pub use registers::PortRegisters;
pub use ticket::WriteTicket;
pub use write::{
    PlanRefusals, PortAddress, PortContext, PortTasks, ReadBackSink, StationClearedSink,
};

use crate::api::ShedLimit;
use crate::device::DeviceError;
use crate::outcome::WriteId;
use crate::outcome::WriteOutcome;
pub(crate) use write::report_write;
use write::{Expect, PortCalls, Settle};

/// Jobs (writes, renewals, clear re-sends) that may wait for a port's call lane. Writes to one
/// point coalesce, so only writes alternating between a port's points pile up; beyond this the
/// caller is asked to try again rather than the queue growing without end.
pub const MAX_QUEUED_PER_PORT: usize = 64;

/// The port actor; all state lives in [`PortState`].
pub struct PortActor;

/// What [`PortActor`] needs to start.
pub struct PortArguments {
    pub context: Arc<PortContext>,
    /// Where the port keeps its registers; the port starts from the registers it holds.
    pub kept: watch::Sender<PortRegisters>,
    /// The port actor running now, kept up to date by the station: how the port's tasks reach
    /// it across a restart.
    pub address: PortAddress,
}

/// A write of one of the port's points, checked by the station.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PortWrite {
    /// allowedLoad / percentShed: store the intent; shed at once if the port is shed.
    Limit(ShedLimit),
    /// Forget the intent (revert of a limit that was never set).
    ClearIntent,
    /// shedState=1: shed with the stored intent.
    Shed,
    /// shedState=0.
    ClearShed,
}

impl PortWrite {
    /// Whether the write alone decides its point's state, whatever was written to the point
    /// before, so a write of the point still queued before it can be dropped. Forgetting the
    /// intent does not: it sends nothing, so a limit queued before it would have applied.
    fn decides_point(self) -> bool {
        !matches!(self, PortWrite::ClearIntent)
    }
}

/// Who waits for a write's outcome.
pub type WriteReplyPort = RpcReplyPort<Result<WriteOutcome, DeviceError>>;

/// The port's mailbox.
pub enum PortMessage {
    /// The latest getLoad reading (the port's entry, or the station's reading of its ports)
    /// and getStationStatus entry. Sent after each poll and read-back; a `None` leaves that
    /// register as it was.
    Observed {
        shed: Option<ShedShown>,
        status: Option<PortStatus>,
        at: DateTime<Utc>,
    },
    /// A write of `point`, run after the writes before it; it supersedes the writes of
    /// `point` queued right before it.
    Write {
        point: String,
        write: PortWrite,
        ticket: WriteTicket,
    },
    /// A write's call ended without settling it: it settles in the background, unless the
    /// next shed or clear of the port supersedes it first. From the write's task, before its
    /// `CallFinished`.
    Unsettled { write: WriteId },
    /// A write whose answer was lost, settling in the background, read back in force: the port
    /// takes it as applied (and renews it, or owes its clear), unless a later call has
    /// superseded it meanwhile. From the write's task; may arrive after that later call.
    LostWriteShown { write: WriteId, expect: Expect },
    /// ChargePoint accepted a shed of the port with `limit` (from a write task, which may have
    /// been started by the port's predecessor).
    ShedApplied { limit: ShedLimit },
    /// ChargePoint accepted a clearShedState of the port; it is owed until `retry_until`.
    ShedCleared { retry_until: Instant },
    /// ChargePoint accepted a clearShedState of the whole station, which lifts this port's
    /// shed too (from the station, told by its station-level write). Writes to the station and
    /// to the port run side by side, so it may arrive after a shed of the port the clear did
    /// not lift: the port then stops renewing that shed, which lapses at its lease.
    StationCleared,
    /// The running call has ended; the next queued write may start. From a task that may have
    /// been started by the port's predecessor, so it can arrive while nothing runs.
    CallFinished,
    /// The lease timer: renew the shed believed in force.
    LeaseTick,
    /// The port's registers (tests).
    #[cfg(test)]
    Get { reply: RpcReplyPort<PortRegisters> },
    /// Chaos hook (tests and the `chaos` feature): the handler panics, as a bug would.
    #[cfg(any(test, feature = "chaos"))]
    InjectPanic,
}

/// Work waiting for the port's single call lane.
enum PortJob {
    Write {
        point: String,
        write: PortWrite,
        ticket: WriteTicket,
    },
    /// The lease renewal.
    Renew,
    /// A clear getLoad does not show yet, sent again.
    ResendClear,
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
    calls: PortCalls,
    /// Writes and retries waiting for the call in flight.
    queue: VecDeque<PortJob>,
    /// Whether a call is in flight (its task sends [`PortMessage::CallFinished`]).
    calling: bool,
    /// The lease timer; aborted when the port stops.
    lease_timer: Option<JoinHandle<()>>,
}

impl PortState {
    /// Applies `change` to the registers and keeps the result with the station.
    fn update<R>(&mut self, change: impl FnOnce(&mut PortRegisters) -> R) -> R {
        let result = change(&mut self.registers);
        // Nobody waits for a change: the station reads the copy only to restart the port.
        self.kept.send_replace(self.registers.clone());
        result
    }

    fn on_observed(
        &mut self,
        shed: Option<ShedShown>,
        status: Option<PortStatus>,
        at: DateTime<Utc>,
    ) {
        let owes_clear = shed
            .as_ref()
            .is_some_and(|s| self.registers.owes_clear(s, Instant::now()));
        self.update(|r| r.on_observed(shed, status, at));
        // Re-sent once per getLoad that still shows the shed, and only when nothing else is
        // queued: a write behind it may shed the port again.
        if owes_clear && !self.calling && self.queue.is_empty() {
            self.queue.push_back(PortJob::ResendClear);
            self.start_next();
        }
    }

    fn enqueue(&mut self, job: PortJob) {
        if self.queue.len() >= MAX_QUEUED_PER_PORT {
            if let PortJob::Write { ticket, .. } = job {
                ticket.settle(Err(DeviceError::PortBusy {
                    device: self.calls.context.device.clone(),
                    scope: self.registers.scope,
                    queued: self.queue.len(),
                }));
            }
            // A renewal or clear re-send dropped here comes again with the next tick or
            // getLoad.
            return;
        }
        self.queue.push_back(job);
        self.start_next();
    }

    /// Queues a write after the writes before it. The writes of the same point queued right
    /// before it (renewals and clear re-sends in between read the registers only when they
    /// run) are dropped and answered `superseded`: the latest write of a point wins, and only
    /// it is sent.
    fn enqueue_write(&mut self, point: String, write: PortWrite, ticket: WriteTicket) {
        if write.decides_point() {
            let by = ticket.id();
            let mut index = self.queue.len();
            while index > 0 {
                index -= 1;
                match &self.queue[index] {
                    PortJob::Write { point: queued, .. } if *queued == point => {
                        if let Some(PortJob::Write { ticket, .. }) = self.queue.remove(index) {
                            ticket.settle(Ok(WriteOutcome::Superseded { by }));
                        }
                    }
                    PortJob::Write { .. } => break,
                    PortJob::Renew | PortJob::ResendClear => {}
                }
            }
        }
        self.enqueue(PortJob::Write {
            point,
            write,
            ticket,
        });
    }

    /// The lease timer: a renewal, unless one is waiting already.
    fn on_lease_tick(&mut self) {
        if !self.queue.iter().any(|job| matches!(job, PortJob::Renew)) {
            self.enqueue(PortJob::Renew);
        }
    }

    /// A call for write `by` is about to go out: the write left unsettled before it, if any,
    /// is superseded (its background settling stops at its next look).
    fn supersede_unsettled(&mut self, by: WriteId) {
        if let Some(unsettled) = self.update(|r| r.unsettled.take()) {
            self.calls
                .context
                .writes
                .settle(unsettled, WriteOutcome::Superseded { by });
        }
    }

    /// See [`PortMessage::LostWriteShown`].
    fn on_lost_write_shown(&mut self, write: WriteId, expect: Expect) {
        if self.registers.unsettled != Some(write) {
            return;
        }
        let lease = self.calls.context.options.lease();
        self.update(|r| {
            r.unsettled = None;
            match expect {
                Expect::Limit(limit) => r.on_shed_applied(limit),
                Expect::Unshed => r.on_shed_cleared(Instant::now() + lease),
            }
        });
        if expect == Expect::Unshed && self.registers.scope == crate::api::LoadScope::Station {
            (self.calls.context.station_cleared)();
        }
    }

    fn on_call_finished(&mut self) {
        self.calling = false;
        self.start_next();
    }

    /// Starts queued jobs until one needs a call (or the queue is empty).
    fn start_next(&mut self) {
        while !self.calling {
            let Some(job) = self.queue.pop_front() else {
                return;
            };
            self.calling = self.start(job);
        }
    }

    /// Starts `job`; says whether it made a call (which reports [`PortMessage::CallFinished`]).
    fn start(&mut self, job: PortJob) -> bool {
        let calls = self.calls.clone();
        match job {
            PortJob::Write {
                point,
                write,
                mut ticket,
            } => match self.plan(&point, write) {
                // Only the intent changed; nothing was sent, so nothing is confirmed.
                Ok(None) => {
                    ticket.settle(Ok(WriteOutcome::Stored));
                    false
                }
                Err(e) => {
                    ticket.settle(Err(e));
                    false
                }
                Ok(Some(call)) => {
                    if let Some(known) = calls.context.plan_refusals.of(call.method()) {
                        let reason = format!("{known} (refused before; not sent again)");
                        ticket.settle(Ok(WriteOutcome::Refused { reason }));
                        return false;
                    }
                    self.supersede_unsettled(ticket.id());
                    ticket.mark_sent();
                    self.spawn_call(async move {
                        let settle = match call {
                            PortCall::Shed(limit) => calls.shed(limit).await,
                            PortCall::Clear => calls.clear().await,
                        };
                        match settle {
                            Ok(Settle::Done(outcome)) => {
                                // The port hears of the call before its caller, so the
                                // caller's next write finds the port ready.
                                calls.tell(PortMessage::CallFinished).await;
                                ticket.settle(Ok(outcome));
                            }
                            Err(e) => {
                                calls.tell(PortMessage::CallFinished).await;
                                ticket.settle(Err(e));
                            }
                            Ok(Settle::Later(unsettled)) => {
                                let write = ticket.id();
                                calls.tell(PortMessage::Unsettled { write }).await;
                                calls.tell(PortMessage::CallFinished).await;
                                ticket.answer_pending();
                                calls.settle_later(unsettled, ticket).await;
                            }
                        }
                    });
                    true
                }
            },
            PortJob::Renew => match self.registers.believed_shed {
                Some(limit) => {
                    self.spawn_call(async move {
                        calls.renew(limit).await;
                        calls.tell(PortMessage::CallFinished).await;
                    });
                    true
                }
                None => false,
            },
            PortJob::ResendClear => {
                // A write queued before this one may have shed the port again.
                let owed = self
                    .registers
                    .shown
                    .as_ref()
                    .is_some_and(|(shown, _)| self.registers.owes_clear(shown, Instant::now()));
                if owed {
                    self.spawn_call(async move {
                        calls.resend_clear().await;
                        calls.tell(PortMessage::CallFinished).await;
                    });
                }
                owed
            }
        }
    }

    /// What a write does to the registers, and the call it needs, if any.
    fn plan(&mut self, point: &str, write: PortWrite) -> Result<Option<PortCall>, DeviceError> {
        match write {
            PortWrite::Limit(limit) => {
                Ok(self.update(|r| r.on_set_limit(limit)).map(PortCall::Shed))
            }
            PortWrite::ClearIntent => {
                self.update(|r| r.intent = None);
                Ok(None)
            }
            PortWrite::Shed => match self.registers.intent {
                Some(limit) => Ok(Some(PortCall::Shed(limit))),
                None => Err(DeviceError::NoShedIntent {
                    device: self.calls.context.device.clone(),
                    point: point.to_string(),
                    scope: self.registers.scope,
                }),
            },
            PortWrite::ClearShed => Ok(Some(PortCall::Clear)),
        }
    }

    /// Runs a call in a task the station owns (see [`PortTasks`]).
    fn spawn_call(&self, call: impl std::future::Future<Output = ()> + Send + 'static) {
        self.calls.context.tasks.spawn(call);
    }

    fn arm_lease_timer(&mut self, myself: &ActorRef<PortMessage>) {
        let period = self.calls.context.options.renewal_period();
        // The interval ends by itself once this actor is gone; it is also aborted on stop.
        self.lease_timer = Some(myself.send_interval(period, || PortMessage::LeaseTick));
    }
}

/// The call a write needs.
enum PortCall {
    Shed(ShedLimit),
    Clear,
}

impl PortCall {
    fn method(&self) -> cp_registry::ApiMethod {
        match self {
            PortCall::Shed(_) => cp_registry::ApiMethod::ShedLoad,
            PortCall::Clear => cp_registry::ApiMethod::ClearShedState,
        }
    }
}

impl Actor for PortActor {
    type Msg = PortMessage;
    type State = PortState;
    type Arguments = PortArguments;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: PortArguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        let registers = args.kept.borrow().clone();
        let scope = registers.scope;
        let mut state = PortState {
            registers,
            kept: args.kept,
            calls: PortCalls {
                context: args.context,
                scope,
                address: args.address,
            },
            queue: VecDeque::new(),
            calling: false,
            lease_timer: None,
        };
        state.arm_lease_timer(&myself);
        Ok(state)
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        if let Some(timer) = state.lease_timer.take() {
            timer.abort();
        }
        Ok(())
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            PortMessage::Observed { shed, status, at } => state.on_observed(shed, status, at),
            PortMessage::Write {
                point,
                write,
                ticket,
            } => state.enqueue_write(point, write, ticket),
            PortMessage::Unsettled { write } => state.update(|r| r.unsettled = Some(write)),
            PortMessage::LostWriteShown { write, expect } => {
                state.on_lost_write_shown(write, expect)
            }
            PortMessage::ShedApplied { limit } => state.update(|r| r.on_shed_applied(limit)),
            PortMessage::ShedCleared { retry_until } => {
                state.update(|r| r.on_shed_cleared(retry_until))
            }
            PortMessage::StationCleared => state.update(PortRegisters::on_station_cleared),
            PortMessage::CallFinished => state.on_call_finished(),
            PortMessage::LeaseTick => state.on_lease_tick(),
            #[cfg(test)]
            PortMessage::Get { reply } => {
                // The asker may have timed out; it has nothing left to learn.
                let _ = reply.send(state.registers.clone());
            }
            #[cfg(any(test, feature = "chaos"))]
            PortMessage::InjectPanic => panic!(
                "injected panic in {} of station {}",
                state.registers.scope, state.registers.station
            ),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
