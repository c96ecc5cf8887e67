//! The gateway's queue: admitting requests, the batching window, and the two lanes.
//!
//! A read is answered at once from the account's latest answers when they are fresh enough
//! for it (`held.rs`), or at once with a standing plan refusal of its method. Otherwise it
//! waits in a short window ([`batch_window`](super::GatewayOptions::batch_window)); when the
//! window closes each read joins an account-wide round under way that covers it, or the reads
//! left start one round per method (`rounds.rs`). Writes are never merged and wait in their own
//! lane, which is always served first; a write's read-back is a round of its own in that lane,
//! so a shed is confirmed without waiting for the fleet's reads.
//!
//! The queue is bounded: beyond [`max_queued`](super::GatewayOptions::max_queued) waiting
//! requests a new one is refused at once with [`GatewayError::Overloaded`]. Sending the calls
//! is `call.rs`'s job.

use std::time::Duration;

use cp_registry::ApiMethod;
use ractor::{ActorRef, RpcReplyPort};
use tokio::time::Instant;

use super::call::{CallOp, CallOutput};
use super::{
    Call, CallId, CallPurpose, GatewayError, GatewayMessage, GatewayState, PendingRead, ReadAnswer,
    ReadReply, ReadRequest, Requester, WriteReply, WriteRequest,
};

impl GatewayState {
    /// Lets a request in, or answers it at once: nothing when its requester already gave up,
    /// [`GatewayError::Overloaded`] when the queue is full.
    fn admit<T, R: Requester<T>>(&self, reply: R) -> Option<R> {
        if reply.gave_up() {
            return None;
        }
        if self.queued < self.options.max_queued {
            return Some(reply);
        }
        self.context.observer.overloaded(self.account());
        reply.answer(Err(GatewayError::Overloaded {
            account: self.account().clone(),
            capacity: self.options.max_queued,
        }));
        None
    }

    /// A station's read, happy with an answer asked no more than `fresh_within` ago.
    pub(super) fn on_read(
        &mut self,
        myself: &ActorRef<GatewayMessage>,
        request: ReadRequest,
        fresh_within: Duration,
        reply: ReadAnswer,
    ) {
        let now = Instant::now();
        self.members.note(&request, now);
        if let Some(refusal) = self.held.refusal(request.method()) {
            // The plan refused the method lately; asking again would only be refused again.
            reply.answer(Err(refusal.clone()));
            return;
        }
        let after = now.checked_sub(fresh_within).unwrap_or(now);
        if let Some(answer) = self.held.reply(&request, after) {
            reply.answer(Ok(answer));
            return;
        }
        let Some(reply) = self.admit(reply) else {
            return;
        };
        self.window.push(PendingRead {
            request,
            after,
            reply,
        });
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

    /// A write's read-back: a round of its own for just the station asked about, in the write
    /// lane. An answer asked before may predate the write, so none is reused; later reads may
    /// join this one.
    pub(super) fn on_read_back(
        &mut self,
        myself: &ActorRef<GatewayMessage>,
        request: ReadRequest,
        reply: RpcReplyPort<Result<ReadReply, GatewayError>>,
    ) {
        let Some(reply) = self.admit(reply) else {
            return;
        };
        self.queued += 1;
        self.start_read_back(PendingRead {
            request,
            after: Instant::now(),
            reply: ReadAnswer::Port(reply),
        });
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
        let id = self.new_call(Call {
            op,
            purpose: CallPurpose::Write(reply),
            from_read_lane: false,
        });
        self.write_lane.push_back(id);
        self.queued += 1;
        self.pump(myself);
    }

    /// Closes the batching window: each read is answered from a round finished meanwhile,
    /// joins one under way, or starts a new one with the other reads of its method.
    pub(super) fn on_flush(&mut self, myself: &ActorRef<GatewayMessage>, generation: u64) {
        if generation != self.window_generation || !self.window_open {
            return;
        }
        self.window_open = false;
        self.window_generation += 1;
        // Per method, in the order the methods were first asked for, so calls queue as asked.
        let mut new_rounds: Vec<(ApiMethod, Vec<PendingRead>)> = Vec::new();
        for read in std::mem::take(&mut self.window) {
            if read.reply.gave_up() {
                self.queued -= 1;
                continue;
            }
            if let Some(answer) = self.held.reply(&read.request, read.after) {
                self.queued -= 1;
                read.answer(Ok(answer));
                continue;
            }
            if let Some(read) = self.join_round(read) {
                let method = read.request.method();
                match new_rounds.iter_mut().find(|(m, _)| *m == method) {
                    Some((_, reads)) => reads.push(read),
                    None => new_rounds.push((method, vec![read])),
                }
            }
        }
        for (method, reads) in new_rounds {
            if method == ApiMethod::GetLoad && self.load_waits_for_rights() {
                self.load_waiting.extend(reads);
                continue;
            }
            self.start_round(method, reads);
        }
        self.pump(myself);
        self.report_depth();
    }

    pub(super) fn new_call(&mut self, call: Call) -> CallId {
        let id = CallId(self.next_call);
        self.next_call += 1;
        self.calls.insert(id, call);
        id
    }

    /// Hands a finished call's result to who waits for it.
    pub(super) fn complete(&mut self, call: Call, result: Result<CallOutput, GatewayError>) {
        match call.purpose {
            CallPurpose::Write(reply) => {
                reply.answer(result.map(|output| write_reply(&output)));
            }
            CallPurpose::Read { round, covers } => {
                self.on_round_call_completed(round, call.op, covers, result)
            }
        }
    }
}

fn write_reply(output: &CallOutput) -> WriteReply {
    match output {
        CallOutput::Shed(ack) => WriteReply::Shed(ack.clone()),
        CallOutput::ClearShed(ack) => WriteReply::ClearShed(ack.clone()),
        _ => WriteReply::ClearAlarms,
    }
}
