//! The station actor: one ChargePoint station presented as one VOLTTRON device.
//!
//! It scrapes and publishes ([`scrape`]), answers reads and health ([`read`]), and routes
//! writes ([`route`], with their meaning decided in [`plan`]) to its port actors, which run
//! them (see [`crate::port`]); writes of station-level Load points go to one more such actor,
//! for the whole station. It supervises those actors: one that fails is restarted at once
//! from the registers it kept with the station. A port's actor starts with the station's
//! first write (or when the port adopts a shed in force); until then the station keeps the
//! port's registers itself (see `PortChild`).

mod plan;
mod read;
mod route;
mod scrape;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use cp_registry::{
    ApiMethod, Device, GroupId, MethodMap, MethodSet, PointDef, PointValue, StationId, StationLoad,
    StationSnapshot,
};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use tokio::sync::{broadcast, watch};
use tokio::task::{JoinHandle, JoinSet};

pub use route::{answers, RoutedWrites};

use crate::api::LoadScope;
use crate::device::{DeviceError, MethodFailure, PointReading, Publish, StationHealth};
use crate::gateway::{GatewayError, GatewayHandle, ReadReply};
use crate::observe::StationObserver;
use crate::options::FleetOptions;
use crate::port::{
    PlanRefusals, PortActor, PortArguments, PortContext, PortMessage, PortRegisters, PortTasks,
    ReadBackSink, StationClearedSink,
};
use crate::tally::{FleetTally, TallyShare};
use crate::writes::WriteLog;

/// How far back the account's first getChargingSessionData looks for each port's latest
/// session (later queries go on from the newest session seen, see `gateway/held.rs`).
/// ChargePoint pages at 100 sessions oldest first, so an unbounded query would return the
/// oldest, not the latest. Twelve hours finds every session still running that later queries
/// follow (the gateway re-reads running sessions as far back as that), at half the pages of a
/// day: a 2,500-station account's half day is about 75 pages, which the gateway reads after the
/// last hour's, newest first and paced (see `SessionLog` in `gateway/held.rs`). A port whose
/// latest session started earlier shows none until its next one.
const SESSION_LOOKBACK: chrono::Duration = chrono::Duration::hours(12);

/// The longest a scrape waits for its polls before it publishes what is in: a slow or hanging
/// method withholds its own points, not the station's others (and never for more than half a
/// tick).
const PUBLISH_WAIT: Duration = Duration::from_secs(10);

/// The station actor; all state lives in [`StationState`].
pub struct StationActor;

/// What [`StationActor`] needs to start.
pub struct StationArguments {
    pub device: Arc<Device>,
    /// The fleet's tick origin: every station ticks at `epoch + n × tick`, so the stations of an
    /// account ask together and one round of account-wide calls answers them all.
    pub epoch: tokio::time::Instant,
    pub gateway: GatewayHandle,
    pub options: Arc<FleetOptions>,
    /// Where every publish goes (the SSE stream subscribes); bounded, slow readers lag.
    pub publisher: broadcast::Sender<Publish>,
    /// The fleet's write log: the station opens an entry for every write it routes.
    pub writes: WriteLog,
    /// The fleet's health in numbers, where the station keeps its own.
    pub(crate) tally: Arc<FleetTally>,
}

/// The station's mailbox.
pub enum StationMessage {
    /// The scrape timer.
    Tick,
    /// The publish deadline of scrape number `scrape`: publish with whatever is in; one for
    /// a scrape already published is dropped.
    PublishDue { scrape: u64 },
    /// A poll's answer. Polls of different methods complete in any order.
    PollCompleted {
        method: ApiMethod,
        result: Result<ReadReply, GatewayError>,
    },
    /// A poll the gateway dropped unanswered: it stopped, or was never reached.
    PollLost { method: ApiMethod },
    /// A port write's getLoad read-back, sent when it was asked for at `requested`: it updates
    /// the snapshot and the ports as a scrape's getLoad does, so the next read shows the
    /// write. Arrives before the write's answer.
    LoadReadBack {
        load: Arc<StationLoad>,
        requested: tokio::time::Instant,
    },
    /// clearAlarms was accepted at `accepted`: the station's alarms are gone, so its alarm
    /// points read empty at once rather than at the next getAlarms. Sent by the clearAlarms
    /// task before it answers the write, so a read after the answer sees it.
    AlarmsCleared { accepted: tokio::time::Instant },
    /// ChargePoint accepted a clearShedState of the whole station (a station-level
    /// shedState 0): the ports' sheds went with it, so each port is told. Sent by the write's
    /// task before its read-back.
    StationShedCleared,
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
    /// set_point / set_multiple_points: checked and routed; each port runs its writes in the
    /// order given and answers on the receivers of the reply.
    SetPoints {
        values: Vec<(String, serde_json::Value)>,
        reply: RpcReplyPort<RoutedWrites>,
    },
    /// revert_point (`Some`) or revert_device (`None`), routed as `SetPoints`.
    Revert {
        point: Option<String>,
        reply: RpcReplyPort<Result<RoutedWrites, DeviceError>>,
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
        port: cp_registry::PortNumber,
        reply: RpcReplyPort<Result<(), DeviceError>>,
    },
}

/// A port (or the station's Load points, see [`LoadScope`]) and its actor, once it has one.
enum PortChild {
    /// No actor yet: the station keeps the registers and applies getLoad and getStationStatus
    /// to them itself. An actor costs several kilobytes (its mailboxes and task) and most
    /// ports of a fleet are never written, so a port gets its actor at its station's first
    /// write, or when its registers adopt a shed in force that it must keep renewing.
    /// Both boxed: a port's registers are ~230 bytes, and the station's list of ports stays a
    /// pointer an entry.
    Idle(Box<PortRegisters>),
    Running(Box<RunningPort>),
}

/// The station's ports (and station-level Load scope), each with its actor once it has one, in
/// scope order. A plain list: a station has a few, and a map's first node has room for eleven
/// (~300 bytes a station).
struct StationPorts(Vec<(LoadScope, PortChild)>);

impl StationPorts {
    /// Where `scope` is in the list, or where it would go.
    fn find(&self, scope: &LoadScope) -> Result<usize, usize> {
        self.0.binary_search_by_key(scope, |(s, _)| *s)
    }

    fn get(&self, scope: &LoadScope) -> Option<&PortChild> {
        let at = self.find(scope).ok()?;
        Some(&self.0[at].1)
    }

    fn get_mut(&mut self, scope: &LoadScope) -> Option<&mut PortChild> {
        let at = self.find(scope).ok()?;
        Some(&mut self.0[at].1)
    }

    /// Puts `child` at `scope`, in place of the child there if any.
    fn insert(&mut self, scope: LoadScope, child: PortChild) {
        match self.find(&scope) {
            Ok(at) => self.0[at].1 = child,
            Err(at) => self.0.insert(at, (scope, child)),
        }
    }

    fn remove(&mut self, scope: &LoadScope) -> Option<PortChild> {
        let at = self.find(scope).ok()?;
        Some(self.0.remove(at).1)
    }

    fn iter(&self) -> impl Iterator<Item = (&LoadScope, &PortChild)> {
        self.0.iter().map(|(scope, child)| (scope, child))
    }

    fn keys(&self) -> impl Iterator<Item = &LoadScope> {
        self.0.iter().map(|(scope, _)| scope)
    }
}

impl FromIterator<(LoadScope, PortChild)> for StationPorts {
    fn from_iter<I: IntoIterator<Item = (LoadScope, PortChild)>>(children: I) -> Self {
        let mut ports: Vec<_> = children.into_iter().collect();
        ports.sort_by_key(|(scope, _)| *scope);
        ports.dedup_by_key(|(scope, _)| *scope);
        ports.shrink_to_fit();
        StationPorts(ports)
    }
}

impl PortChild {
    /// The registers as they stand now.
    fn registers(&self) -> PortRegisters {
        match self {
            PortChild::Idle(registers) => (**registers).clone(),
            PortChild::Running(port) => port.kept.borrow().clone(),
        }
    }

    fn actor(&self) -> Option<&ActorRef<PortMessage>> {
        match self {
            PortChild::Idle(_) => None,
            PortChild::Running(port) => Some(&port.actor),
        }
    }
}

/// What the station last told its observer (the metrics) of the values it sets rather than
/// counts: at thousands of stations, setting every gauge again each scrape when nothing
/// changed is most of the metrics' cost. The station's telemetry (status, load, sessions)
/// is compared with the snapshot it replaces instead.
#[derive(Debug, Default)]
struct Reported {
    up: Option<bool>,
    alarms: Option<usize>,
    /// Whether each method's latest call was refused for plan rights.
    refused: MethodMap<bool>,
}

/// Which idle ports [`StationState::start_ports`] starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StartPorts {
    /// Every port: a write is coming.
    All,
    /// Those whose registers believe a shed in force: it must be renewed.
    Shed,
}

/// A port actor the station supervises.
struct RunningPort {
    actor: ActorRef<PortMessage>,
    /// The port's registers as of the last message it handled: what it restarts from if it
    /// fails. The port holds the sender (see `port/mod.rs`).
    kept: watch::Receiver<PortRegisters>,
    /// The port actor running now, for the port's tasks (see `port::PortAddress`): replaced
    /// when the port is restarted.
    address: watch::Sender<Option<ActorRef<PortMessage>>>,
}

/// The latest publish, as the station keeps it for scrape_all: which points it carried and
/// when, not the message itself. Thousands of stations each holding a built message (every
/// point's name, value and meta) cost more memory than all their other state; the message is
/// rebuilt from the snapshot when asked for, so it shows what the station holds now (a write's
/// read-back, a clearAlarms) for the points the publish carried.
struct LatestPublish {
    /// When it was published, for its headers.
    at: DateTime<Utc>,
    /// The same moment on the scrape clock: a cached answer is good for a tick.
    instant: tokio::time::Instant,
    /// Whether it carried each point, by the point's index in the registry.
    included: Box<[bool]>,
}

/// A timer task that sends the station a message (`ActorRef::send_after`).
type StationTimer = JoinHandle<Result<(), ractor::MessagingErr<StationMessage>>>;

/// Tells the station that clearAlarms was accepted (see [`StationMessage::AlarmsCleared`]).
pub(crate) type AlarmsClearedSink = Arc<dyn Fn(tokio::time::Instant) + Send + Sync>;

/// The station's mutable state.
pub struct StationState {
    device: Arc<Device>,
    gateway: GatewayHandle,
    options: Arc<FleetOptions>,
    publisher: broadcast::Sender<Publish>,
    /// Each port, and the station's Load points when the registry writes any (see
    /// [`LoadScope`]), with its actor once it has one.
    ports: StationPorts,
    /// What the ports share: their calls' context and the station-owned task set. Made when
    /// first needed: the station's first write, or a port adopting a shed in force (see
    /// [`StationState::port_context`]).
    port_context: Option<Arc<PortContext>>,
    /// This station's actor: where the port context's sinks send.
    myself: ActorRef<StationMessage>,
    /// The fleet's write log, for the port context.
    writes: WriteLog,
    /// The latest record of each kind.
    snapshot: StationSnapshot,
    /// The station's group (from getStations): lets the gateway read load by group. The ports
    /// hold receivers for their read-backs.
    group: watch::Sender<Option<GroupId>>,
    /// Each method the registry needs, with how often it is called.
    periods: Vec<(ApiMethod, Duration)>,
    /// The publish cadence: the shortest scrape interval of any point.
    tick: Duration,
    /// See [`StationArguments::epoch`].
    epoch: tokio::time::Instant,
    /// When the next scrape tick is due.
    next_tick: tokio::time::Instant,
    /// When each method was last asked for (cleared on failure, so the next tick retries).
    requested_at: MethodMap<tokio::time::Instant>,
    /// When each method last answered.
    fetched_at: MethodMap<DateTime<Utc>>,
    /// When the newest getLoad in the snapshot was asked for: a scrape's getLoad asked before
    /// a write's read-back must not bring back the values the write replaced.
    load_requested: Option<tokio::time::Instant>,
    /// When the latest clearAlarms was accepted: a getAlarms asked before it must not bring
    /// back the alarms it cleared.
    alarms_cleared: Option<tokio::time::Instant>,
    /// The clearAlarms task's way back to the station.
    alarms_cleared_sink: AlarmsClearedSink,
    /// Methods whose latest call failed. Boxed: a healthy station has none, and nine
    /// failures inline (~360 bytes) in every station's state add up over thousands.
    failures: MethodMap<Box<MethodFailure>>,
    /// Methods with a poll in flight.
    polling: MethodSet,
    /// The polls the scrape under way waits for before it publishes (polls still on their way
    /// from an earlier scrape do not hold it).
    awaited: MethodSet,
    /// Counts scrapes, so a stale publish deadline is ignored.
    scrapes: u64,
    /// A scrape waits for its polls to publish.
    scrape_pending: bool,
    scrape_started: tokio::time::Instant,
    scrape_waiters: Vec<RpcReplyPort<Result<Publish, DeviceError>>>,
    /// When each point was last published, by its index in the registry (points publish at
    /// their own scrape interval).
    last_included: Box<[scrape::PublishedAt]>,
    heartbeat: bool,
    /// The latest publish, kept small (see [`LatestPublish`]).
    latest: Option<LatestPublish>,
    /// When `latest` was published.
    last_scrape: Option<DateTime<Utc>>,
    last_ok_scrape: Option<DateTime<Utc>>,
    /// What the observer was last told of the station, so it is told only of changes.
    reported: Reported,
    /// The station's numbers in the fleet's tally, updated after every message; taken out
    /// when the state is dropped.
    tally: TallyShare,
    /// Each written point's value before its first write: what revert goes back to when the
    /// registry gives no Starting Value.
    originals: HashMap<String, PointValue>,
    /// The next tick.
    tick_timer: Option<StationTimer>,
    /// The deadline of the scrape under way; aborted when the scrape publishes, so a
    /// station between scrapes keeps one timer task, not two.
    publish_timer: Option<StationTimer>,
    /// clearAlarms tasks; dropping the set (in `post_stop`) aborts them. (Polls need none:
    /// the gateway casts their answers.)
    tasks: JoinSet<()>,
}

impl StationState {
    fn new(
        args: StationArguments,
        myself: ActorRef<StationMessage>,
        ports: StationPorts,
        group: watch::Sender<Option<GroupId>>,
        alarms_cleared_sink: AlarmsClearedSink,
    ) -> Self {
        let interval = args.device.interval;
        let registry = &args.device.registry;
        let point_count = registry.points.len();
        // The device's periods, not the bare registry's: `cacheExpiration` stretches them, as
        // `check` reports.
        let mut periods = args.device.call_periods();
        if registry.needs_station_group() {
            // Called for the station group only (getLoad by group): the fleet's refresh
            // period decides, as no point's data currency does.
            for (method, period) in &mut periods {
                if *method == ApiMethod::GetStations {
                    *period = args.options.station_info_refresh;
                }
            }
        }
        let tick = registry.tick(interval);
        StationState {
            epoch: args.epoch,
            device: args.device,
            gateway: args.gateway,
            options: args.options,
            publisher: args.publisher,
            ports,
            port_context: None,
            myself,
            writes: args.writes,
            snapshot: StationSnapshot::default(),
            group,
            periods,
            tick,
            next_tick: tokio::time::Instant::now(),
            requested_at: MethodMap::new(),
            fetched_at: MethodMap::new(),
            load_requested: None,
            alarms_cleared: None,
            alarms_cleared_sink,
            failures: MethodMap::new(),
            polling: MethodSet::default(),
            awaited: MethodSet::default(),
            scrapes: 0,
            scrape_pending: false,
            scrape_started: tokio::time::Instant::now(),
            scrape_waiters: Vec::new(),
            last_included: vec![scrape::PublishedAt::NEVER; point_count].into(),
            heartbeat: false,
            latest: None,
            last_scrape: None,
            last_ok_scrape: None,
            reported: Reported::default(),
            tally: TallyShare::new(args.tally),
            originals: HashMap::new(),
            tick_timer: None,
            publish_timer: None,
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
        self.observer()
            .station_started(self.station(), &self.device.account, &writable);
        // getStations first, so the group is known when the first scrape reads load; only when
        // a point or the group needs it (see `Registry::call_periods`).
        if self
            .periods
            .iter()
            .any(|(m, _)| *m == ApiMethod::GetStations)
        {
            self.poll(myself, ApiMethod::GetStations);
        }
        // The first scrape at once; then on the fleet's ticks.
        self.next_tick = tokio::time::Instant::now();
        self.arm_tick_timer(myself);
        if self.options.write_starting_values {
            self.write_starting_values();
        }
    }

    /// See [`StationMessage::InjectPortPanic`].
    #[cfg(any(test, feature = "chaos"))]
    fn inject_port_panic(&self, port: cp_registry::PortNumber) -> Result<(), DeviceError> {
        let unavailable = |reason: String| DeviceError::Unavailable {
            device: self.path(),
            reason,
        };
        let actor = self
            .ports
            .get(&LoadScope::Port(port))
            .and_then(PortChild::actor)
            .ok_or_else(|| unavailable(format!("port {port} has no port actor")))?;
        actor
            .cast(PortMessage::InjectPanic)
            .map_err(|e| unavailable(format!("port {port}: {e}")))
    }

    /// What the station's ports and writes share, made at its first use: most stations of a
    /// fleet are never written, and each context (its sinks, task set, names) is ~700 bytes.
    fn port_context(&mut self) -> Arc<PortContext> {
        let context = self.port_context.get_or_insert_with(|| {
            let station_actor = self.myself.clone();
            let read_back: ReadBackSink = Arc::new(move |load, requested| {
                // A stopped station has no reads to update.
                let _ = station_actor.cast(StationMessage::LoadReadBack { load, requested });
            });
            let station_actor = self.myself.clone();
            let station_cleared: StationClearedSink = Arc::new(move || {
                // A stopped station has no ports to tell.
                let _ = station_actor.cast(StationMessage::StationShedCleared);
            });
            Arc::new(PortContext {
                device: self.device.path.to_string(),
                station: self.device.station.clone(),
                account: self.device.account.clone(),
                gateway: self.gateway.clone(),
                options: port_options(&self.options, &self.device),
                group: self.group.subscribe(),
                read_back,
                station_cleared,
                tasks: PortTasks::default(),
                plan_refusals: PlanRefusals::default(),
                writes: self.writes.clone(),
            })
        });
        Arc::clone(context)
    }

    /// Starts the actors of the idle ports `which` asks for, from the registers the station
    /// kept for them.
    async fn start_ports(
        &mut self,
        myself: &ActorRef<StationMessage>,
        which: StartPorts,
    ) -> Result<(), ActorProcessingErr> {
        let idle: Vec<LoadScope> = self
            .ports
            .iter()
            .filter(|(_, child)| match child {
                PortChild::Idle(registers) => {
                    which == StartPorts::All || registers.believed_shed.is_some()
                }
                PortChild::Running(_) => false,
            })
            .map(|(scope, _)| *scope)
            .collect();
        if idle.is_empty() {
            return Ok(());
        }
        // Boxed: spawning's future is over a kilobyte, and inline it would sit in the
        // station's message handler, which every station's actor keeps allocated between
        // messages (`handle_supervisor_evt` boxes it too).
        Box::pin(self.spawn_idle_ports(myself, idle)).await
    }

    /// Starts the actors of the idle ports `idle`.
    async fn spawn_idle_ports(
        &mut self,
        myself: &ActorRef<StationMessage>,
        idle: Vec<LoadScope>,
    ) -> Result<(), ActorProcessingErr> {
        for scope in idle {
            let Some(registers) = self.ports.get(&scope).map(PortChild::registers) else {
                continue;
            };
            let (address, _) = watch::channel(None);
            let context = self.port_context();
            let port = spawn_port(myself, &context, registers, address).await?;
            self.ports.insert(scope, PortChild::Running(Box::new(port)));
        }
        Ok(())
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
        let (group, _) = watch::channel(None);
        let station_actor = myself.clone();
        let alarms_cleared: AlarmsClearedSink = Arc::new(move |accepted| {
            // A stopped station has no alarms to show.
            let _ = station_actor.cast(StationMessage::AlarmsCleared { accepted });
        });
        let registry = &args.device.registry;
        let station_scope = registry.writes_station_load().then_some(LoadScope::Station);
        let scopes = station_scope
            .into_iter()
            .chain(registry.ports().into_iter().map(LoadScope::Port));
        // Their actors start when needed (see `PortChild::Idle`).
        let ports = scopes
            .map(|scope| {
                let registers = PortRegisters::new(args.device.station.clone(), scope);
                (scope, PortChild::Idle(Box::new(registers)))
            })
            .collect();
        Ok(StationState::new(
            args,
            myself,
            ports,
            group,
            alarms_cleared,
        ))
    }

    async fn post_start(
        &self,
        myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        if state.options.write_starting_values {
            state.start_ports(&myself, StartPorts::All).await?;
        }
        state.start(&myself);
        state.update_tally();
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        // Sheds in force stay until their lease lapses (see `fleet.rs`).
        state.tasks.abort_all();
        if let Some(context) = &state.port_context {
            context.tasks.stop();
        }
        for timer in [state.tick_timer.take(), state.publish_timer.take()]
            .into_iter()
            .flatten()
        {
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
            StationMessage::Tick => state.on_tick(&myself),
            StationMessage::PublishDue { scrape } => state.on_publish_due(scrape),
            StationMessage::PollLost { method } => {
                let lost = state.gateway_unreachable("dropped the request");
                state.on_poll_completed(&myself, method, Err(lost));
            }
            StationMessage::PollCompleted { method, result } => {
                state.on_poll_completed(&myself, method, result);
                // A first getLoad may have shown a shed the ports now keep.
                state.start_ports(&myself, StartPorts::Shed).await?;
            }
            StationMessage::LoadReadBack { load, requested } => {
                state.on_load_read_back(load, requested)
            }
            StationMessage::AlarmsCleared { accepted } => state.on_alarms_cleared(accepted),
            StationMessage::StationShedCleared => state.on_station_shed_cleared(),
            StationMessage::GetPoint { point, reply } => {
                // The caller may have given up waiting.
                let _ = reply.send(state.reading(&point));
            }
            StationMessage::GetPoints { points, reply } => state.on_get_points(points, reply),
            StationMessage::ScrapeAll { reply } => state.on_scrape_all(&myself, reply),
            StationMessage::SetPoints { values, reply } => {
                state.start_ports(&myself, StartPorts::All).await?;
                state.on_set_points(values, reply)
            }
            StationMessage::Revert { point, reply } => {
                state.start_ports(&myself, StartPorts::All).await?;
                state.on_revert(point, reply)
            }
            StationMessage::Health { reply } => {
                // The caller may have given up waiting.
                let _ = reply.send(state.health());
            }
            #[cfg(any(test, feature = "chaos"))]
            StationMessage::InjectPanic => panic!("injected panic in station {}", state.station()),
            #[cfg(any(test, feature = "chaos"))]
            StationMessage::InjectPortPanic { port, reply } => {
                state.start_ports(&myself, StartPorts::All).await?;
                // The caller may have given up waiting; the panic is injected all the same.
                let _ = reply.send(state.inject_port_panic(port));
            }
        }
        state.update_tally();
        Ok(())
    }

    /// A port actor that fails is restarted at once, from the registers its last handled
    /// message left: it carries on with its intent, believed shed and observations, and its
    /// tasks in flight report to it.
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
                .find(|(_, child)| child.actor().is_some_and(|a| a.get_id() == cell.get_id()))
                .map(|(p, _)| *p);
            if let Some((port, PortChild::Running(child))) =
                failed.and_then(|p| state.ports.remove(&p).map(|c| (p, c)))
            {
                tracing::error!(device = %state.device.path, scope = %port, cause = %cause, "port actor failed; restarting");
                let registers = child.kept.borrow().clone();
                let child = Box::pin(spawn_port(
                    &myself,
                    &state.port_context(),
                    registers,
                    child.address,
                ))
                .await?;
                state
                    .ports
                    .insert(port, PortChild::Running(Box::new(child)));
            }
        }
        Ok(())
    }
}

/// The options the station's ports run with: the fleet's, with the device's own shed lease
/// when its configuration gives one.
fn port_options(options: &Arc<FleetOptions>, device: &Device) -> Arc<FleetOptions> {
    match device.shed_lease_minutes {
        Some(minutes) if minutes != options.lease_minutes => Arc::new(FleetOptions {
            lease_minutes: minutes,
            ..(**options).clone()
        }),
        _ => Arc::clone(options),
    }
}

/// Starts a port actor supervised by `station_actor`, from `registers`, and makes it the one
/// `address` names.
async fn spawn_port(
    station_actor: &ActorRef<StationMessage>,
    context: &Arc<PortContext>,
    registers: PortRegisters,
    address: watch::Sender<Option<ActorRef<PortMessage>>>,
) -> Result<RunningPort, ActorProcessingErr> {
    let (kept, kept_seen) = watch::channel(registers);
    let args = PortArguments {
        context: Arc::clone(context),
        kept,
        address: address.subscribe(),
    };
    let (actor, _) = Actor::spawn_linked(None, PortActor, args, station_actor.get_cell()).await?;
    // The port's tasks wait for this when their port has failed; nobody else reads it.
    address.send_replace(Some(actor.clone()));
    Ok(RunningPort {
        actor,
        kept: kept_seen,
        address,
    })
}
