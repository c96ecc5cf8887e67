//! The per-account gateway: the only place that talks to ChargePoint.
//!
//! One [`Gateway`] actor serves one ChargePoint account. Station actors ask it for their part of a
//! read ([`ReadRequest`]) or for a write ([`WriteRequest`]); the gateway
//! - answers a station's read from the account's latest answers when they are fresh enough for
//!   it; otherwise collects the reads of a short window and reads the whole account in one
//!   round per method: getStationStatus in pages of 500 stations, getLoad by the fewest station
//!   groups that cover the account, one getAlarms / getStationRights / getStations /
//!   getChargingSessionData (incremental) for the whole account, so a fleet's cost grows with
//!   its accounts, not its stations;
//! - does not ask a method the account's plan refused (101) again for an hour;
//! - lets a read join a round that is already queued or in flight when it covers the station;
//! - sends writes, and the getLoad read-backs that confirm them, ahead of every queued read
//!   (two lanes), with a part of the account's rate and calls in flight of their own;
//! - keeps within the account's request rate (every request, pages included; reads leave most
//!   of the burst to writes) and at most
//!   [`MAX_INFLIGHT_PER_ACCOUNT`](options::MAX_INFLIGHT_PER_ACCOUNT) calls at a time (a
//!   semaphore);
//! - retries transient failures with exponential backoff and jitter up to a deadline;
//! - refuses at once with [`GatewayError::Overloaded`] when its queue is full.
//!
//! The handler never waits on the network: each call runs in a task owned by the actor's
//! [`JoinSet`], which sends [`GatewayMessage::CallCompleted`] back.
//!
//! Layout:
//! - this file: the actor, its messages, arguments and state, [`GatewayHandle`], and the
//!   vocabulary the modules below share (a call and who waits for it, a round's id, a pending
//!   read), so none of them imports another's;
//! - `options`: [`GatewayOptions`] and the default limits;
//! - `queue`: admitting requests, the batching window, the write and read lanes, the queue
//!   bound;
//! - `rounds`: the account-wide calls of one method, who joins them, and answering them;
//! - `held`: the account's latest answers, split by station, and standing plan refusals;
//! - `call`: dispatching under the semaphore and the rate limit, one attempt's timeout, and what
//!   is retried (503, 429, timeouts) and what is not;
//! - `rate`: the account's request rate, and the part of its burst reads leave to writes;
//! - `tests`: the gateway's behaviour against the fake account, on a paused clock.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use cp_registry::{
    AccountId, ApiMethod, ChargingSession, GroupId, StationAlarm, StationId, StationInfo,
    StationLoad, StationRights, StationStatus,
};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use tokio::sync::Semaphore;
use tokio::task::{JoinHandle, JoinSet};

use crate::api::{
    ChargePointApi, ClearAlarmsQuery, ClearShedAck, ClearShedRequest, ShedAck, ShedRequest,
};
use crate::error::{FailureKind, SoapError};
use crate::observe::CallObserver;
use crate::station::StationMessage;

mod call;
mod held;
mod options;
mod queue;
mod rate;
mod rounds;
#[cfg(test)]
mod tests;

pub use call::pace_request;
use call::CallOp;
use call::{CallContext, CallOutput};
use held::Held;
pub use options::GatewayOptions;
use rounds::{Members, Round};

/// Why the gateway could not answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum GatewayError {
    /// The ChargePoint call failed (after retries, if it was worth retrying). Every requester
    /// that shared the call gets the same error.
    #[error("account {account}: {op} failed")]
    Call {
        account: AccountId,
        op: ApiMethod,
        #[source]
        source: Arc<SoapError>,
    },
    /// The account's queue is full; nothing was sent.
    #[error(
        "account {account}: gateway queue is full ({capacity} requests waiting); try again later"
    )]
    Overloaded { account: AccountId, capacity: usize },
    /// The gateway did not answer in time or has stopped.
    #[error("account {account}: gateway did not answer ({reason})")]
    Unreachable { account: AccountId, reason: String },
}

impl GatewayError {
    /// The ChargePoint failure behind this error, if it is one.
    pub fn soap(&self) -> Option<&SoapError> {
        match self {
            GatewayError::Call { source, .. } => Some(source),
            _ => None,
        }
    }

    /// What kind of failure this is: the SOAP error's kind, or what kept the call from an
    /// answer.
    pub fn kind(&self) -> FailureKind {
        match self {
            GatewayError::Call { source, .. } => FailureKind::Call(source.kind()),
            GatewayError::Overloaded { .. } => FailureKind::Overloaded,
            GatewayError::Unreachable { .. } => FailureKind::Unreachable,
        }
    }
}

/// A station's request for its part of a read.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum ReadRequest {
    /// getStationStatus, merged with every other station's in the window.
    Status(StationId),
    /// getLoad; by the station's group when another station of the group asks in the same window.
    Load {
        station: StationId,
        group: Option<GroupId>,
    },
    /// getAlarms for the account, filtered to the station.
    Alarms(StationId),
    /// getStationRights for the account, filtered to the station.
    Rights(StationId),
    /// getChargingSessionData: the station's latest session per port. `since` bounds the
    /// account's first query; later ones go on from the newest session seen.
    Sessions {
        station: StationId,
        since: Option<DateTime<Utc>>,
    },
    /// getStations for the account, filtered to the station.
    Stations(StationId),
    /// getStations for the account: every station it can see.
    StationList,
}

impl ReadRequest {
    /// The station asking; `None` for account-wide requests.
    pub(crate) fn station(&self) -> Option<&StationId> {
        match self {
            ReadRequest::Status(s)
            | ReadRequest::Load { station: s, .. }
            | ReadRequest::Alarms(s)
            | ReadRequest::Rights(s)
            | ReadRequest::Sessions { station: s, .. }
            | ReadRequest::Stations(s) => Some(s),
            ReadRequest::StationList => None,
        }
    }
}

/// One station's part of a read's answer. `None` means the service did not mention the station.
/// Each is shared with the account's held answer, as the station keeps it (see `held.rs`).
#[derive(Debug, Clone, PartialEq)]
pub enum ReadReply {
    Status(Option<Arc<StationStatus>>),
    Load(Option<Arc<StationLoad>>),
    Alarms(Arc<[StationAlarm]>),
    Rights(Option<Arc<StationRights>>),
    Sessions(Arc<[ChargingSession]>),
    Stations(Option<Arc<StationInfo>>),
    StationList(Vec<Arc<StationInfo>>),
}

/// A write; it goes ahead of every queued read and is never merged with another.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum WriteRequest {
    Shed(ShedRequest),
    ClearShed(ClearShedRequest),
    ClearAlarms(ClearAlarmsQuery),
}

/// A write's answer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum WriteReply {
    Shed(ShedAck),
    ClearShed(ClearShedAck),
    ClearAlarms,
}

/// The gateway's mailbox.
pub(crate) enum GatewayMessage {
    /// A station's read, happy with an account answer asked no more than `fresh_within` ago:
    /// answered at once from the latest answers, or when the round that reads it is in.
    Read {
        request: ReadRequest,
        fresh_within: Duration,
        reply: ReadAnswer,
    },
    /// A write's read-back: the getLoad that confirms a write. Skips the batching window and
    /// goes in the write lane, ahead of every queued read; never joins a call sent before it.
    ReadBack {
        request: ReadRequest,
        reply: RpcReplyPort<Result<ReadReply, GatewayError>>,
    },
    /// A write. Answered when its call returns.
    Write {
        request: WriteRequest,
        reply: RpcReplyPort<Result<WriteReply, GatewayError>>,
    },
    /// The batching window opened as `generation` has closed. A stale generation is ignored.
    Flush { generation: u64 },
    /// The rate limiter may grant a call again.
    Dispatch,
    /// A call's task finished; arrives in completion order, not dispatch order.
    CallCompleted {
        call: CallId,
        result: Result<CallOutput, SoapError>,
    },
}

/// Identifies one call for the lifetime of a gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct CallId(u64);

/// One ChargePoint call and who waits for it.
struct Call {
    op: CallOp,
    purpose: CallPurpose,
    /// Sent from the read lane: it took a read's token and permit.
    from_read_lane: bool,
}

/// Who waits for a call.
enum CallPurpose {
    /// A write's requester; writes are never merged.
    Write(RpcReplyPort<Result<WriteReply, GatewayError>>),
    /// A round, for the stations `covers` (empty: the whole account).
    Read {
        round: RoundId,
        covers: Vec<StationId>,
    },
}

/// Identifies one round for the lifetime of a gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct RoundId(u64);

/// The account's calls being retried, by method: how many, and the latest attempt's error.
/// A station whose poll is late names it as the reason, so a 503 shows as a 503 within the
/// scrape, not only after the retry deadline. Written by call tasks, read by station handlers;
/// a std Mutex because the lock is never held across an await.
#[derive(Debug, Default)]
pub(crate) struct Retrying(std::sync::Mutex<HashMap<ApiMethod, (usize, String)>>);

impl Retrying {
    /// An attempt of an `op` call failed and will be retried; `first` for the call's first.
    fn attempt_failed(&self, op: ApiMethod, error: &SoapError, first: bool) {
        let text = crate::device::error_chain(error);
        let mut calls = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = calls.entry(op).or_insert((0, String::new()));
        entry.0 += usize::from(first);
        entry.1 = text;
    }

    /// A call that was retried ended, answered or not.
    fn call_ended(&self, op: ApiMethod) {
        let mut calls = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(entry) = calls.get_mut(&op) {
            entry.0 = entry.0.saturating_sub(1);
            if entry.0 == 0 {
                calls.remove(&op);
            }
        }
    }

    /// The latest failed attempt of an `op` call still being retried.
    pub(crate) fn cause(&self, op: ApiMethod) -> Option<String> {
        let calls = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        calls.get(&op).map(|(_, text)| text.clone())
    }
}

/// A station's read waiting for an answer at least as fresh as `after`.
struct PendingRead {
    request: ReadRequest,
    after: tokio::time::Instant,
    reply: ReadAnswer,
}

impl PendingRead {
    fn answer(self, result: Result<ReadReply, GatewayError>) {
        self.reply.answer(result);
    }
}

/// Who waits for a request's answer.
trait Requester<T> {
    /// Whether the requester stopped waiting: its answer would go nowhere.
    fn gave_up(&self) -> bool;
    fn answer(self, result: Result<T, GatewayError>);
}

impl<T: Send + 'static> Requester<T> for RpcReplyPort<Result<T, GatewayError>> {
    fn gave_up(&self) -> bool {
        self.is_closed()
    }

    fn answer(self, result: Result<T, GatewayError>) {
        // A closed port means the requester stopped waiting; nothing is left to do.
        let _ = self.send(result);
    }
}

/// Who waits for a read's answer.
pub(crate) enum ReadAnswer {
    /// A caller on a reply port, with a deadline of its own (a write's read-back, a port's
    /// rights check, the fleet's discovery).
    Port(RpcReplyPort<Result<ReadReply, GatewayError>>),
    /// A station's poll of one method.
    Poll(StationPoll),
}

impl Requester<ReadReply> for ReadAnswer {
    fn gave_up(&self) -> bool {
        match self {
            ReadAnswer::Port(port) => port.gave_up(),
            // A stopped station drops the answer it is cast.
            ReadAnswer::Poll(_) => false,
        }
    }

    fn answer(self, result: Result<ReadReply, GatewayError>) {
        match self {
            ReadAnswer::Port(port) => port.answer(result),
            ReadAnswer::Poll(poll) => poll.answer(result),
        }
    }
}

/// A station's poll: its answer is cast to the station as
/// [`StationMessage::PollCompleted`]. No task, timer or channel waits for it: a fleet's tick
/// queues every station's reads at once, and at 10,000 stations a task waiting on each read
/// held ~25 MB for the length of every round. Dropped unanswered (the gateway stopped), it
/// tells the station with [`StationMessage::PollLost`], as a closing reply port would.
pub(crate) struct StationPoll {
    station: ActorRef<StationMessage>,
    method: ApiMethod,
    answered: bool,
}

impl StationPoll {
    fn answer(mut self, result: Result<ReadReply, GatewayError>) {
        self.answered = true;
        let method = self.method;
        // The station may have stopped meanwhile; then the answer has no reader.
        let _ = self
            .station
            .cast(StationMessage::PollCompleted { method, result });
    }
}

impl Drop for StationPoll {
    fn drop(&mut self) {
        if !self.answered {
            let method = self.method;
            let _ = self.station.cast(StationMessage::PollLost { method });
        }
    }
}

/// What [`Gateway`] needs to start.
pub(crate) struct GatewayArguments {
    pub(crate) account: AccountId,
    pub(crate) api: Arc<dyn ChargePointApi>,
    pub(crate) options: GatewayOptions,
    pub(crate) observer: Arc<dyn CallObserver>,
    /// Shared with the [`GatewayHandle`]s of the account's stations.
    pub(crate) retrying: Arc<Retrying>,
}

/// The gateway actor; all state lives in [`GatewayState`].
pub(crate) struct Gateway;

/// A pending `Dispatch`.
type DispatchTimer = JoinHandle<Result<(), ractor::MessagingErr<GatewayMessage>>>;

/// The gateway's mutable state.
pub(crate) struct GatewayState {
    context: CallContext,
    options: GatewayOptions,
    /// Caps reads in flight; a permit travels with each call's task and is dropped before the
    /// task reports back, so the handler of `CallCompleted` can dispatch the next call.
    inflight: Arc<Semaphore>,
    /// The same for writes and their read-backs: their own, so no read holds a write back.
    write_inflight: Arc<Semaphore>,
    /// Reads collected in the open batching window.
    window: Vec<PendingRead>,
    /// Tags the open window's `Flush` timer; bumped when the window closes.
    window_generation: u64,
    window_open: bool,
    calls: HashMap<CallId, Call>,
    next_call: u64,
    /// Account-wide reads under way.
    rounds: HashMap<RoundId, Round>,
    next_round: u64,
    /// The stations that read status and load: every round reads them all.
    members: Members,
    /// Load reads waiting for the account's first getStationRights (see
    /// `GatewayState::load_waits_for_rights`).
    load_waiting: Vec<PendingRead>,
    /// The account's latest answers, and its standing plan refusals.
    held: Held,
    /// Writes waiting to be sent; always served before `read_lane`.
    write_lane: VecDeque<CallId>,
    read_lane: VecDeque<CallId>,
    /// Requests waiting in the window or the lanes (not yet sent).
    queued: usize,
    /// The pending `Dispatch` timer, if the account's rate made us wait, and when it fires.
    dispatch_timer: Option<(DispatchTimer, tokio::time::Instant)>,
    /// The call tasks; dropping the set (in `post_stop`) aborts them.
    tasks: JoinSet<()>,
}

impl GatewayState {
    fn new(args: GatewayArguments) -> Self {
        GatewayState {
            context: CallContext::new(
                args.account,
                args.api,
                args.observer,
                args.retrying,
                &args.options,
            ),
            inflight: Arc::new(Semaphore::new(args.options.max_inflight.max(1))),
            write_inflight: Arc::new(Semaphore::new(write_permits(&args.options))),
            options: args.options,
            window: Vec::new(),
            window_generation: 0,
            window_open: false,
            calls: HashMap::new(),
            next_call: 0,
            rounds: HashMap::new(),
            next_round: 0,
            members: Members::default(),
            load_waiting: Vec::new(),
            held: Held::default(),
            write_lane: VecDeque::new(),
            read_lane: VecDeque::new(),
            queued: 0,
            dispatch_timer: None,
            tasks: JoinSet::new(),
        }
    }

    fn account(&self) -> &AccountId {
        &self.context.account
    }

    fn report_depth(&self) {
        let observer = &self.context.observer;
        observer.queue_depth(self.account(), self.queued);
        let reads = self.options.max_inflight.max(1) - self.inflight.available_permits();
        let writes = write_permits(&self.options) - self.write_inflight.available_permits();
        observer.calls_in_flight(self.account(), reads + writes);
    }
}

/// Writes in flight at once: as many as the account's rate keeps for them.
fn write_permits(options: &GatewayOptions) -> usize {
    usize::try_from(options.write_burst.get()).unwrap_or(usize::MAX)
}

impl Actor for Gateway {
    type Msg = GatewayMessage;
    type State = GatewayState;
    type Arguments = GatewayArguments;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        args: GatewayArguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(GatewayState::new(args))
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        // Calls in flight are abandoned: their requesters see the reply port close.
        state.tasks.abort_all();
        if let Some((timer, _)) = state.dispatch_timer.take() {
            timer.abort();
        }
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            GatewayMessage::Read {
                request,
                fresh_within,
                reply,
            } => state.on_read(&myself, request, fresh_within, reply),
            GatewayMessage::ReadBack { request, reply } => {
                state.on_read_back(&myself, request, reply)
            }
            GatewayMessage::Write { request, reply } => state.on_write(&myself, request, reply),
            GatewayMessage::Flush { generation } => state.on_flush(&myself, generation),
            GatewayMessage::Dispatch => state.on_dispatch(&myself),
            GatewayMessage::CallCompleted { call, result } => {
                state.on_call_completed(&myself, call, result)
            }
        }
        Ok(())
    }
}

/// A station's handle on its account's gateway: sends a request and waits for the answer with a
/// deadline, turning a lost or silent gateway into [`GatewayError::Unreachable`].
#[derive(Clone)]
pub struct GatewayHandle {
    pub(crate) account: AccountId,
    pub(crate) actor: ActorRef<GatewayMessage>,
    /// The gateway's calls being retried, to name why a poll is late.
    pub(crate) retrying: Arc<Retrying>,
}

impl GatewayHandle {
    /// Why a call of `op` is still under way: the latest failed attempt of one being retried.
    pub(crate) fn retry_cause(&self, op: ApiMethod) -> Option<String> {
        self.retrying.cause(op)
    }

    /// Asks for `station`'s poll, happy with an account answer asked no more than
    /// `fresh_within` ago. The answer comes to the station as [`StationMessage::PollCompleted`]
    /// (or [`StationMessage::PollLost`] when the gateway is gone).
    pub(crate) fn poll(
        &self,
        request: ReadRequest,
        fresh_within: Duration,
        station: &ActorRef<StationMessage>,
    ) {
        let reply = ReadAnswer::Poll(StationPoll {
            station: station.clone(),
            method: request.method(),
            answered: false,
        });
        // A stopped gateway hands the message back; dropping it tells the station.
        let _ = self.actor.cast(GatewayMessage::Read {
            request,
            fresh_within,
            reply,
        });
    }

    /// Asks for a read, happy with an account answer asked no more than `fresh_within` ago, and
    /// waits for it (a port's rights check, the fleet's discovery).
    ///
    /// # Errors
    /// The call's failure, [`GatewayError::Overloaded`], or `Unreachable` after `timeout`.
    pub(crate) async fn read(
        &self,
        request: ReadRequest,
        fresh_within: Duration,
        timeout: Duration,
    ) -> Result<ReadReply, GatewayError> {
        self.ask(
            |reply| GatewayMessage::Read {
                request,
                fresh_within,
                reply: ReadAnswer::Port(reply),
            },
            timeout,
        )
        .await
    }

    /// Asks for a write's read-back (see [`GatewayMessage::ReadBack`]).
    ///
    /// # Errors
    /// The call's failure, [`GatewayError::Overloaded`], or `Unreachable` after `timeout`.
    pub(crate) async fn read_back(
        &self,
        request: ReadRequest,
        timeout: Duration,
    ) -> Result<ReadReply, GatewayError> {
        self.ask(|reply| GatewayMessage::ReadBack { request, reply }, timeout)
            .await
    }

    /// Asks for a write.
    ///
    /// # Errors
    /// The call's failure, [`GatewayError::Overloaded`], or `Unreachable` after `timeout`.
    pub(crate) async fn write(
        &self,
        request: WriteRequest,
        timeout: Duration,
    ) -> Result<WriteReply, GatewayError> {
        self.ask(|reply| GatewayMessage::Write { request, reply }, timeout)
            .await
    }

    async fn ask<T: Send + 'static>(
        &self,
        message: impl FnOnce(RpcReplyPort<Result<T, GatewayError>>) -> GatewayMessage,
        timeout: Duration,
    ) -> Result<T, GatewayError> {
        let reason = match self.actor.call(message, Some(timeout)).await {
            Ok(ractor::rpc::CallResult::Success(result)) => return result,
            Ok(ractor::rpc::CallResult::Timeout) => "timed out",
            Ok(ractor::rpc::CallResult::SenderError) => "dropped the request",
            Err(_) => "stopped",
        };
        Err(GatewayError::Unreachable {
            account: self.account.clone(),
            reason: reason.to_string(),
        })
    }
}
