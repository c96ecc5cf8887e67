//! The per-account gateway: the only place that talks to ChargePoint.
//!
//! One [`Gateway`] actor serves one ChargePoint account. Station actors ask it for their part of a
//! read ([`ReadRequest`]) or for a write ([`WriteRequest`]); the gateway
//! - collects the reads of a short window and merges them across stations: one
//!   getStationStatus for every station asked about, one getLoad per station group that two or
//!   more requesters share, one getAlarms / getStationRights / getStations for the whole account;
//! - lets a read share a call that is already queued or in flight when that call answers it
//!   (coalescing);
//! - sends writes ahead of every queued read (two lanes);
//! - keeps within the account's request rate (governor) and at most
//!   [`MAX_INFLIGHT_PER_ACCOUNT`] calls at a time (a semaphore);
//! - retries transient failures with exponential backoff and jitter up to a deadline;
//! - refuses at once with [`GatewayError::Overloaded`] when its queue is full.
//!
//! The handler never waits on the network: each call runs in a task owned by the actor's
//! [`JoinSet`], which sends [`GatewayMessage::CallCompleted`] back.

use std::collections::{HashMap, VecDeque};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use backoff::backoff::Backoff;
use chrono::{DateTime, Utc};
use cp_registry::{
    AccountId, Alarm, ApiMethod, ChargingSession, GroupId, LoadReport, StationId, StationInfo,
    StationLoad, StationRights, StationStatus,
};
use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::{JoinHandle, JoinSet};

use crate::api::{
    AlarmQuery, ChargePointApi, ClearAlarmsQuery, ClearShedAck, ClearShedRequest, LoadQuery,
    RightsQuery, SessionQuery, ShedAck, ShedRequest, StationsQuery, StatusQuery,
};
use crate::error::SoapError;
use crate::observe::CallObserver;

#[cfg(test)]
mod tests;

/// Calls in flight at once per account. ChargePoint publishes no concurrency limit; four keeps
/// one slow answer from stalling the account while staying far from anything that looks like
/// a burst to the service.
pub const MAX_INFLIGHT_PER_ACCOUNT: usize = 4;

/// Requests that may wait per account (in the batching window and in the lanes). A fleet of a
/// few hundred stations asks for at most a handful of reads each per scrape; beyond this the
/// gateway is not keeping up and saying so beats queueing without end.
pub const MAX_QUEUED_PER_ACCOUNT: usize = 4096;

/// The account's request rate when the configuration says nothing. The service's limit is
/// unpublished; public clients poll at 30–60 s, so one call a second is a safe default.
pub const DEFAULT_REQUESTS_PER_MINUTE: u32 = 60;

/// Calls that may go back to back before the rate applies.
pub const DEFAULT_BURST: u32 = 5;

/// How long reads are collected before they are merged into calls.
pub const DEFAULT_BATCH_WINDOW: Duration = Duration::from_millis(100);

/// How long a failing call is retried before the gateway gives up with the last error.
pub const DEFAULT_RETRY_DEADLINE: Duration = Duration::from_secs(60);

/// The longest one attempt may take, on top of the client's own deadline.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// The first pause between retries; it doubles (with jitter) up to [`MAX_RETRY_INTERVAL`].
const INITIAL_RETRY_INTERVAL: Duration = Duration::from_millis(500);

/// The longest pause between two retries.
const MAX_RETRY_INTERVAL: Duration = Duration::from_secs(15);

/// How one gateway behaves.
#[derive(Debug, Clone, PartialEq)]
pub struct GatewayOptions {
    /// How long reads are collected before they are merged.
    pub batch_window: Duration,
    /// The account's sustained request rate.
    pub requests_per_minute: NonZeroU32,
    /// Calls that may go back to back.
    pub burst: NonZeroU32,
    /// Calls in flight at once.
    pub max_inflight: usize,
    /// Requests that may wait before new ones are refused.
    pub max_queued: usize,
    /// How long a failing call is retried.
    pub retry_deadline: Duration,
    /// The longest one attempt may take.
    pub call_timeout: Duration,
}

impl Default for GatewayOptions {
    fn default() -> Self {
        GatewayOptions {
            batch_window: DEFAULT_BATCH_WINDOW,
            requests_per_minute: NonZeroU32::new(DEFAULT_REQUESTS_PER_MINUTE)
                .unwrap_or(NonZeroU32::MIN),
            burst: NonZeroU32::new(DEFAULT_BURST).unwrap_or(NonZeroU32::MIN),
            max_inflight: MAX_INFLIGHT_PER_ACCOUNT,
            max_queued: MAX_QUEUED_PER_ACCOUNT,
            retry_deadline: DEFAULT_RETRY_DEADLINE,
            call_timeout: DEFAULT_CALL_TIMEOUT,
        }
    }
}

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

    /// A short, bounded name for the failure: the SOAP error kind, `overloaded` or `unreachable`.
    pub fn kind_str(&self) -> &'static str {
        match self {
            GatewayError::Call { source, .. } => source.kind().as_str(),
            GatewayError::Overloaded { .. } => "overloaded",
            GatewayError::Unreachable { .. } => "unreachable",
        }
    }
}

/// A station's request for its part of a read.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ReadRequest {
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
    /// getChargingSessionData for the station, sessions started at or after `since`.
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
    pub fn method(&self) -> ApiMethod {
        match self {
            ReadRequest::Status(_) => ApiMethod::GetStationStatus,
            ReadRequest::Load { .. } => ApiMethod::GetLoad,
            ReadRequest::Alarms(_) => ApiMethod::GetAlarms,
            ReadRequest::Rights(_) => ApiMethod::GetStationRights,
            ReadRequest::Sessions { .. } => ApiMethod::GetChargingSessionData,
            ReadRequest::Stations(_) | ReadRequest::StationList => ApiMethod::GetStations,
        }
    }

    /// The station asking; `None` for account-wide requests.
    pub fn station(&self) -> Option<&StationId> {
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
#[derive(Debug, Clone, PartialEq)]
pub enum ReadReply {
    Status(Option<StationStatus>),
    Load(Option<StationLoad>),
    Alarms(Vec<Alarm>),
    Rights(Option<StationRights>),
    Sessions(Vec<ChargingSession>),
    /// Boxed: nameplate data is large and rare.
    Stations(Option<Box<StationInfo>>),
    StationList(Vec<StationInfo>),
}

/// A write; it goes ahead of every queued read and is never merged with another.
#[derive(Debug, Clone, PartialEq)]
pub enum WriteRequest {
    Shed(ShedRequest),
    ClearShed(ClearShedRequest),
    ClearAlarms(ClearAlarmsQuery),
}

/// A write's answer.
#[derive(Debug, Clone, PartialEq)]
pub enum WriteReply {
    Shed(ShedAck),
    ClearShed(ClearShedAck),
    ClearAlarms,
}

/// Identifies one call for the lifetime of a gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CallId(u64);

/// What a call returned, before it is split among its requesters.
#[derive(Debug)]
pub enum CallOutput {
    Status(Vec<StationStatus>),
    Load(LoadReport),
    Alarms(Vec<Alarm>),
    Rights(Vec<StationRights>),
    Sessions(Vec<ChargingSession>),
    Stations(Vec<StationInfo>),
    Shed(ShedAck),
    ClearShed(ClearShedAck),
    ClearAlarms,
}

/// The gateway's mailbox.
pub enum GatewayMessage {
    /// A station's read. Answered after the batching window closes and the call returns.
    Read {
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

/// What [`Gateway`] needs to start.
pub struct GatewayArguments {
    pub account: AccountId,
    pub api: Arc<dyn ChargePointApi>,
    pub options: GatewayOptions,
    pub observer: Arc<dyn CallObserver>,
}

/// The gateway actor; all state lives in [`GatewayState`].
pub struct Gateway;

/// governor's clock on tokio's time, so a paused test clock also pauses the rate limit.
#[derive(Debug, Clone)]
struct TokioClock {
    origin: tokio::time::Instant,
}

impl Clock for TokioClock {
    type Instant = Duration;

    fn now(&self) -> Duration {
        self.origin.elapsed()
    }
}

/// backoff's clock on tokio's time, so the retry deadline follows a paused test clock.
#[derive(Debug, Clone, Copy, Default)]
struct TokioBackoffClock;

impl backoff::Clock for TokioBackoffClock {
    fn now(&self) -> std::time::Instant {
        tokio::time::Instant::now().into_std()
    }
}

type Limiter = RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<Duration>>;

/// The ChargePoint call a [`Call`] makes.
#[derive(Debug, Clone, PartialEq)]
enum CallOp {
    Status(Vec<StationId>),
    Load(LoadQuery),
    Alarms,
    Rights,
    Sessions(StationId, Option<DateTime<Utc>>),
    Stations,
    Shed(ShedRequest),
    ClearShed(ClearShedRequest),
    ClearAlarms(ClearAlarmsQuery),
}

impl CallOp {
    fn method(&self) -> ApiMethod {
        match self {
            CallOp::Status(_) => ApiMethod::GetStationStatus,
            CallOp::Load(_) => ApiMethod::GetLoad,
            CallOp::Alarms => ApiMethod::GetAlarms,
            CallOp::Rights => ApiMethod::GetStationRights,
            CallOp::Sessions(..) => ApiMethod::GetChargingSessionData,
            CallOp::Stations => ApiMethod::GetStations,
            CallOp::Shed(_) => ApiMethod::ShedLoad,
            CallOp::ClearShed(_) => ApiMethod::ClearShedState,
            CallOp::ClearAlarms(_) => ApiMethod::ClearAlarms,
        }
    }

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

    async fn run(&self, api: &dyn ChargePointApi) -> Result<CallOutput, SoapError> {
        Ok(match self {
            CallOp::Status(ids) => CallOutput::Status(
                api.get_station_status(&StatusQuery {
                    station_ids: ids.clone(),
                })
                .await?,
            ),
            CallOp::Load(query) => CallOutput::Load(api.get_load(query).await?),
            CallOp::Alarms => CallOutput::Alarms(api.get_alarms(&AlarmQuery::default()).await?),
            CallOp::Rights => {
                CallOutput::Rights(api.get_station_rights(&RightsQuery::default()).await?)
            }
            CallOp::Sessions(station, since) => CallOutput::Sessions(
                api.get_charging_sessions(&SessionQuery {
                    station_id: Some(station.clone()),
                    from: *since,
                    ..SessionQuery::default()
                })
                .await?,
            ),
            CallOp::Stations => {
                CallOutput::Stations(api.get_stations(&StationsQuery::default()).await?)
            }
            CallOp::Shed(request) => CallOutput::Shed(api.shed_load(request).await?),
            CallOp::ClearShed(request) => {
                CallOutput::ClearShed(api.clear_shed_state(request).await?)
            }
            CallOp::ClearAlarms(query) => {
                api.clear_alarms(query).await?;
                CallOutput::ClearAlarms
            }
        })
    }
}

/// Someone waiting for a call's answer.
enum Waiter {
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
    fn answer(self, output: &CallOutput) {
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

    fn fail(self, error: GatewayError) {
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

/// One ChargePoint call and everyone waiting for it.
struct Call {
    op: CallOp,
    waiters: Vec<Waiter>,
    in_flight: bool,
}

/// Everything a call's task needs, shared by all of them.
#[derive(Clone)]
struct CallContext {
    account: AccountId,
    api: Arc<dyn ChargePointApi>,
    limiter: Arc<Limiter>,
    clock: TokioClock,
    observer: Arc<dyn CallObserver>,
    retry_deadline: Duration,
    call_timeout: Duration,
}

impl CallContext {
    /// Makes the call, retrying transient failures until the deadline.
    ///
    /// Every operation the gateway sends is harmless to repeat: the reads, and the three writes,
    /// which each set a state (shed to this limit, shed cleared, alarms cleared) rather than
    /// change one. So the decision to retry rests on the error alone
    /// ([`SoapError::is_retryable`]): plan rights, authentication and input errors never retry.
    async fn execute(&self, op: &CallOp) -> Result<CallOutput, SoapError> {
        let mut policy = backoff::exponential::ExponentialBackoff {
            current_interval: INITIAL_RETRY_INTERVAL,
            initial_interval: INITIAL_RETRY_INTERVAL,
            randomization_factor: 0.5,
            multiplier: 2.0,
            max_interval: MAX_RETRY_INTERVAL,
            start_time: backoff::Clock::now(&TokioBackoffClock),
            max_elapsed_time: Some(self.retry_deadline),
            clock: TokioBackoffClock,
        };
        policy.reset();
        let attempts = std::sync::atomic::AtomicU32::new(0);
        backoff::future::retry(policy, || async {
            // The dispatcher took a rate token for the first attempt; each retry takes its own.
            if attempts.fetch_add(1, std::sync::atomic::Ordering::Relaxed) > 0 {
                self.observer.call_retried(&self.account, op.method());
                self.wait_for_rate().await;
            }
            self.attempt(op).await.map_err(|e| match e {
                SoapError::RateLimited {
                    retry_after: Some(after),
                    ..
                } => backoff::Error::retry_after(e, after),
                _ if e.is_retryable() => backoff::Error::transient(e),
                _ => backoff::Error::permanent(e),
            })
        })
        .await
    }

    async fn attempt(&self, op: &CallOp) -> Result<CallOutput, SoapError> {
        let started = tokio::time::Instant::now();
        let method = op.method();
        let result = match tokio::time::timeout(self.call_timeout, op.run(&*self.api)).await {
            Ok(result) => result,
            Err(_) => Err(SoapError::Timeout {
                op: method,
                after: self.call_timeout,
            }),
        };
        self.observer.call_finished(
            &self.account,
            method,
            started.elapsed(),
            result.as_ref().map(|_| ()).map_err(SoapError::kind),
        );
        result
    }

    async fn wait_for_rate(&self) {
        let started = tokio::time::Instant::now();
        while let Err(not_until) = self.limiter.check() {
            tokio::time::sleep(not_until.wait_time_from(self.clock.now())).await;
        }
        self.observer
            .rate_limit_waited(&self.account, started.elapsed());
    }
}

/// The gateway's mutable state.
pub struct GatewayState {
    context: CallContext,
    options: GatewayOptions,
    /// Caps calls in flight; a permit travels with each call's task and is dropped before the
    /// task reports back, so the handler of `CallCompleted` can dispatch the next call.
    inflight: Arc<Semaphore>,
    /// Reads collected in the open batching window.
    window: Vec<(ReadRequest, RpcReplyPort<Result<ReadReply, GatewayError>>)>,
    /// Tags the open window's `Flush` timer; bumped when the window closes.
    window_generation: u64,
    window_open: bool,
    calls: HashMap<CallId, Call>,
    next_call: u64,
    /// Writes waiting to be sent; always served before `read_lane`.
    write_lane: VecDeque<CallId>,
    read_lane: VecDeque<CallId>,
    /// Requests waiting in the window or the lanes (not yet sent).
    queued: usize,
    /// The pending `Dispatch` timer, if the rate limiter made us wait.
    dispatch_timer: Option<JoinHandle<Result<(), ractor::MessagingErr<GatewayMessage>>>>,
    /// The call tasks; dropping the set (in `post_stop`) aborts them.
    tasks: JoinSet<()>,
}

impl GatewayState {
    fn new(args: GatewayArguments) -> Self {
        let clock = TokioClock {
            origin: tokio::time::Instant::now(),
        };
        let quota =
            Quota::per_minute(args.options.requests_per_minute).allow_burst(args.options.burst);
        let limiter = Arc::new(RateLimiter::direct_with_clock(quota, clock.clone()));
        GatewayState {
            context: CallContext {
                account: args.account,
                api: args.api,
                limiter,
                clock,
                observer: args.observer,
                retry_deadline: args.options.retry_deadline,
                call_timeout: args.options.call_timeout,
            },
            inflight: Arc::new(Semaphore::new(args.options.max_inflight.max(1))),
            options: args.options,
            window: Vec::new(),
            window_generation: 0,
            window_open: false,
            calls: HashMap::new(),
            next_call: 0,
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

    fn on_read(
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

    fn on_write(
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
    fn on_flush(&mut self, myself: &ActorRef<GatewayMessage>, generation: u64) {
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

    /// Sends queued calls, writes first, while a permit and a rate token are free.
    fn pump(&mut self, myself: &ActorRef<GatewayMessage>) {
        loop {
            let Some(&id) = self.write_lane.front().or(self.read_lane.front()) else {
                return;
            };
            let Ok(permit) = self.inflight.clone().try_acquire_owned() else {
                // A running call's completion pumps again.
                return;
            };
            if let Err(not_until) = self.context.limiter.check() {
                drop(permit);
                self.arm_dispatch_timer(myself, not_until.wait_time_from(self.context.clock.now()));
                return;
            }
            if self.write_lane.front() == Some(&id) {
                self.write_lane.pop_front();
            } else {
                self.read_lane.pop_front();
            }
            self.start_call(myself, id, permit);
        }
    }

    fn arm_dispatch_timer(&mut self, myself: &ActorRef<GatewayMessage>, wait: Duration) {
        if self
            .dispatch_timer
            .as_ref()
            .is_some_and(|t| !t.is_finished())
        {
            return;
        }
        self.dispatch_timer = Some(myself.send_after(wait, || GatewayMessage::Dispatch));
    }

    fn start_call(
        &mut self,
        myself: &ActorRef<GatewayMessage>,
        id: CallId,
        permit: OwnedSemaphorePermit,
    ) {
        let Some(call) = self.calls.get_mut(&id) else {
            drop(permit);
            return;
        };
        call.in_flight = true;
        self.queued -= call.waiters.len();
        let op = call.op.clone();
        let stations = match &op {
            CallOp::Status(ids) => Some(ids.len()),
            CallOp::Load(LoadQuery::Group(_)) => Some(call.waiters.len()),
            _ => None,
        };
        if let Some(stations) = stations {
            self.context
                .observer
                .batch_sent(self.account(), op.method(), stations);
        }
        let context = self.context.clone();
        let myself = myself.clone();
        self.tasks.spawn(async move {
            let result = context.execute(&op).await;
            drop(permit);
            // The gateway may have stopped meanwhile; then nobody waits for this answer.
            let _ = myself.cast(GatewayMessage::CallCompleted { call: id, result });
        });
        self.report_depth();
    }

    fn on_call_completed(
        &mut self,
        myself: &ActorRef<GatewayMessage>,
        id: CallId,
        result: Result<CallOutput, SoapError>,
    ) {
        // Reap finished tasks so the set holds only running ones.
        while self.tasks.try_join_next().is_some() {}
        if let Some(call) = self.calls.remove(&id) {
            match result {
                Ok(output) => call.waiters.into_iter().for_each(|w| w.answer(&output)),
                Err(error) => {
                    let error = GatewayError::Call {
                        account: self.account().clone(),
                        op: error.op(),
                        source: Arc::new(error),
                    };
                    call.waiters.into_iter().for_each(|w| w.fail(error.clone()));
                }
            }
        }
        self.pump(myself);
        self.report_depth();
    }

    fn on_dispatch(&mut self, myself: &ActorRef<GatewayMessage>) {
        self.dispatch_timer = None;
        self.pump(myself);
    }

    fn report_depth(&self) {
        let observer = &self.context.observer;
        observer.queue_depth(self.account(), self.queued);
        let in_flight = self.options.max_inflight.max(1) - self.inflight.available_permits();
        observer.calls_in_flight(self.account(), in_flight);
    }
}

/// How one window's reads become calls: which station groups are shared, which stations want
/// status.
struct BatchPlan {
    status_ids: Vec<StationId>,
    shared_groups: Vec<GroupId>,
}

impl BatchPlan {
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
        if let Some(timer) = state.dispatch_timer.take() {
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
            GatewayMessage::Read { request, reply } => state.on_read(&myself, request, reply),
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
    pub account: AccountId,
    pub actor: ActorRef<GatewayMessage>,
}

impl GatewayHandle {
    /// Asks for a read.
    ///
    /// # Errors
    /// The call's failure, [`GatewayError::Overloaded`], or `Unreachable` after `timeout`.
    pub async fn read(
        &self,
        request: ReadRequest,
        timeout: Duration,
    ) -> Result<ReadReply, GatewayError> {
        self.ask(|reply| GatewayMessage::Read { request, reply }, timeout)
            .await
    }

    /// Asks for a write.
    ///
    /// # Errors
    /// The call's failure, [`GatewayError::Overloaded`], or `Unreachable` after `timeout`.
    pub async fn write(
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
