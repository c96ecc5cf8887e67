//! The gateway's queue: the batching window, merging and coalescing reads, and the two lanes.
//!
//! Reads wait in a short window ([`batch_window`](super::GatewayOptions::batch_window)); when
//! it closes they are merged across stations ([`BatchPlan`]): one getStationStatus for every
//! station asked about, one getLoad per station group that two or more requesters share, one
//! getAlarms / getStationRights / getStations for the whole account. A read first joins a call
//! already queued or in flight whose answer contains it (coalescing, [`CallOp::serves`]), or
//! widens a queued one. Writes are never merged and wait in their own lane, which is always
//! served first; a write's read-back skips the window and waits there too, so a shed is
//! confirmed without waiting for the fleet's reads. Every requester ([`Waiter`]) gets its own part of the shared answer.
//!
//! The queue is bounded: beyond [`max_queued`](super::GatewayOptions::max_queued) waiting
//! requests a new one is refused at once with [`GatewayError::Overloaded`]. Sending the calls
//! is `call.rs`'s job.

use std::collections::HashMap;

use cp_registry::{GroupId, StationId};
use ractor::{ActorRef, RpcReplyPort};

use super::call::{CallOp, CallOutput};
use super::{
    GatewayError, GatewayMessage, GatewayState, ReadReply, ReadRequest, WriteReply, WriteRequest,
};
use crate::api::LoadQuery;

/// Identifies one call for the lifetime of a gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct CallId(u64);

/// One ChargePoint call and everyone waiting for it.
pub(super) struct Call {
    pub(super) op: CallOp,
    pub(super) waiters: Vec<Waiter>,
    pub(super) in_flight: bool,
}

impl GatewayState {
    /// Lets a request in, or answers it at once: nothing when its requester already gave up,
    /// [`GatewayError::Overloaded`] when the queue is full.
    fn admit<T>(
        &self,
        reply: RpcReplyPort<Result<T, GatewayError>>,
    ) -> Option<RpcReplyPort<Result<T, GatewayError>>> {
        if reply.is_closed() {
            return None;
        }
        if self.queued < self.options.max_queued {
            return Some(reply);
        }
        self.context.observer.overloaded(self.account());
        // The requester may have stopped waiting; then nobody needs the refusal.
        let _ = reply.send(Err(GatewayError::Overloaded {
            account: self.account().clone(),
            capacity: self.options.max_queued,
        }));
        None
    }

    pub(super) fn on_read(
        &mut self,
        myself: &ActorRef<GatewayMessage>,
        request: ReadRequest,
        reply: RpcReplyPort<Result<ReadReply, GatewayError>>,
    ) {
        let Some(reply) = self.admit(reply) else {
            return;
        };
        self.window.push((request, reply));
        self.queued += 1;
        if !self.window_open {
            self.window_open = true;
            let generation = self.window_generation;
            // The timer task ends by itself after the window; a stale Flush is ignored.
            myself.send_after(self.options.batch_window, move || GatewayMessage::Flush {
                generation,
            });
        }
        self.report_depth();
    }

    /// A write's read-back: a call of its own for just the station asked about, in the write
    /// lane. A call already sent may have been answered before the write took, so it is not
    /// joined; later reads may join this one.
    pub(super) fn on_read_back(
        &mut self,
        myself: &ActorRef<GatewayMessage>,
        request: ReadRequest,
        reply: RpcReplyPort<Result<ReadReply, GatewayError>>,
    ) {
        let Some(reply) = self.admit(reply) else {
            return;
        };
        let op = BatchPlan::alone(&request).op_for(&request);
        let id = self.new_call(op, vec![Waiter::Read { request, reply }]);
        self.write_lane.push_back(id);
        self.queued += 1;
        self.pump(myself);
    }

    pub(super) fn on_write(
        &mut self,
        myself: &ActorRef<GatewayMessage>,
        request: WriteRequest,
        reply: RpcReplyPort<Result<WriteReply, GatewayError>>,
    ) {
        let Some(reply) = self.admit(reply) else {
            return;
        };
        let op = match request {
            WriteRequest::Shed(r) => CallOp::Shed(r),
            WriteRequest::ClearShed(r) => CallOp::ClearShed(r),
            WriteRequest::ClearAlarms(q) => CallOp::ClearAlarms(q),
        };
        let id = self.new_call(op, vec![Waiter::Write { reply }]);
        self.write_lane.push_back(id);
        self.queued += 1;
        self.pump(myself);
    }

    /// Closes the batching window: merges its reads into calls and queues them.
    pub(super) fn on_flush(&mut self, myself: &ActorRef<GatewayMessage>, generation: u64) {
        if generation != self.window_generation || !self.window_open {
            return;
        }
        self.window_open = false;
        self.window_generation += 1;
        let window = std::mem::take(&mut self.window);
        let plan = BatchPlan::new(&window);
        for (request, reply) in window {
            if reply.is_closed() {
                self.queued -= 1;
                continue;
            }
            match self.serving_call(&request) {
                Some(id) => {
                    let call = self
                        .calls
                        .get_mut(&id)
                        .expect("serving_call returns ids of live calls");
                    if call.in_flight {
                        // Joining a call already sent: the request no longer waits in a queue.
                        self.queued -= 1;
                    }
                    call.waiters.push(Waiter::Read { request, reply });
                }
                None => match self.grow_queued_call(&request) {
                    Some(id) => {
                        let call = self
                            .calls
                            .get_mut(&id)
                            .expect("grow_queued_call returns ids of live calls");
                        call.waiters.push(Waiter::Read { request, reply });
                    }
                    None => {
                        let op = plan.op_for(&request);
                        let id = self.new_call(op, vec![Waiter::Read { request, reply }]);
                        self.read_lane.push_back(id);
                    }
                },
            }
        }
        self.pump(myself);
        self.report_depth();
    }

    /// A queued or in-flight read call whose answer contains what `request` asks for.
    fn serving_call(&self, request: &ReadRequest) -> Option<CallId> {
        self.calls
            .iter()
            .find(|(_, call)| call.op.serves(request))
            .map(|(id, _)| *id)
    }

    /// Widens a call still waiting in the read lane so that it also answers `request`: a queued
    /// getStationStatus takes one more station, a queued getLoad of a station becomes a getLoad
    /// of the group when `request` names the same group. While the rate limit holds calls back,
    /// reads arriving in later windows so merge into the calls already waiting.
    fn grow_queued_call(&mut self, request: &ReadRequest) -> Option<CallId> {
        let queued = |call: &&mut Call| !call.in_flight;
        match request {
            ReadRequest::Status(station) => {
                let (id, call) = self
                    .calls
                    .iter_mut()
                    .filter(|(_, c)| queued(c))
                    .find(|(_, c)| matches!(c.op, CallOp::Status(_)))?;
                if let CallOp::Status(ids) = &mut call.op {
                    ids.push(station.clone());
                }
                Some(*id)
            }
            ReadRequest::Load {
                group: Some(group), ..
            } => {
                let (id, call) = self
                    .calls
                    .iter_mut()
                    .filter(|(_, c)| queued(c))
                    .filter(|(_, c)| matches!(c.op, CallOp::Load(LoadQuery::Station(_))))
                    .find(|(_, c)| {
                        c.waiters.iter().any(|w| {
                            matches!(w, Waiter::Read { request: ReadRequest::Load { group: g, .. }, .. } if *g == Some(*group))
                        })
                    })?;
                call.op = CallOp::Load(LoadQuery::Group(*group));
                Some(*id)
            }
            _ => None,
        }
    }

    fn new_call(&mut self, op: CallOp, waiters: Vec<Waiter>) -> CallId {
        let id = CallId(self.next_call);
        self.next_call += 1;
        self.calls.insert(
            id,
            Call {
                op,
                waiters,
                in_flight: false,
            },
        );
        id
    }
}

/// How one window's reads become calls: which station groups are shared, which stations want
/// status.
struct BatchPlan {
    status_ids: Vec<StationId>,
    shared_groups: Vec<GroupId>,
}

impl BatchPlan {
    /// The plan of `request` on its own: it shares nothing.
    fn alone(request: &ReadRequest) -> Self {
        let status_ids = match request {
            ReadRequest::Status(station) => vec![station.clone()],
            _ => Vec::new(),
        };
        BatchPlan {
            status_ids,
            shared_groups: Vec::new(),
        }
    }

    fn new(window: &[(ReadRequest, RpcReplyPort<Result<ReadReply, GatewayError>>)]) -> Self {
        let mut status_ids = Vec::new();
        let mut group_members: HashMap<GroupId, Vec<&StationId>> = HashMap::new();
        for (request, _) in window {
            match request {
                ReadRequest::Status(s) if !status_ids.contains(s) => status_ids.push(s.clone()),
                ReadRequest::Load {
                    station,
                    group: Some(g),
                } => {
                    let members = group_members.entry(*g).or_default();
                    if !members.contains(&station) {
                        members.push(station);
                    }
                }
                _ => {}
            }
        }
        let mut shared_groups: Vec<GroupId> = group_members
            .into_iter()
            .filter(|(_, members)| members.len() > 1)
            .map(|(g, _)| g)
            .collect();
        shared_groups.sort();
        BatchPlan {
            status_ids,
            shared_groups,
        }
    }

    /// The call to make for a request no existing call serves. Status asks for every station of
    /// the window at once, so later status requests of the window find this call.
    fn op_for(&self, request: &ReadRequest) -> CallOp {
        match request {
            ReadRequest::Status(_) => CallOp::Status(self.status_ids.clone()),
            ReadRequest::Load { group: Some(g), .. } if self.shared_groups.contains(g) => {
                CallOp::Load(LoadQuery::Group(*g))
            }
            ReadRequest::Load { station, .. } => CallOp::Load(LoadQuery::Station(station.clone())),
            ReadRequest::Alarms(_) => CallOp::Alarms,
            ReadRequest::Rights(_) => CallOp::Rights,
            ReadRequest::Sessions { station, since } => CallOp::Sessions(station.clone(), *since),
            ReadRequest::Stations(_) | ReadRequest::StationList => CallOp::Stations,
        }
    }
}

impl CallOp {
    /// Whether this call's answer contains what `request` asks for.
    fn serves(&self, request: &ReadRequest) -> bool {
        match (self, request) {
            (CallOp::Status(ids), ReadRequest::Status(s)) => ids.contains(s),
            (CallOp::Load(LoadQuery::Station(a)), ReadRequest::Load { station, .. }) => {
                a == station
            }
            (CallOp::Load(LoadQuery::Group(g)), ReadRequest::Load { group, .. }) => {
                *group == Some(*g)
            }
            (CallOp::Alarms, ReadRequest::Alarms(_))
            | (CallOp::Rights, ReadRequest::Rights(_))
            | (CallOp::Stations, ReadRequest::Stations(_) | ReadRequest::StationList) => true,
            (CallOp::Sessions(a, since_a), ReadRequest::Sessions { station, since }) => {
                a == station && since_a == since
            }
            _ => false,
        }
    }
}

/// Someone waiting for a call's answer.
pub(super) enum Waiter {
    Read {
        request: ReadRequest,
        reply: RpcReplyPort<Result<ReadReply, GatewayError>>,
    },
    Write {
        reply: RpcReplyPort<Result<WriteReply, GatewayError>>,
    },
}

impl Waiter {
    /// Hands the waiter its part of a successful answer.
    pub(super) fn answer(self, output: &CallOutput) {
        // A send fails only when the requester has given up waiting; nothing is left to do.
        match self {
            Waiter::Read { request, reply } => {
                let _ = reply.send(Ok(read_reply(output, &request)));
            }
            Waiter::Write { reply } => {
                let _ = reply.send(Ok(write_reply(output)));
            }
        }
    }

    pub(super) fn fail(self, error: GatewayError) {
        // As in `answer`: a closed port means the requester stopped waiting.
        match self {
            Waiter::Read { reply, .. } => {
                let _ = reply.send(Err(error));
            }
            Waiter::Write { reply } => {
                let _ = reply.send(Err(error));
            }
        }
    }
}

/// Picks the requesting station's part out of a read call's answer.
fn read_reply(output: &CallOutput, request: &ReadRequest) -> ReadReply {
    let Some(station) = request.station() else {
        return match output {
            CallOutput::Stations(all) => ReadReply::StationList(all.clone()),
            _ => empty_read_reply(request),
        };
    };
    match output {
        CallOutput::Status(all) => {
            ReadReply::Status(all.iter().find(|s| &s.station_id == station).cloned())
        }
        CallOutput::Load(report) => ReadReply::Load(
            report
                .stations
                .iter()
                .find(|s| &s.station_id == station)
                .cloned(),
        ),
        CallOutput::Alarms(all) => ReadReply::Alarms(
            all.iter()
                .filter(|a| &a.station_id == station)
                .cloned()
                .collect(),
        ),
        CallOutput::Rights(all) => {
            ReadReply::Rights(all.iter().find(|r| &r.station_id == station).cloned())
        }
        CallOutput::Sessions(all) => ReadReply::Sessions(
            all.iter()
                .filter(|s| &s.station_id == station)
                .cloned()
                .collect(),
        ),
        CallOutput::Stations(all) => ReadReply::Stations(
            all.iter()
                .find(|i| i.station_id.as_ref() == Some(station))
                .cloned()
                .map(Box::new),
        ),
        // A read never waits on a write call (`CallOp::serves` only matches reads); if it ever
        // did, "nothing reported" is the honest answer.
        CallOutput::Shed(_) | CallOutput::ClearShed(_) | CallOutput::ClearAlarms => {
            empty_read_reply(request)
        }
    }
}

fn empty_read_reply(request: &ReadRequest) -> ReadReply {
    match request {
        ReadRequest::Status(_) => ReadReply::Status(None),
        ReadRequest::Load { .. } => ReadReply::Load(None),
        ReadRequest::Alarms(_) => ReadReply::Alarms(Vec::new()),
        ReadRequest::Rights(_) => ReadReply::Rights(None),
        ReadRequest::Sessions { .. } => ReadReply::Sessions(Vec::new()),
        ReadRequest::Stations(_) => ReadReply::Stations(None),
        ReadRequest::StationList => ReadReply::StationList(Vec::new()),
    }
}

fn write_reply(output: &CallOutput) -> WriteReply {
    match output {
        CallOutput::Shed(ack) => WriteReply::Shed(ack.clone()),
        CallOutput::ClearShed(ack) => WriteReply::ClearShed(ack.clone()),
        _ => WriteReply::ClearAlarms,
    }
}
