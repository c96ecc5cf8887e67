//! Calling ChargePoint: dispatching queued calls, one attempt's timeout, and retrying.
//!
//! What happens when a call fails is decided here, in [`CallContext::execute`]:
//! - no answer within [`GatewayOptions::call_timeout`] (a timeout), a 503 or any other 5xx, a
//!   refused or reset connection, or an answer that cannot be read: retried with exponential
//!   backoff and jitter, [`INITIAL_RETRY_INTERVAL`] doubling up to
//!   [`GatewayOptions::max_retry_interval`]; while it is, [`Retrying`] names the cause for the
//!   stations whose poll is late;
//! - a 429 or a throttling fault (the service rate-limited us): retried after its `Retry-After`
//!   when it names one, else like a 503;
//! - a write is retried only when the service surely did not act on it (429, 503, throttling):
//!   any other failure may have landed, so it goes back to the port, which reads back;
//! - plan rights, authentication, TLS, invalid input, SOAP faults, any other 4xx and any other
//!   non-success responseCode: never retried, every requester gets the error at once;
//! - retrying stops at [`GatewayOptions::retry_deadline`] with the last error.
//!
//! [`SoapError::is_retryable`] sorts the errors; why every operation is safe to repeat is
//! written at `execute`. Every attempt takes a token from the account's rate limiter
//! (governor): the dispatcher takes the first attempt's, each retry waits for its own. At most
//! [`GatewayOptions::max_inflight`] calls are on the wire at once: each holds a permit of the
//! gateway's semaphore from dispatch until its task reports back.

use std::sync::Arc;
use std::time::Duration;

use backoff::backoff::Backoff;
use chrono::{DateTime, Utc};
use cp_registry::{
    AccountId, Alarm, ApiMethod, ChargingSession, LoadReport, StationId, StationInfo,
    StationRights, StationStatus,
};
use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use ractor::ActorRef;
use tokio::sync::OwnedSemaphorePermit;

use super::{
    CallId, CallPurpose, GatewayError, GatewayMessage, GatewayOptions, GatewayState, Retrying,
};
use crate::api::{
    AlarmQuery, ChargePointApi, ClearAlarmsQuery, ClearShedAck, ClearShedRequest, LoadQuery,
    RightsQuery, SessionQuery, ShedAck, ShedRequest, StationsQuery, StatusQuery,
};
use crate::error::SoapError;
use crate::observe::CallObserver;

/// The first pause between retries; it doubles (with jitter) up to
/// [`GatewayOptions::max_retry_interval`].
const INITIAL_RETRY_INTERVAL: Duration = Duration::from_millis(500);

/// How many request deadlines an account-wide paged read may take before its attempt times
/// out (300 s with the default 30 s): a 2,500-station account's first session read (a day of
/// sessions, 100 a page) is a few hundred requests.
const MAX_PAGES_TIMED: u32 = 10;

/// Everything a call's task needs, shared by all of them.
#[derive(Clone)]
pub(super) struct CallContext {
    pub(super) account: AccountId,
    api: Arc<dyn ChargePointApi>,
    limiter: Arc<Limiter>,
    clock: TokioClock,
    pub(super) observer: Arc<dyn CallObserver>,
    /// Shared with the account's stations, which name a retried call's cause when late.
    retrying: Arc<Retrying>,
    retry_deadline: Duration,
    max_retry_interval: Duration,
    call_timeout: Duration,
}

impl CallContext {
    /// The context of one account's calls, with a fresh rate limiter for `options`.
    pub(super) fn new(
        account: AccountId,
        api: Arc<dyn ChargePointApi>,
        observer: Arc<dyn CallObserver>,
        retrying: Arc<Retrying>,
        options: &GatewayOptions,
    ) -> Self {
        let clock = TokioClock {
            origin: tokio::time::Instant::now(),
        };
        let quota = Quota::per_minute(options.requests_per_minute).allow_burst(options.burst);
        let limiter = Arc::new(RateLimiter::direct_with_clock(quota, clock.clone()));
        CallContext {
            account,
            api,
            limiter,
            clock,
            observer,
            retrying,
            retry_deadline: options.retry_deadline,
            max_retry_interval: options.max_retry_interval,
            call_timeout: options.call_timeout,
        }
    }

    /// Makes the call, retrying transient failures until the deadline.
    ///
    /// Every operation the gateway sends is harmless to repeat: the reads, and the three writes,
    /// which each set a state (shed to this limit, shed cleared, alarms cleared) rather than
    /// change one. So the decision to retry a read rests on the error alone
    /// ([`SoapError::is_retryable`]): plan rights, authentication and input errors never retry.
    /// A write is harmless to repeat but its caller waits for the truth: it is retried only when
    /// the service surely did not act on it ([`SoapError::surely_not_applied`]).
    async fn execute(&self, op: &CallOp) -> Result<CallOutput, SoapError> {
        let mut policy = backoff::exponential::ExponentialBackoff {
            current_interval: INITIAL_RETRY_INTERVAL,
            initial_interval: INITIAL_RETRY_INTERVAL,
            randomization_factor: 0.5,
            multiplier: 2.0,
            max_interval: self.max_retry_interval.max(INITIAL_RETRY_INTERVAL),
            start_time: backoff::Clock::now(&TokioBackoffClock),
            max_elapsed_time: Some(self.retry_deadline),
            clock: TokioBackoffClock,
        };
        policy.reset();
        let attempts = std::sync::atomic::AtomicU32::new(0);
        let retrying = std::sync::atomic::AtomicBool::new(false);
        let result = backoff::future::retry(policy, || async {
            // The dispatcher took a rate token for the first attempt; each retry takes its own.
            if attempts.fetch_add(1, std::sync::atomic::Ordering::Relaxed) > 0 {
                self.observer.call_retried(&self.account, op.method());
                self.wait_for_rate().await;
            }
            self.attempt(op).await.map_err(|e| {
                // A write whose answer was lost goes back to its port at once, which reads
                // back whether it landed: re-sending it for a minute would keep its caller
                // from a true answer that long.
                if op.is_write() && !e.surely_not_applied() {
                    return backoff::Error::permanent(e);
                }
                if e.is_retryable() {
                    let first = !retrying.swap(true, std::sync::atomic::Ordering::Relaxed);
                    self.retrying.attempt_failed(op.method(), &e, first);
                }
                match e {
                    SoapError::RateLimited {
                        retry_after: Some(after),
                        ..
                    } => backoff::Error::retry_after(e, after),
                    _ if e.is_retryable() => backoff::Error::transient(e),
                    _ => backoff::Error::permanent(e),
                }
            })
        })
        .await;
        if retrying.into_inner() {
            self.retrying.call_ended(op.method());
        }
        result
    }

    async fn attempt(&self, op: &CallOp) -> Result<CallOutput, SoapError> {
        let started = tokio::time::Instant::now();
        let method = op.method();
        let limit = op.time_limit(self.call_timeout);
        let result = match tokio::time::timeout(limit, op.run(&*self.api)).await {
            Ok(result) => result,
            Err(_) => Err(SoapError::Timeout {
                op: method,
                after: limit,
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

/// The ChargePoint call a queued [`Call`](super::queue::Call) makes.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum CallOp {
    Status(Vec<StationId>),
    Load(LoadQuery),
    Alarms,
    Rights,
    /// The whole account's sessions started at or after the time given.
    Sessions(Option<DateTime<Utc>>),
    Stations,
    Shed(ShedRequest),
    ClearShed(ClearShedRequest),
    ClearAlarms(ClearAlarmsQuery),
}

impl CallOp {
    /// How long one attempt may take: `per_request` for a single request; for a read the
    /// client pages (a whole account's sessions, alarms, rights or stations), [`MAX_PAGES_TIMED`]
    /// times that; the client bounds each of its requests by its own deadline.
    fn time_limit(&self, per_request: Duration) -> Duration {
        match self {
            CallOp::Sessions(_) | CallOp::Alarms | CallOp::Rights | CallOp::Stations => {
                per_request * MAX_PAGES_TIMED
            }
            _ => per_request,
        }
    }

    /// shedLoad, clearShedState or clearAlarms.
    fn is_write(&self) -> bool {
        matches!(
            self,
            CallOp::Shed(_) | CallOp::ClearShed(_) | CallOp::ClearAlarms(_)
        )
    }

    pub(super) fn method(&self) -> ApiMethod {
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
            CallOp::Sessions(since) => CallOutput::Sessions(
                api.get_charging_sessions(&SessionQuery {
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

/// What a call returned, before it is split among its requesters.
#[derive(Debug)]
pub(crate) enum CallOutput {
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

impl GatewayState {
    /// Sends queued calls, writes first, while a permit and a rate token are free. Reads never
    /// hold the last permit (unless there is only one): a slow account-wide read, minutes of
    /// paging, must not keep a shed waiting.
    pub(super) fn pump(&mut self, myself: &ActorRef<GatewayMessage>) {
        let read_permits = self.options.max_inflight.saturating_sub(1).max(1);
        loop {
            let Some(&id) = self.write_lane.front().or(self.read_lane.front()) else {
                return;
            };
            let from_read_lane = self.write_lane.is_empty();
            if from_read_lane && self.answer_refused_read(id) {
                self.read_lane.pop_front();
                continue;
            }
            if !from_read_lane && self.drop_abandoned_write(id) {
                self.write_lane.pop_front();
                continue;
            }
            if from_read_lane && self.reads_in_flight >= read_permits {
                // A running read's completion pumps again.
                return;
            }
            let Ok(permit) = self.inflight.clone().try_acquire_owned() else {
                // A running call's completion pumps again.
                return;
            };
            if let Err(not_until) = self.context.limiter.check() {
                drop(permit);
                self.arm_dispatch_timer(myself, not_until.wait_time_from(self.context.clock.now()));
                return;
            }
            if from_read_lane {
                self.read_lane.pop_front();
                self.reads_in_flight += 1;
            } else {
                self.write_lane.pop_front();
            }
            if let Some(call) = self.calls.get_mut(&id) {
                call.from_read_lane = from_read_lane;
            }
            self.start_call(myself, id, permit);
        }
    }

    /// A queued read of a method the plan refused since it was queued (a round's first call
    /// came back 101): it ends with the refusal instead of being sent.
    fn answer_refused_read(&mut self, id: CallId) -> bool {
        let Some(call) = self.calls.get(&id) else {
            return false;
        };
        let Some(refusal) = self.held.refusal(call.op.method()).cloned() else {
            return false;
        };
        if let Some(call) = self.calls.remove(&id) {
            self.complete(call, Err(refusal));
        }
        true
    }

    /// A queued write whose requester stopped waiting (its port's wait ran out, and it has
    /// answered its caller and settles the write by reading back): it is not sent, so that it
    /// cannot land after the read-back has called it failed.
    fn drop_abandoned_write(&mut self, id: CallId) -> bool {
        let abandoned = self.calls.get(&id).is_some_and(
            |call| matches!(&call.purpose, CallPurpose::Write(reply) if reply.is_closed()),
        );
        if abandoned {
            if let Some(call) = self.calls.remove(&id) {
                tracing::warn!(account = %self.account(), op = %call.op.method(), "write not sent: its requester stopped waiting");
            }
            self.queued -= 1;
        }
        abandoned
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
        let op = call.op.clone();
        let stations = match (&op, &call.purpose) {
            (CallOp::Status(ids), _) => Some(ids.len()),
            (CallOp::Load(LoadQuery::Group(_)), CallPurpose::Read { covers, .. }) => {
                Some(covers.len())
            }
            _ => None,
        };
        match call.purpose {
            CallPurpose::Write(_) => self.queued -= 1,
            CallPurpose::Read { round, .. } => self.round_dispatched(round),
        }
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

    pub(super) fn on_call_completed(
        &mut self,
        myself: &ActorRef<GatewayMessage>,
        id: CallId,
        result: Result<CallOutput, SoapError>,
    ) {
        // Reap finished tasks so the set holds only running ones.
        while self.tasks.try_join_next().is_some() {}
        if let Some(call) = self.calls.remove(&id) {
            if call.from_read_lane {
                self.reads_in_flight -= 1;
            }
            let result = result.map_err(|error| GatewayError::Call {
                account: self.account().clone(),
                op: error.op(),
                source: Arc::new(error),
            });
            self.complete(call, result);
        }
        self.pump(myself);
        self.report_depth();
    }

    pub(super) fn on_dispatch(&mut self, myself: &ActorRef<GatewayMessage>) {
        self.dispatch_timer = None;
        self.pump(myself);
    }
}
