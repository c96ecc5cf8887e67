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
//! written at `execute`. Every request takes a token from the account's rate (`rate.rs`): the
//! dispatcher takes the first attempt's, each retry waits for its own, and so does each further
//! request of a call the client pages or splits ([`pace_request`]). At most
//! [`GatewayOptions::max_inflight`] reads and [`GatewayOptions::write_burst`] writes are on the
//! wire at once: each holds a permit of its lane's semaphore from dispatch until its task
//! reports back.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use backoff::backoff::Backoff;
use cp_registry::{
    AccountId, Alarm, ApiMethod, ChargingSession, LoadReport, StationId, StationInfo,
    StationRights, StationStatus,
};
use ractor::ActorRef;
use tokio::sync::OwnedSemaphorePermit;

use super::held::SessionWindow;
use super::rate::{AccountRate, Lane};
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

tokio::task_local! {
    /// The requests of the call a gateway's task is making (see [`pace_request`]).
    static CALL_REQUESTS: Arc<RequestPacer>;
}

/// Waits for the account's rate before a request of a call the gateway is making, unless it
/// is the attempt's first (its token was taken before it started). A client whose call makes
/// several requests (pages, or a long list of station IDs cut into parts) awaits this before
/// each, so they count against the account's rate as separate calls do. Outside a gateway's
/// call (a test, a benchmark) it returns at once.
pub async fn pace_request() {
    if let Ok(pacer) = CALL_REQUESTS.try_with(Arc::clone) {
        pacer.before_request().await;
    }
}

/// One attempt's requests: the first is paid for; each later one takes a token of its lane.
struct RequestPacer {
    rate: Arc<AccountRate>,
    lane: Lane,
    first: AtomicBool,
    observer: Arc<dyn CallObserver>,
    account: AccountId,
}

impl RequestPacer {
    async fn before_request(&self) {
        if self.first.swap(false, Ordering::Relaxed) {
            return;
        }
        let waited = self.rate.take(self.lane).await;
        self.observer.rate_limit_waited(&self.account, waited);
    }
}

/// Everything a call's task needs, shared by all of them.
#[derive(Clone)]
pub(super) struct CallContext {
    pub(super) account: AccountId,
    api: Arc<dyn ChargePointApi>,
    /// The account's rate, shared by every request of the account.
    pub(super) rate: Arc<AccountRate>,
    pub(super) observer: Arc<dyn CallObserver>,
    /// Shared with the account's stations, which name a retried call's cause when late.
    retrying: Arc<Retrying>,
    retry_deadline: Duration,
    max_retry_interval: Duration,
    call_timeout: Duration,
}

impl CallContext {
    /// The context of one account's calls, with a fresh account rate for `options`.
    pub(super) fn new(
        account: AccountId,
        api: Arc<dyn ChargePointApi>,
        observer: Arc<dyn CallObserver>,
        retrying: Arc<Retrying>,
        options: &GatewayOptions,
    ) -> Self {
        CallContext {
            account,
            api,
            rate: Arc::new(AccountRate::new(
                options.requests_per_minute,
                options.burst,
                options.write_burst.get(),
            )),
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
    async fn execute(&self, op: &CallOp, lane: Lane) -> Result<CallOutput, SoapError> {
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
            if attempts.fetch_add(1, Ordering::Relaxed) > 0 {
                self.observer.call_retried(&self.account, op.method());
                let waited = self.rate.take(lane).await;
                self.observer.rate_limit_waited(&self.account, waited);
            }
            self.attempt(op, lane).await.map_err(|e| {
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

    async fn attempt(&self, op: &CallOp, lane: Lane) -> Result<CallOutput, SoapError> {
        let started = tokio::time::Instant::now();
        let method = op.method();
        let limit = op.time_limit(self.call_timeout);
        let pacer = Arc::new(RequestPacer {
            rate: Arc::clone(&self.rate),
            lane,
            first: AtomicBool::new(true),
            observer: Arc::clone(&self.observer),
            account: self.account.clone(),
        });
        let run = CALL_REQUESTS.scope(pacer, op.run(&*self.api));
        let result = match tokio::time::timeout(limit, run).await {
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
}

/// backoff's clock on tokio's time, so the retry deadline follows a paused test clock.
#[derive(Debug, Clone, Copy, Default)]
struct TokioBackoffClock;

impl backoff::Clock for TokioBackoffClock {
    fn now(&self) -> std::time::Instant {
        tokio::time::Instant::now().into_std()
    }
}

/// The ChargePoint call a queued [`Call`](super::queue::Call) makes.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum CallOp {
    Status(Vec<StationId>),
    Load(LoadQuery),
    Alarms,
    Rights,
    /// The whole account's sessions started in the window.
    Sessions(SessionWindow),
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
            CallOp::Sessions(window) => CallOutput::Sessions(
                api.get_charging_sessions(&SessionQuery {
                    from: window.from,
                    to: window.to,
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
    /// Sends queued calls while a permit and a rate token are free: writes first, then reads.
    /// Writes have permits of their own and a part of the rate reads leave them (see
    /// `rate.rs`): a slow account-wide read, minutes of paging, or a fleet's read backlog must
    /// not keep a shed waiting.
    pub(super) fn pump(&mut self, myself: &ActorRef<GatewayMessage>) {
        if let Some(wait) = self.start_session_backfill(None) {
            self.arm_dispatch_timer(myself, wait);
        }
        self.pump_lane(myself, Lane::Write);
        self.pump_lane(myself, Lane::Read);
    }

    fn pump_lane(&mut self, myself: &ActorRef<GatewayMessage>, lane: Lane) {
        loop {
            let from_read_lane = lane == Lane::Read;
            let queue = if from_read_lane {
                &self.read_lane
            } else {
                &self.write_lane
            };
            let Some(&id) = queue.front() else {
                return;
            };
            if from_read_lane && self.answer_refused_read(id) {
                self.read_lane.pop_front();
                continue;
            }
            if !from_read_lane && self.drop_abandoned_write(id) {
                self.write_lane.pop_front();
                continue;
            }
            let permits = if from_read_lane {
                &self.inflight
            } else {
                &self.write_inflight
            };
            let Ok(permit) = Arc::clone(permits).try_acquire_owned() else {
                // A running call's completion pumps again.
                return;
            };
            if let Err(wait) = self.context.rate.try_take(lane) {
                drop(permit);
                self.arm_dispatch_timer(myself, wait);
                return;
            }
            if from_read_lane {
                self.read_lane.pop_front();
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

    /// Pumps again after `wait`, or sooner if a timer armed before fires sooner: a write
    /// waiting for its token must not wait for a read's later one.
    fn arm_dispatch_timer(&mut self, myself: &ActorRef<GatewayMessage>, wait: Duration) {
        let at = tokio::time::Instant::now() + wait;
        if let Some((timer, armed_at)) = &self.dispatch_timer {
            if !timer.is_finished() && *armed_at <= at {
                return;
            }
            timer.abort();
        }
        let timer = myself.send_after(wait, || GatewayMessage::Dispatch);
        self.dispatch_timer = Some((timer, at));
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
        let lane = if call.from_read_lane {
            Lane::Read
        } else {
            Lane::Write
        };
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
            let result = context.execute(&op, lane).await;
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
