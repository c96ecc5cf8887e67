//! The station actor: one ChargePoint station presented as one VOLTTRON device.
//!
//! It owns the station's schedule: at each tick it asks the gateway for every method some point
//! needs whose data is older than that method's period (the shortest data currency of its
//! points, and never shorter than the device's `cacheExpiration`, see `Device::call_periods`);
//! getStations is fetched at start and then rarely. When
//! the polls of a tick are in, it publishes the scrape-all message. First ticks of many stations
//! are spread over the interval by station index, so a fleet does not scrape all at once.
//!
//! Writes follow the spec's semantics (see [`crate::port`] for the intent each port keeps); they
//! run one job at a time in a task owned by the actor, so a slow shed never stalls reads. Sheds
//! carry a lease (`timeInterval`) and the station re-asserts them at two thirds of it while the
//! port should stay shed. A clear that getLoad does not show yet is sent again after each getLoad
//! that still shows the shed, until that shed's lease would have lapsed.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use cp_registry::{
    AllMessage, ApiMethod, Attribute, Device, GroupId, PointDef, PointMeta, PointValue, PortLoad,
    PortNumber, PortStatusWord, Registry, StationId, StationLoad, StationSnapshot,
};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use tokio::sync::{broadcast, watch};
use tokio::task::{JoinHandle, JoinSet};

use crate::api::{ClearAlarmsQuery, ClearShedRequest, PortShed, ShedLimit, ShedRequest, ShedScope};
use crate::device::{
    error_chain, DeviceError, DeviceSummary, MethodFailure, PointReading, Publish, PublishHeaders,
    StationHealth, WriteOutcome,
};
use crate::fleet::FleetOptions;
use crate::gateway::{
    GatewayError, GatewayHandle, ReadReply, ReadRequest, WriteReply, WriteRequest,
};
use crate::observe::StationObserver;
use crate::port::{shows_limit, PortActor, PortArguments, PortMessage, PortRegisters};

/// How far back getChargingSessionData looks for a port's latest session. ChargePoint pages at
/// 100 sessions oldest first, so an unbounded query would return the oldest, not the latest.
const SESSION_LOOKBACK: chrono::Duration = chrono::Duration::days(30);

/// First scrapes of a fleet fall into this many slots across the interval: spread enough that
/// the fleet does not call all at once, few enough that each slot's reads still merge into one
/// call per method (the gateway merges what arrives within one batching window).
const SCRAPE_SLOTS: u32 = 6;

/// How long a station waits for one of its port actors (local, so short).
const PORT_CALL_TIMEOUT: Duration = Duration::from_secs(2);

/// The station actor; all state lives in [`StationState`].
pub struct StationActor;

/// What [`StationActor`] needs to start.
pub struct StationArguments {
    pub device: Device,
    /// The station's position in the fleet and the fleet's size: spreads first scrapes.
    pub index: usize,
    pub count: usize,
    pub gateway: GatewayHandle,
    pub options: Arc<FleetOptions>,
    /// Where every publish goes (the SSE stream subscribes); bounded, slow readers lag.
    pub publisher: broadcast::Sender<Publish>,
}

/// The station's mailbox.
pub enum StationMessage {
    /// The scrape timer of `generation`; a stale generation is dropped.
    Tick { generation: u64 },
    /// A poll's answer. Polls of different methods complete in any order.
    PollCompleted {
        method: ApiMethod,
        result: Result<ReadReply, GatewayError>,
    },
    /// A write's getLoad read-back, sent when it was asked for at `requested`: it updates the
    /// snapshot and the ports as a scrape's getLoad does, so the next read shows the write.
    LoadReadBack {
        load: StationLoad,
        requested: tokio::time::Instant,
    },
    /// The lease timer: re-assert the sheds the ports believe in force.
    LeaseTick { generation: u64 },
    /// The running write job has replied; the next one may start.
    WriteFinished,
    /// A write or lease task's message for `port`'s actor. Tasks reach ports through the
    /// station, which sends it on to the port actor running now: one restarted while a job
    /// runs still hears the job's outcome, and the port gets the task's messages in order.
    ToPort {
        port: PortNumber,
        message: PortMessage,
    },
    /// get_point.
    GetPoint {
        point: String,
        reply: RpcReplyPort<Result<PointReading, DeviceError>>,
    },
    /// get_multiple_points.
    GetPoints {
        points: Vec<String>,
        reply: RpcReplyPort<Vec<(String, Result<PointReading, DeviceError>)>>,
    },
    /// scrape_all: the latest publish, after a fresh scrape if it is older than a tick.
    ScrapeAll {
        reply: RpcReplyPort<Result<Publish, DeviceError>>,
    },
    /// set_point / set_multiple_points, applied in order as one job.
    SetPoints {
        values: Vec<(String, serde_json::Value)>,
        reply: RpcReplyPort<Vec<(String, Result<WriteOutcome, DeviceError>)>>,
    },
    /// revert_point (`Some`) or revert_device (`None`).
    Revert {
        point: Option<String>,
        reply: RpcReplyPort<Result<Vec<(String, WriteOutcome)>, DeviceError>>,
    },
    /// The station's health.
    Health { reply: RpcReplyPort<StationHealth> },
    /// Chaos hook (tests and the `chaos` feature): the handler panics, as a bug would.
    #[cfg(any(test, feature = "chaos"))]
    InjectPanic,
    /// Chaos hook (tests and the `chaos` feature): `port`'s actor panics, as a bug would.
    /// Replies once the panic is on its way, before the port is restarted.
    #[cfg(any(test, feature = "chaos"))]
    InjectPortPanic {
        port: PortNumber,
        reply: RpcReplyPort<Result<(), DeviceError>>,
    },
}

/// What one write of a job does, decided (and validated) before anything is sent.
#[derive(Debug, Clone, PartialEq)]
enum WriteAction {
    /// allowedLoad / percentShed: store the intent; shed at once if the port is shed.
    Limit { port: PortNumber, limit: ShedLimit },
    /// Forget the port's intent (revert of a limit that was never set).
    ClearIntent { port: PortNumber },
    /// shedState=1: shed with the stored intent.
    Shed { port: PortNumber },
    /// shedState=0.
    ClearShed { port: PortNumber },
    /// The station's own retry of a clearShedState the port still owes (see
    /// `PortRegisters::clear_owed_until`).
    ResendClear { port: PortNumber },
    /// clearAlarms=1.
    ClearAlarms,
    /// Accepted, nothing to send (clearAlarms=0).
    Nothing,
}

type JobResults = Vec<(String, Result<WriteOutcome, DeviceError>)>;

/// Who waits for a write job.
enum JobReply {
    Points(RpcReplyPort<JobResults>),
    Revert(RpcReplyPort<Result<Vec<(String, WriteOutcome)>, DeviceError>>),
}

impl JobReply {
    fn send(self, results: JobResults) {
        // A failed send means the caller timed out; the writes happened all the same.
        match self {
            JobReply::Points(reply) => {
                let _ = reply.send(results);
            }
            JobReply::Revert(reply) => {
                let outcomes = results
                    .into_iter()
                    .map(|(name, r)| {
                        let outcome = r.unwrap_or_else(|e| WriteOutcome::Failed {
                            reason: error_chain(&e),
                        });
                        (name, outcome)
                    })
                    .collect();
                let _ = reply.send(Ok(outcomes));
            }
        }
    }
}

/// A port actor the station supervises.
struct PortChild {
    actor: ActorRef<PortMessage>,
    /// The port's registers as of the last message it handled: what it restarts from if it
    /// fails. The port holds the sender (see `port.rs`).
    kept: watch::Receiver<PortRegisters>,
}

struct WriteJob {
    actions: Vec<(String, Result<WriteAction, DeviceError>)>,
    reply: JobReply,
}

/// The station's mutable state.
pub struct StationState {
    device: Device,
    gateway: GatewayHandle,
    options: Arc<FleetOptions>,
    publisher: broadcast::Sender<Publish>,
    ports: BTreeMap<PortNumber, PortChild>,
    /// The latest record of each kind.
    snapshot: StationSnapshot,
    /// The station's group (from getStations): lets the gateway read load by group.
    group: Option<GroupId>,
    /// Each method the registry needs, with how often it is called.
    periods: Vec<(ApiMethod, Duration)>,
    /// The publish cadence: the shortest scrape interval of any point.
    tick: Duration,
    first_delay: Duration,
    /// When the next scrape tick is due.
    next_tick: tokio::time::Instant,
    /// When each method was last asked for (cleared on failure, so the next tick retries).
    requested_at: HashMap<ApiMethod, tokio::time::Instant>,
    /// When each method last answered.
    fetched_at: HashMap<ApiMethod, DateTime<Utc>>,
    /// When the newest getLoad in the snapshot was asked for: a scrape's getLoad asked before
    /// a write's read-back must not bring back the values the write replaced.
    load_requested: Option<tokio::time::Instant>,
    /// Methods whose latest call failed.
    failures: BTreeMap<ApiMethod, MethodFailure>,
    /// Methods with a poll in flight.
    polling: HashSet<ApiMethod>,
    /// A scrape waits for its polls to publish.
    scrape_pending: bool,
    scrape_started: tokio::time::Instant,
    scrape_waiters: Vec<RpcReplyPort<Result<Publish, DeviceError>>>,
    /// When each point was last published (points publish at their own scrape interval).
    last_included: HashMap<String, tokio::time::Instant>,
    heartbeat: bool,
    latest: Option<(Publish, tokio::time::Instant)>,
    /// When `latest` was published.
    last_scrape: Option<DateTime<Utc>>,
    last_ok_scrape: Option<DateTime<Utc>>,
    /// Each written point's value before its first write: what revert goes back to when the
    /// registry gives no Starting Value.
    originals: HashMap<String, PointValue>,
    writes: VecDeque<WriteJob>,
    write_running: bool,
    /// Tags the scrape timer; bumped on restart of the schedule.
    generation: u64,
    timers: Vec<JoinHandle<Result<(), ractor::MessagingErr<StationMessage>>>>,
    /// Poll, write and lease tasks; dropping the set (in `post_stop`) aborts them.
    tasks: JoinSet<()>,
}

impl StationState {
    fn new(args: StationArguments, ports: BTreeMap<PortNumber, PortChild>) -> Self {
        let interval = args.device.interval;
        let registry = &args.device.registry;
        // The device's periods, not the bare registry's: `cacheExpiration` stretches them, as
        // `check` reports.
        let mut periods = args.device.call_periods();
        if !periods.iter().any(|(m, _)| *m == ApiMethod::GetStations) {
            // Needed for the station group even when no point reads it.
            periods.push((ApiMethod::GetStations, args.options.station_info_refresh));
        }
        let tick = registry
            .points
            .iter()
            .map(|p| p.scrape_interval_or(interval))
            .min()
            .unwrap_or(interval)
            .max(Duration::from_secs(1));
        let count = u32::try_from(args.count.max(1)).unwrap_or(u32::MAX);
        let index = u32::try_from(args.index).unwrap_or(0) % count;
        // Contiguous blocks share a slot: neighbours in the configuration (often one station
        // group) scrape together, so the gateway can merge their reads.
        let slots = count.min(SCRAPE_SLOTS);
        let slot =
            u32::try_from(u64::from(index) * u64::from(slots) / u64::from(count)).unwrap_or(0);
        StationState {
            first_delay: tick / slots * slot,
            device: args.device,
            gateway: args.gateway,
            options: args.options,
            publisher: args.publisher,
            ports,
            snapshot: StationSnapshot::default(),
            group: None,
            periods,
            tick,
            next_tick: tokio::time::Instant::now(),
            requested_at: HashMap::new(),
            fetched_at: HashMap::new(),
            load_requested: None,
            failures: BTreeMap::new(),
            polling: HashSet::new(),
            scrape_pending: false,
            scrape_started: tokio::time::Instant::now(),
            scrape_waiters: Vec::new(),
            last_included: HashMap::new(),
            heartbeat: false,
            latest: None,
            last_scrape: None,
            last_ok_scrape: None,
            originals: HashMap::new(),
            writes: VecDeque::new(),
            write_running: false,
            generation: 0,
            timers: Vec::new(),
            tasks: JoinSet::new(),
        }
    }

    fn path(&self) -> String {
        self.device.path.to_string()
    }

    fn station(&self) -> &StationId {
        &self.device.station
    }

    fn observer(&self) -> &dyn StationObserver {
        &*self.options.station_observer
    }

    fn tz(&self) -> &str {
        self.device.timezone.as_deref().unwrap_or("")
    }

    /// How long a station waits for the gateway: a call may queue, retry up to the deadline
    /// and time out once more.
    fn gateway_timeout(&self) -> Duration {
        let g = &self.options.gateway;
        g.retry_deadline + g.call_timeout + g.batch_window + Duration::from_secs(30)
    }

    fn point(&self, name: &str) -> Result<&PointDef, DeviceError> {
        self.device
            .registry
            .point(name)
            .ok_or_else(|| DeviceError::UnknownPoint {
                device: self.path(),
                point: name.to_string(),
            })
    }

    fn start(&mut self, myself: &ActorRef<StationMessage>) {
        let writable: Vec<&str> = self
            .device
            .registry
            .points
            .iter()
            .filter(|p| p.writable)
            .map(|p| p.attribute.name())
            .collect();
        self.observer().station_started(self.station(), &writable);
        // getStations first, so the group is known when the first scrape reads load.
        self.poll(myself, ApiMethod::GetStations);
        self.next_tick = tokio::time::Instant::now() + self.first_delay;
        self.arm_tick_timer(myself);
        self.arm_lease_timer(myself);
        if self.options.write_starting_values {
            self.queue_starting_values(myself);
        }
    }

    // ----- scraping -----

    fn on_tick(&mut self, myself: &ActorRef<StationMessage>, generation: u64) {
        if generation != self.generation {
            return;
        }
        let now = tokio::time::Instant::now();
        while self.next_tick <= now {
            self.next_tick += self.tick;
        }
        self.arm_tick_timer(myself);
        self.start_scrape(myself);
    }

    /// Ticks keep to a fixed schedule (start + n × tick) rather than "a tick after the last
    /// one", so stations of one slot stay together and their reads keep merging.
    fn arm_tick_timer(&mut self, myself: &ActorRef<StationMessage>) {
        let generation = self.generation;
        let wait = self
            .next_tick
            .saturating_duration_since(tokio::time::Instant::now());
        self.timers.retain(|t| !t.is_finished());
        self.timers
            .push(myself.send_after(wait, move || StationMessage::Tick { generation }));
    }

    /// Polls every method whose data is older than its period, then publishes when they are in.
    fn start_scrape(&mut self, myself: &ActorRef<StationMessage>) {
        let now = tokio::time::Instant::now();
        if !self.scrape_pending {
            self.scrape_started = now;
        }
        self.scrape_pending = true;
        if self.awaiting_station_info() {
            // The first getStations brings the station group; reading load before it would
            // cost one getLoad per station instead of one per group. It restarts the scrape.
            return;
        }
        // Polls happen on ticks, so a period is due after the whole ticks that cover it, with
        // half a tick of slack as for publishing: a request made just after its tick (the
        // first getLoad waits for getStations) is still due that many ticks later, and a
        // period between two ticks (90 s on 60 s ticks) waits for the later one.
        let slack = self.tick / 2;
        let due: Vec<ApiMethod> = self
            .periods
            .iter()
            .filter(|(m, period)| {
                !self.polling.contains(m)
                    && self.requested_at.get(m).is_none_or(|t| {
                        now.duration_since(*t) + slack >= whole_ticks(*period, self.tick)
                    })
            })
            .map(|(m, _)| *m)
            .collect();
        for method in due {
            self.poll(myself, method);
        }
        if self.polling.is_empty() {
            self.publish();
        }
    }

    /// Whether the start-up getStations is still on its way.
    fn awaiting_station_info(&self) -> bool {
        self.polling.contains(&ApiMethod::GetStations)
            && !self.fetched_at.contains_key(&ApiMethod::GetStations)
            && !self.failures.contains_key(&ApiMethod::GetStations)
    }

    fn poll(&mut self, myself: &ActorRef<StationMessage>, method: ApiMethod) {
        let station = self.station().clone();
        let request = match method {
            ApiMethod::GetStationStatus => ReadRequest::Status(station),
            ApiMethod::GetLoad => ReadRequest::Load {
                station,
                group: self.group,
            },
            ApiMethod::GetAlarms => ReadRequest::Alarms(station),
            ApiMethod::GetStationRights => ReadRequest::Rights(station),
            ApiMethod::GetChargingSessionData => ReadRequest::Sessions {
                station,
                since: Some(Utc::now() - SESSION_LOOKBACK),
            },
            ApiMethod::GetStations => ReadRequest::Stations(station),
            // Writes are never polled.
            ApiMethod::ShedLoad | ApiMethod::ClearShedState | ApiMethod::ClearAlarms => return,
        };
        self.polling.insert(method);
        self.requested_at
            .insert(method, tokio::time::Instant::now());
        let gateway = self.gateway.clone();
        let timeout = self.gateway_timeout();
        let myself = myself.clone();
        self.tasks.spawn(async move {
            let result = gateway.read(request, timeout).await;
            // The station may have stopped meanwhile; then the answer has no reader.
            let _ = myself.cast(StationMessage::PollCompleted { method, result });
        });
    }

    fn on_poll_completed(
        &mut self,
        myself: &ActorRef<StationMessage>,
        method: ApiMethod,
        result: Result<ReadReply, GatewayError>,
    ) {
        while self.tasks.try_join_next().is_some() {}
        self.polling.remove(&method);
        let now = Utc::now();
        let requested = self.requested_at.get(&method).copied();
        let failure = match result {
            Ok(ReadReply::Load(_)) if self.has_newer_load(requested) => None,
            Ok(reply) => {
                if method == ApiMethod::GetLoad {
                    self.load_requested = requested;
                }
                self.absorb(reply, now).err()
            }
            Err(error) => Some(MethodFailure {
                kind: error.kind_str().to_string(),
                text: error_chain(&error),
                at: now,
            }),
        };
        let refused = failure
            .as_ref()
            .is_some_and(|f| f.kind == crate::ErrorKind::PlanRights.as_str());
        self.observer()
            .method_refused(self.station(), method, refused);
        match failure {
            None => {
                if let Some(failure) = self.failures.remove(&method) {
                    tracing::info!(device = %self.device.path, op = %method, after = %failure.kind, "poll recovered");
                }
                self.fetched_at.insert(method, now);
                if method == ApiMethod::GetLoad {
                    self.resend_owed_clears(myself);
                }
            }
            Some(failure) => {
                // Said once per kind of failure: a fleet of hundreds repeating a standing
                // refusal every tick would bury everything else.
                let known = self.failures.get(&method).map(|f| f.kind.as_str());
                if known == Some(failure.kind.as_str()) {
                    tracing::debug!(device = %self.device.path, op = %method, cause = %failure.text, "poll failed again");
                } else {
                    tracing::warn!(device = %self.device.path, op = %method, cause = %failure.text, "poll failed");
                }
                self.failures.insert(method, failure);
                // Try again at the next tick rather than after a whole period.
                self.requested_at.remove(&method);
            }
        }
        if method == ApiMethod::GetStations && self.scrape_pending && !self.awaiting_station_info()
        {
            self.start_scrape(myself);
        } else if self.polling.is_empty() && self.scrape_pending {
            self.publish();
        }
    }

    /// Whether the snapshot holds a getLoad asked for after `requested`.
    fn has_newer_load(&self, requested: Option<tokio::time::Instant>) -> bool {
        matches!((self.load_requested, requested), (Some(held), Some(asked)) if held > asked)
    }

    /// A write's getLoad read-back: absorbed exactly as a successful getLoad poll, unless a
    /// newer getLoad is already in.
    fn on_load_read_back(&mut self, load: StationLoad, requested: tokio::time::Instant) {
        if self.has_newer_load(Some(requested)) {
            return;
        }
        let now = Utc::now();
        self.load_requested = Some(requested);
        // Load(Some) always absorbs.
        let _ = self.absorb(ReadReply::Load(Some(load)), now);
        self.failures.remove(&ApiMethod::GetLoad);
        self.fetched_at.insert(ApiMethod::GetLoad, now);
        self.refresh_cached_publish(ApiMethod::GetLoad);
    }

    /// Updates the cached scrape-all answer's points of `method` from the snapshot, so a
    /// scrape_all served from the cache shows what was just read. Nothing is re-published:
    /// subscribers see it at the next tick.
    fn refresh_cached_publish(&mut self, method: ApiMethod) {
        let Some((mut publish, at)) = self.latest.take() else {
            return;
        };
        let registry = Arc::clone(&self.device.registry);
        for point in registry.points.iter().filter(|p| p.method() == method) {
            if let Some(value) = publish.message.values.get_mut(&point.name) {
                if let Some(fresh) = self.value_of(point) {
                    *value = fresh;
                }
            }
        }
        self.latest = Some((publish, at));
    }

    /// Stores a poll's answer in the snapshot and tells the ports.
    fn absorb(&mut self, reply: ReadReply, now: DateTime<Utc>) -> Result<(), MethodFailure> {
        let missing = |method: ApiMethod| MethodFailure {
            kind: "not_reported".to_string(),
            text: format!(
                "{method}: station {} not in the answer",
                self.device.station
            ),
            at: now,
        };
        match reply {
            ReadReply::Status(Some(status)) => {
                self.observer().status_observed(&status);
                for port in &status.ports {
                    self.tell_port(port.port, None, Some(port.clone()), now);
                }
                self.snapshot.status = Some(status);
            }
            ReadReply::Status(None) => return Err(missing(ApiMethod::GetStationStatus)),
            ReadReply::Load(Some(load)) => {
                self.observer().load_observed(&load);
                for port in &load.ports {
                    self.tell_port(port.port, Some(port.clone()), None, now);
                }
                self.snapshot.load = Some(load);
            }
            ReadReply::Load(None) => return Err(missing(ApiMethod::GetLoad)),
            ReadReply::Alarms(alarms) => self.snapshot.alarms = Some(alarms),
            ReadReply::Rights(Some(rights)) => self.snapshot.rights = Some(rights),
            ReadReply::Rights(None) => return Err(missing(ApiMethod::GetStationRights)),
            ReadReply::Sessions(sessions) => {
                sessions
                    .iter()
                    .for_each(|s| self.observer().session_observed(s));
                self.snapshot.sessions = Some(sessions);
            }
            ReadReply::Stations(Some(info)) => {
                self.group = info
                    .group_id
                    .as_deref()
                    .and_then(|g| g.trim().parse().ok())
                    .map(GroupId);
                self.snapshot.info = Some(*info);
            }
            ReadReply::Stations(None) => return Err(missing(ApiMethod::GetStations)),
            ReadReply::StationList(_) => {}
        }
        Ok(())
    }

    fn tell_port(
        &self,
        port: PortNumber,
        load: Option<PortLoad>,
        status: Option<cp_registry::PortStatus>,
        at: DateTime<Utc>,
    ) {
        // A port that is restarting misses one observation; the next poll brings another.
        self.to_port(port, PortMessage::Observed { load, status, at });
    }

    /// Sends `message` to `port`'s actor. One that failed and is not restarted yet drops it:
    /// an ask then fails as unavailable; a registers update is lost with the messages queued
    /// behind the failure (see `Writer::shed` for what that means).
    fn to_port(&self, port: PortNumber, message: PortMessage) {
        if let Some(child) = self.ports.get(&port) {
            let _ = child.actor.cast(message);
        }
    }

    /// The value of `point` for a publish or a read: `None` when its method is failing or has
    /// not answered.
    fn value_of(&self, point: &PointDef) -> Option<PointValue> {
        if self.failures.contains_key(&point.method()) {
            return None;
        }
        point.read(&self.snapshot)
    }

    /// Builds, sends and caches the scrape-all message.
    fn publish(&mut self) {
        self.scrape_pending = false;
        let now = tokio::time::Instant::now();
        let slack = self.tick / 2;
        let interval = self.device.interval;
        let registry = Arc::clone(&self.device.registry);
        let due = registry.points.iter().filter(|p| {
            self.last_included
                .get(&p.name)
                .is_none_or(|t| now.duration_since(*t) + slack >= p.scrape_interval_or(interval))
        });
        let mut message = AllMessage::build(due, self.tz(), |p| self.value_of(p));
        for name in message.values.keys() {
            self.last_included.insert(name.clone(), now);
        }
        if let Some(heartbeat) = self.device.heart_beat_point.clone() {
            self.heartbeat = !self.heartbeat;
            message.values.insert(
                heartbeat.clone(),
                PointValue::Int(i64::from(self.heartbeat)),
            );
            message.meta.insert(
                heartbeat,
                PointMeta {
                    value_type: "integer".into(),
                    units: String::new(),
                    tz: self.tz().to_string(),
                },
            );
        }
        let at = Utc::now();
        if self.failures.is_empty() {
            self.last_ok_scrape = Some(at);
        }
        let publish = Publish {
            topic: self.device.path.all_topic(),
            device: self.path(),
            headers: PublishHeaders::at(at),
            message,
        };
        // No subscriber is not an error: the cache below still serves scrape_all.
        let _ = self.publisher.send(publish.clone());
        for waiter in self.scrape_waiters.drain(..) {
            // The caller may have given up; the publish is cached all the same.
            let _ = waiter.send(Ok(publish.clone()));
        }
        self.latest = Some((publish, now));
        self.last_scrape = Some(at);
        let health = self.health();
        let observer = &*self.options.station_observer;
        let station = &self.device.station;
        observer.scrape_finished(station, now.duration_since(self.scrape_started), at);
        observer.station_up(station, self.is_up());
        observer.sheds_active(station, health.sheds_active);
        observer.alarms_active(station, self.snapshot.alarms.as_ref().map_or(0, Vec::len));
        for (method, fetched) in &self.fetched_at {
            let age = (at - *fetched).to_std().unwrap_or_default();
            observer.data_age(station, *method, age);
        }
    }

    fn on_scrape_all(
        &mut self,
        myself: &ActorRef<StationMessage>,
        reply: RpcReplyPort<Result<Publish, DeviceError>>,
    ) {
        if let Some((publish, at)) = &self.latest {
            if at.elapsed() < self.tick {
                // The caller may have given up waiting.
                let _ = reply.send(Ok(publish.clone()));
                return;
            }
        }
        self.scrape_waiters.push(reply);
        if !self.scrape_pending {
            self.start_scrape(myself);
        }
    }

    fn reading(&self, name: &str) -> Result<PointReading, DeviceError> {
        let point = self.point(name)?;
        let method = point.method();
        if let Some(failure) = self.failures.get(&method) {
            return Err(DeviceError::PointUnavailable {
                device: self.path(),
                point: name.to_string(),
                method,
                kind: failure.kind.clone(),
                text: failure.text.clone(),
            });
        }
        let no_data = || DeviceError::NoData {
            device: self.path(),
            point: name.to_string(),
            method,
        };
        let value = point.read(&self.snapshot).ok_or_else(no_data)?;
        let timestamp = *self.fetched_at.get(&method).ok_or_else(no_data)?;
        Ok(PointReading {
            point: name.to_string(),
            value,
            timestamp,
            meta: point.meta(self.tz()),
        })
    }

    fn on_get_points(
        &self,
        points: Vec<String>,
        reply: RpcReplyPort<Vec<(String, Result<PointReading, DeviceError>)>>,
    ) {
        let readings = points
            .into_iter()
            .map(|p| {
                let r = self.reading(&p);
                (p, r)
            })
            .collect();
        // The caller may have given up waiting.
        let _ = reply.send(readings);
    }

    // ----- health -----

    fn is_up(&self) -> bool {
        // A plan refusal is configuration, not an outage: the station still answers.
        self.latest.is_some()
            && self
                .failures
                .values()
                .all(|f| f.kind == crate::ErrorKind::PlanRights.as_str())
    }

    fn summary(&self) -> DeviceSummary {
        DeviceSummary {
            path: self.path(),
            station: self.station().clone(),
            account: self.device.account.clone(),
            ports: self.ports.keys().map(|p| p.0).collect(),
            up: self.is_up(),
            last_scrape: self.last_scrape,
        }
    }

    fn health(&self) -> StationHealth {
        let load_ports = self.snapshot.load.as_ref().map(|l| l.ports.as_slice());
        StationHealth {
            device: self.summary(),
            last_ok_scrape: self.last_ok_scrape,
            failures: self
                .failures
                .iter()
                .map(|(m, f)| (m.name().to_string(), f.clone()))
                .collect(),
            ports_charging: self.snapshot.status.as_ref().map_or(0, |s| {
                s.ports
                    .iter()
                    .filter(|p| p.status == PortStatusWord::InUse)
                    .count()
            }),
            load_kw: load_ports.map_or(0.0, |ports| {
                ports.iter().fold(0.0, |kw, p| kw + p.port_load)
            }),
            sheds_active: load_ports
                .map_or(0, |ports| ports.iter().filter(|p| p.shed_state).count()),
        }
    }

    // ----- writes -----

    fn bad_value(&self, point: &str, expected: &str, value: &serde_json::Value) -> DeviceError {
        DeviceError::BadValue {
            device: self.path(),
            point: point.to_string(),
            expected: expected.to_string(),
            found: value.to_string(),
        }
    }

    /// Checks a write (point, type, range) and says what it will do.
    fn plan_write(&self, name: &str, raw: &serde_json::Value) -> Result<WriteAction, DeviceError> {
        let point = self.point(name)?;
        let not_writable = || DeviceError::NotWritable {
            device: self.path(),
            point: name.to_string(),
        };
        if !point.writable || !point.attribute.is_writable() {
            return Err(not_writable());
        }
        let value =
            PointValue::coerce(point.value_type, raw).map_err(|e| DeviceError::BadValue {
                device: self.path(),
                point: name.to_string(),
                expected: e.expected,
                found: e.found,
            })?;
        let flag = |expected: &str| match value {
            PointValue::Int(i @ (0 | 1)) => Ok(i == 1),
            PointValue::Bool(b) => Ok(b),
            _ => Err(self.bad_value(name, expected, raw)),
        };
        let port = point.port;
        let port_of = || port.ok_or_else(not_writable);
        match point.attribute {
            Attribute::AllowedLoad => match value.as_f64() {
                Some(kw) if kw.is_finite() && kw >= 0.0 => Ok(WriteAction::Limit {
                    port: port_of()?,
                    limit: ShedLimit::AllowedLoad(kw),
                }),
                _ => Err(self.bad_value(name, "a number of kW >= 0", raw)),
            },
            Attribute::PercentShed => match value {
                PointValue::Int(pct @ 0..=100) => Ok(WriteAction::Limit {
                    port: port_of()?,
                    limit: ShedLimit::PercentShed(u8::try_from(pct).unwrap_or(100)),
                }),
                _ => Err(self.bad_value(name, "an integer 0..=100", raw)),
            },
            Attribute::ShedState => {
                let port = port_of()?;
                Ok(if flag("0 or 1")? {
                    WriteAction::Shed { port }
                } else {
                    WriteAction::ClearShed { port }
                })
            }
            Attribute::ClearAlarms => Ok(if flag("0 or 1")? {
                WriteAction::ClearAlarms
            } else {
                WriteAction::Nothing
            }),
            _ => Err(not_writable()),
        }
    }

    /// What reverting `name` does: back to its Starting Value, else to its value before the
    /// first write; a shed point reverts by clearing the shed.
    fn plan_revert(&self, name: &str) -> Result<WriteAction, DeviceError> {
        let point = self.point(name)?;
        if !point.writable || !point.attribute.is_writable() {
            return Err(DeviceError::NotWritable {
                device: self.path(),
                point: name.to_string(),
            });
        }
        match point.attribute {
            Attribute::ShedState => self.plan_write(name, &serde_json::json!(0)),
            Attribute::AllowedLoad | Attribute::PercentShed => {
                let target = point
                    .starting_value
                    .clone()
                    .or_else(|| self.originals.get(name).cloned())
                    .filter(|v| *v != PointValue::Null);
                match (target, point.port) {
                    (Some(v), _) => {
                        let raw = serde_json::to_value(&v).unwrap_or(serde_json::Value::Null);
                        self.plan_write(name, &raw)
                    }
                    (None, Some(port)) => Ok(WriteAction::ClearIntent { port }),
                    (None, None) => Ok(WriteAction::Nothing),
                }
            }
            _ => Ok(WriteAction::Nothing),
        }
    }

    /// Remembers a point's value before its first write.
    ///
    /// For allowedLoad and percentShed what matters is the limit that was in force, not the
    /// register: getLoad reports 0 for both on a port that is not shed, and 0 for the one not
    /// in use on a shed port. Taking those zeros as "the state before" would make a revert
    /// write a 0 kW cap. So the original is the limit only when the port was shed by it, and
    /// nothing (revert clears the intent) otherwise.
    fn remember_original(&mut self, name: &str) {
        if self.originals.contains_key(name) {
            return;
        }
        let Some(point) = self.device.registry.point(name) else {
            return;
        };
        let value = match point.attribute {
            Attribute::AllowedLoad | Attribute::PercentShed => self.limit_in_force(point),
            _ => point.read(&self.snapshot),
        };
        self.originals
            .insert(name.to_string(), value.unwrap_or(PointValue::Null));
    }

    /// The allowedLoad or percentShed `point` reads, if the port is shed by that limit.
    fn limit_in_force(&self, point: &PointDef) -> Option<PointValue> {
        let port = point.port?;
        let load = self.snapshot.load.as_ref()?;
        let port_load = load.ports.iter().find(|p| p.port == port)?;
        let by_percent = port_load.percent_shed > 0;
        let in_force = port_load.shed_state
            && match point.attribute {
                Attribute::PercentShed => by_percent,
                _ => !by_percent,
            };
        in_force.then(|| point.read(&self.snapshot)).flatten()
    }

    fn on_set_points(
        &mut self,
        myself: &ActorRef<StationMessage>,
        values: Vec<(String, serde_json::Value)>,
        reply: RpcReplyPort<JobResults>,
    ) {
        self.queue_writes(myself, values, JobReply::Points(reply));
    }

    /// Checks each write, remembers the values written points had, and queues them as one job.
    fn queue_writes(
        &mut self,
        myself: &ActorRef<StationMessage>,
        values: Vec<(String, serde_json::Value)>,
        reply: JobReply,
    ) {
        let actions = values
            .into_iter()
            .map(|(name, raw)| {
                let action = self.plan_write(&name, &raw);
                if action.is_ok() {
                    self.remember_original(&name);
                }
                (name, action)
            })
            .collect();
        self.queue_job(myself, WriteJob { actions, reply });
    }

    fn on_revert(
        &mut self,
        myself: &ActorRef<StationMessage>,
        point: Option<String>,
        reply: RpcReplyPort<Result<Vec<(String, WriteOutcome)>, DeviceError>>,
    ) {
        let names: Vec<String> = match point {
            Some(name) => {
                if let Err(e) = self.plan_revert(&name) {
                    // The caller may have given up waiting.
                    let _ = reply.send(Err(e));
                    return;
                }
                vec![name]
            }
            None => {
                // Every point written since start or carrying a Starting Value; sheds first, so
                // reverted limits are stored rather than applied.
                let mut names: Vec<&PointDef> = self
                    .device
                    .registry
                    .points
                    .iter()
                    .filter(|p| p.writable && p.attribute.is_writable())
                    .filter(|p| self.originals.contains_key(&p.name) || p.starting_value.is_some())
                    .collect();
                names.sort_by_key(|p| p.attribute != Attribute::ShedState);
                names.into_iter().map(|p| p.name.clone()).collect()
            }
        };
        let actions = names
            .into_iter()
            .map(|name| {
                let action = self.plan_revert(&name);
                (name, action)
            })
            .collect();
        self.queue_job(
            myself,
            WriteJob {
                actions,
                reply: JobReply::Revert(reply),
            },
        );
    }

    fn queue_starting_values(&mut self, myself: &ActorRef<StationMessage>) {
        let values: Vec<(String, serde_json::Value)> = self
            .device
            .registry
            .points
            .iter()
            .filter(|p| p.writable)
            .filter_map(|p| {
                let v = p.starting_value.as_ref()?;
                Some((p.name.clone(), serde_json::to_value(v).ok()?))
            })
            .collect();
        if values.is_empty() {
            return;
        }
        // Nobody waits for start-up writes: the reply port's receiver is dropped at once.
        let (port, _) = ractor::concurrency::oneshot();
        self.queue_writes(myself, values, JobReply::Points(port.into()));
    }

    /// Queues a clearShedState again for every port that owes one and still shows its shed in
    /// the getLoad just read. Only when no write is running or queued: the retry then runs
    /// right after this getLoad, and a busy station tries again at its next one.
    fn resend_owed_clears(&mut self, myself: &ActorRef<StationMessage>) {
        let now = tokio::time::Instant::now();
        if self.write_running || !self.writes.is_empty() {
            return;
        }
        let Some(load) = &self.snapshot.load else {
            return;
        };
        // The ports' kept registers lag by the messages they have not handled yet; the retry
        // asks the port itself before sending.
        let actions: Vec<_> = load
            .ports
            .iter()
            .filter(|p| {
                self.ports
                    .get(&p.port)
                    .is_some_and(|child| child.kept.borrow().owes_clear(p, now))
            })
            .map(|p| {
                let name = format!("port {} clearShedState (re-sent)", p.port);
                (name, Ok(WriteAction::ResendClear { port: p.port }))
            })
            .collect();
        if actions.is_empty() {
            return;
        }
        // Nobody waits for a retry: the reply port's receiver is dropped at once.
        let (reply, _) = ractor::concurrency::oneshot();
        self.queue_job(
            myself,
            WriteJob {
                actions,
                reply: JobReply::Points(reply.into()),
            },
        );
    }

    fn queue_job(&mut self, myself: &ActorRef<StationMessage>, job: WriteJob) {
        self.writes.push_back(job);
        self.start_next_write(myself);
    }

    fn start_next_write(&mut self, myself: &ActorRef<StationMessage>) {
        if self.write_running {
            return;
        }
        let Some(job) = self.writes.pop_front() else {
            return;
        };
        self.write_running = true;
        let writer = self.writer(myself);
        let myself = myself.clone();
        self.tasks.spawn(async move {
            let mut results = Vec::with_capacity(job.actions.len());
            for (name, action) in job.actions {
                let result = match action {
                    Ok(action) => writer.perform(&name, action).await,
                    Err(e) => Err(e),
                };
                writer.report(&name, &result);
                results.push((name, result));
            }
            job.reply.send(results);
            // The station may have stopped meanwhile; then no job waits.
            let _ = myself.cast(StationMessage::WriteFinished);
        });
    }

    fn on_write_finished(&mut self, myself: &ActorRef<StationMessage>) {
        while self.tasks.try_join_next().is_some() {}
        self.write_running = false;
        self.start_next_write(myself);
    }

    fn writer(&self, myself: &ActorRef<StationMessage>) -> Writer {
        Writer {
            registry: Arc::clone(&self.device.registry),
            observer: Arc::clone(&self.options.station_observer),
            device: self.path(),
            station: self.station().clone(),
            group: self.group,
            gateway: self.gateway.clone(),
            station_actor: myself.clone(),
            ports: self.ports.keys().copied().collect(),
            lease_minutes: self.options.lease_minutes,
            confirm_timeout: self.options.confirm_timeout,
            confirm_poll: self.options.confirm_poll,
            gateway_timeout: self.gateway_timeout(),
        }
    }

    // ----- leases -----

    fn lease_period(&self) -> Duration {
        Duration::from_secs(u64::from(self.options.lease_minutes.max(1)) * 60) * 2 / 3
    }

    fn arm_lease_timer(&mut self, myself: &ActorRef<StationMessage>) {
        let generation = self.generation;
        self.timers
            .push(
                myself.send_after(self.lease_period(), move || StationMessage::LeaseTick {
                    generation,
                }),
            );
    }

    /// Re-sends the shed of every port that should stay shed, before its lease lapses.
    fn on_lease_tick(&mut self, myself: &ActorRef<StationMessage>, generation: u64) {
        if generation != self.generation {
            return;
        }
        self.timers.retain(|t| !t.is_finished());
        self.arm_lease_timer(myself);
        let writer = self.writer(myself);
        self.tasks
            .spawn(async move { writer.reassert_sheds().await });
    }

    // ----- chaos -----

    /// See [`StationMessage::InjectPortPanic`].
    #[cfg(any(test, feature = "chaos"))]
    fn inject_port_panic(&self, port: PortNumber) -> Result<(), DeviceError> {
        let unavailable = |reason: String| DeviceError::Unavailable {
            device: self.path(),
            reason,
        };
        let child = self
            .ports
            .get(&port)
            .ok_or_else(|| unavailable(format!("port {port} has no port actor")))?;
        child
            .actor
            .cast(PortMessage::InjectPanic)
            .map_err(|e| unavailable(format!("port {port}: {e}")))
    }
}

/// Everything a write task needs: a snapshot of the station's handles, so the task never
/// touches the actor's state.
struct Writer {
    registry: Arc<Registry>,
    observer: Arc<dyn StationObserver>,
    device: String,
    station: StationId,
    group: Option<GroupId>,
    gateway: GatewayHandle,
    /// Where read-backs go, so the station's reads show a confirmed write, and the way to the
    /// port actors (see [`StationMessage::ToPort`]).
    station_actor: ActorRef<StationMessage>,
    ports: BTreeSet<PortNumber>,
    lease_minutes: u32,
    confirm_timeout: Duration,
    confirm_poll: Duration,
    gateway_timeout: Duration,
}

impl Writer {
    /// Tells the observer how a write ended; refusals before sending count as failures.
    fn report(&self, point: &str, result: &Result<WriteOutcome, DeviceError>) {
        let Some(def) = self.registry.point(point) else {
            return;
        };
        let failed;
        let outcome = match result {
            Ok(outcome) => outcome,
            Err(e) => {
                failed = WriteOutcome::Failed {
                    reason: e.to_string(),
                };
                &failed
            }
        };
        self.observer
            .write_finished(&self.station, def.attribute.name(), outcome);
    }

    async fn perform(&self, point: &str, action: WriteAction) -> Result<WriteOutcome, DeviceError> {
        match action {
            WriteAction::Nothing => Ok(WriteOutcome::Confirmed),
            WriteAction::Limit { port, limit } => {
                let apply = self
                    .ask_port_for(point, port, |reply| PortMessage::SetLimit { limit, reply })
                    .await?;
                match apply {
                    None => Ok(WriteOutcome::Confirmed),
                    Some(limit) => self.shed(point, port, limit).await,
                }
            }
            WriteAction::ClearIntent { port } => {
                self.tell_port(point, port, PortMessage::ClearIntent)?;
                Ok(WriteOutcome::Confirmed)
            }
            WriteAction::Shed { port } => {
                let registers: PortRegisters = self
                    .ask_port_for(point, port, |reply| PortMessage::Get { reply })
                    .await?;
                let Some(limit) = registers.intent else {
                    return Err(DeviceError::NoShedIntent {
                        device: self.device.clone(),
                        point: point.to_string(),
                        port: port.0,
                    });
                };
                self.shed(point, port, limit).await
            }
            WriteAction::ClearShed { port } => {
                self.known_port(point, port)?;
                let request = WriteRequest::ClearShed(ClearShedRequest {
                    scope: ShedScope::Station(self.station.clone()),
                    ports: vec![port],
                });
                match self.gateway.write(request, self.gateway_timeout).await {
                    Ok(WriteReply::ClearShed(ack)) if !ack.success => Ok(refused("clearShedState")),
                    Ok(_) => {
                        // Lost only as `shed` says; then the port keeps believing the shed and
                        // re-asserting it until shedState=0 is written again.
                        let retry_until = tokio::time::Instant::now() + self.lease();
                        let _ =
                            self.tell_port(point, port, PortMessage::ShedCleared { retry_until });
                        Ok(self.confirm(port, |l| !l.shed_state).await)
                    }
                    Err(e) => self.failed(e),
                }
            }
            WriteAction::ResendClear { port } => {
                let registers: PortRegisters = self
                    .ask_port_for(point, port, |reply| PortMessage::Get { reply })
                    .await?;
                // A write queued before this one may have shed the port again.
                let owed = registers.load.as_ref().is_some_and(|(load, _)| {
                    registers.owes_clear(load, tokio::time::Instant::now())
                });
                if !owed {
                    return Ok(WriteOutcome::Confirmed);
                }
                tracing::info!(device = %self.device, port = %port, "getLoad still shows a cleared shed; re-sending clearShedState");
                let request = WriteRequest::ClearShed(ClearShedRequest {
                    scope: ShedScope::Station(self.station.clone()),
                    ports: vec![port],
                });
                // Nobody waits for this write, and it is no point's: its outcome is logged here.
                let outcome = match self.gateway.write(request, self.gateway_timeout).await {
                    Ok(WriteReply::ClearShed(ack)) if !ack.success => refused("clearShedState"),
                    // The next getLoad shows whether it took.
                    Ok(_) => return Ok(WriteOutcome::Pending),
                    Err(e) => WriteOutcome::Failed {
                        reason: error_chain(&e),
                    },
                };
                if let WriteOutcome::Failed { reason } = &outcome {
                    tracing::warn!(device = %self.device, port = %port, cause = %reason, "clearShedState re-send failed");
                }
                Ok(outcome)
            }
            WriteAction::ClearAlarms => {
                let request = WriteRequest::ClearAlarms(ClearAlarmsQuery {
                    station_id: Some(self.station.clone()),
                    ..ClearAlarmsQuery::default()
                });
                match self.gateway.write(request, self.gateway_timeout).await {
                    Ok(_) => Ok(WriteOutcome::Confirmed),
                    Err(e) => self.failed(e),
                }
            }
        }
    }

    /// How long a shed sent now lasts unless renewed: how long a clear of it is worth
    /// retrying. A shed "until cleared" (0) never lapses; its clear is retried for an hour.
    fn lease(&self) -> Duration {
        match self.lease_minutes {
            0 => Duration::from_secs(60 * 60),
            minutes => Duration::from_secs(u64::from(minutes) * 60),
        }
    }

    fn shed_request(&self, ports: Vec<PortShed>) -> WriteRequest {
        WriteRequest::Shed(ShedRequest {
            scope: ShedScope::Station(self.station.clone()),
            station_limit: None,
            ports,
            time_interval_minutes: self.lease_minutes,
        })
    }

    async fn shed(
        &self,
        point: &str,
        port: PortNumber,
        limit: ShedLimit,
    ) -> Result<WriteOutcome, DeviceError> {
        self.known_port(point, port)?;
        let request = self.shed_request(vec![PortShed { port, limit }]);
        match self.gateway.write(request, self.gateway_timeout).await {
            Ok(WriteReply::Shed(ack)) if !ack.success => Ok(refused("shedLoad")),
            Ok(_) => {
                // Reaches the port even if it was restarted meanwhile. It is lost only if the
                // port fails with this queued behind the failing message (or the station has
                // stopped); then the lease re-assert has nothing to renew, and the shed lapses
                // at the end of its lease: the safe side.
                let _ = self.tell_port(point, port, PortMessage::ShedApplied { limit });
                Ok(self.confirm(port, |l| shows_limit(l, limit)).await)
            }
            Err(e) => self.failed(e),
        }
    }

    /// Reads getLoad back until it shows the write or the confirm timeout passes.
    async fn confirm(&self, port: PortNumber, shows: impl Fn(&PortLoad) -> bool) -> WriteOutcome {
        let deadline = tokio::time::Instant::now() + self.confirm_timeout;
        loop {
            let request = ReadRequest::Load {
                station: self.station.clone(),
                group: self.group,
            };
            let requested = tokio::time::Instant::now();
            if let Ok(ReadReply::Load(Some(load))) =
                self.gateway.read(request, self.gateway_timeout).await
            {
                let shown = load
                    .ports
                    .iter()
                    .find(|p| p.port == port)
                    .is_some_and(&shows);
                // Sent before the write's reply, so the station absorbs it before any read the
                // caller makes next. A stopped station has no reads to update.
                let _ = self
                    .station_actor
                    .cast(StationMessage::LoadReadBack { load, requested });
                if shown {
                    return WriteOutcome::Confirmed;
                }
            }
            if tokio::time::Instant::now() + self.confirm_poll > deadline {
                return WriteOutcome::Pending;
            }
            tokio::time::sleep(self.confirm_poll).await;
        }
    }

    async fn reassert_sheds(&self) {
        let mut sheds = Vec::new();
        for port in &self.ports {
            let port = *port;
            match self
                .ask_port(port, |reply| PortMessage::Get { reply })
                .await
            {
                Ok(registers) => {
                    if let Some(limit) = registers.believed_shed {
                        sheds.push(PortShed { port, limit });
                    }
                }
                Err(e) => {
                    tracing::warn!(device = %self.device, port = %port, cause = %e, "port did not answer for lease re-assert");
                }
            }
        }
        if sheds.is_empty() {
            return;
        }
        if let Err(e) = self
            .gateway
            .write(self.shed_request(sheds), self.gateway_timeout)
            .await
        {
            tracing::warn!(device = %self.device, cause = %error_chain(&e), "lease re-assert failed");
        }
    }

    /// Checks that `point`'s port has a port actor.
    fn known_port(&self, point: &str, port: PortNumber) -> Result<(), DeviceError> {
        if self.ports.contains(&port) {
            return Ok(());
        }
        Err(DeviceError::Unavailable {
            device: self.device.clone(),
            reason: format!("point {point}: port {port} has no port actor"),
        })
    }

    /// Asks `port`'s actor, through the station (see [`StationMessage::ToPort`]).
    async fn ask_port<T: Send + 'static>(
        &self,
        port: PortNumber,
        ask: impl FnOnce(RpcReplyPort<T>) -> PortMessage,
    ) -> Result<T, ractor::RactorErr<StationMessage>> {
        ractor::call_t!(
            self.station_actor,
            |reply| StationMessage::ToPort {
                port,
                message: ask(reply)
            },
            PORT_CALL_TIMEOUT_MS
        )
    }

    /// [`Writer::ask_port`] for `point`'s write.
    async fn ask_port_for<T: Send + 'static>(
        &self,
        point: &str,
        port: PortNumber,
        ask: impl FnOnce(RpcReplyPort<T>) -> PortMessage,
    ) -> Result<T, DeviceError> {
        self.known_port(point, port)?;
        self.ask_port(port, ask)
            .await
            .map_err(|e| self.unavailable(e))
    }

    /// Tells `port`'s actor about `point`'s write, through the station.
    fn tell_port(
        &self,
        point: &str,
        port: PortNumber,
        message: PortMessage,
    ) -> Result<(), DeviceError> {
        self.known_port(point, port)?;
        self.station_actor
            .cast(StationMessage::ToPort { port, message })
            .map_err(|e| self.unavailable(e))
    }

    fn unavailable(&self, error: impl std::fmt::Display) -> DeviceError {
        DeviceError::Unavailable {
            device: self.device.clone(),
            reason: format!("port actor: {error}"),
        }
    }

    /// A write call that failed: a full queue is the caller's problem to retry (nothing was
    /// sent); any other failure is the write's outcome.
    fn failed(&self, error: GatewayError) -> Result<WriteOutcome, DeviceError> {
        match error {
            GatewayError::Overloaded { .. } => Err(DeviceError::from_gateway(&self.device, error)),
            other => Ok(WriteOutcome::Failed {
                reason: error_chain(&other),
            }),
        }
    }
}

/// `PORT_CALL_TIMEOUT` in the milliseconds `call_t!` takes.
const PORT_CALL_TIMEOUT_MS: u64 = PORT_CALL_TIMEOUT.as_millis() as u64;

fn refused(op: &str) -> WriteOutcome {
    WriteOutcome::Failed {
        reason: format!("{op}: ChargePoint answered success=0"),
    }
}

impl Actor for StationActor {
    type Msg = StationMessage;
    type State = StationState;
    type Arguments = StationArguments;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: StationArguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        let mut ports = BTreeMap::new();
        for port in args.device.registry.ports() {
            let registers = PortRegisters::new(args.device.station.clone(), port);
            ports.insert(port, spawn_port(&myself, registers).await?);
        }
        Ok(StationState::new(args, ports))
    }

    async fn post_start(
        &self,
        myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        state.start(&myself);
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        // Sheds in force stay until their lease lapses (see `fleet.rs`).
        state.tasks.abort_all();
        state.timers.drain(..).for_each(|t| t.abort());
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            StationMessage::Tick { generation } => state.on_tick(&myself, generation),
            StationMessage::PollCompleted { method, result } => {
                state.on_poll_completed(&myself, method, result)
            }
            StationMessage::LoadReadBack { load, requested } => {
                state.on_load_read_back(load, requested)
            }
            StationMessage::LeaseTick { generation } => state.on_lease_tick(&myself, generation),
            StationMessage::WriteFinished => state.on_write_finished(&myself),
            StationMessage::ToPort { port, message } => state.to_port(port, message),
            StationMessage::GetPoint { point, reply } => {
                // The caller may have given up waiting.
                let _ = reply.send(state.reading(&point));
            }
            StationMessage::GetPoints { points, reply } => state.on_get_points(points, reply),
            StationMessage::ScrapeAll { reply } => state.on_scrape_all(&myself, reply),
            StationMessage::SetPoints { values, reply } => {
                state.on_set_points(&myself, values, reply)
            }
            StationMessage::Revert { point, reply } => state.on_revert(&myself, point, reply),
            StationMessage::Health { reply } => {
                // The caller may have given up waiting.
                let _ = reply.send(state.health());
            }
            #[cfg(any(test, feature = "chaos"))]
            StationMessage::InjectPanic => panic!("injected panic in station {}", state.station()),
            #[cfg(any(test, feature = "chaos"))]
            StationMessage::InjectPortPanic { port, reply } => {
                // The caller may have given up waiting; the panic is injected all the same.
                let _ = reply.send(state.inject_port_panic(port));
            }
        }
        Ok(())
    }

    /// A port actor that fails is restarted at once, from the registers its last handled
    /// message left: it carries on with its intent, believed shed and observations.
    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        if let SupervisionEvent::ActorFailed(cell, cause) = event {
            let failed = state
                .ports
                .iter()
                .find(|(_, child)| child.actor.get_id() == cell.get_id())
                .map(|(p, child)| (*p, child.kept.borrow().clone()));
            if let Some((port, registers)) = failed {
                tracing::error!(device = %state.device.path, port = %port, cause = %cause, "port actor failed; restarting");
                let child = spawn_port(&myself, registers).await?;
                state.ports.insert(port, child);
            }
        }
        Ok(())
    }
}

/// Starts a port actor supervised by `station_actor`, from `registers`.
/// The shortest run of whole `tick`s that is at least `period`.
fn whole_ticks(period: Duration, tick: Duration) -> Duration {
    let tick_ns = tick.as_nanos().max(1);
    let ticks = period.as_nanos().div_ceil(tick_ns);
    Duration::from_nanos(u64::try_from(ticks * tick_ns).unwrap_or(u64::MAX))
}

async fn spawn_port(
    station_actor: &ActorRef<StationMessage>,
    registers: PortRegisters,
) -> Result<PortChild, ActorProcessingErr> {
    let (args, kept) = PortArguments::new(registers);
    let (actor, _) = Actor::spawn_linked(None, PortActor, args, station_actor.get_cell()).await?;
    Ok(PortChild { actor, kept })
}
