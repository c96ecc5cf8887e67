//! An in-memory ChargePoint account for tests: stations with ports, loads, sheds and alarms,
//! every call recorded with its (tokio) time, failures scripted per method.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{TimeZone, Utc};
use cp_registry::{
    Alarm, ApiMethod, ChargingSession, GroupId, LoadReport, PortLoad, PortNumber, PortStatus,
    PortStatusWord, RefusedValue, RightsProfile, StationId, StationInfo, StationLoad,
    StationRights, StationStatus,
};

use crate::api::*;
use crate::error::SoapError;
use crate::gateway::{Gateway, GatewayArguments, GatewayHandle, GatewayOptions, Retrying};
use crate::observe::NoObserver;

/// A gateway for the account `acct` whose calls go to `api`.
pub(crate) async fn start_gateway(api: Arc<FakeApi>, options: GatewayOptions) -> GatewayHandle {
    let account = cp_registry::AccountId("acct".into());
    let retrying = Arc::new(Retrying::default());
    let (actor, _) = ractor::Actor::spawn(
        None,
        Gateway,
        GatewayArguments {
            account: account.clone(),
            api,
            options,
            observer: Arc::new(NoObserver),
            retrying: Arc::clone(&retrying),
        },
    )
    .await
    .expect("gateway starts");
    GatewayHandle {
        account,
        actor,
        retrying,
    }
}

/// A failure to script for a method.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Fail {
    Http(u16),
    PlanRights,
    /// No answer, ever: the caller's deadline ends the call. Nothing is applied.
    Hang,
    /// The call is carried out (a write applies), and its answer arrives cut short.
    Truncated,
}

impl Fail {
    fn into_error(self, op: ApiMethod) -> SoapError {
        match self {
            Fail::Http(status) => SoapError::HttpStatus { op, status },
            Fail::PlanRights => SoapError::PlanRights {
                op,
                code: "101".into(),
                text: "not permitted".into(),
            },
            // Only reached once the caller has given up on the hung call.
            Fail::Hang => SoapError::Timeout {
                op,
                after: Duration::ZERO,
            },
            Fail::Truncated => SoapError::Malformed {
                op,
                detail: "truncated".into(),
            },
        }
    }
}

/// One call as the fake saw it.
#[derive(Debug, Clone)]
pub(crate) struct RecordedCall {
    pub method: ApiMethod,
    pub at: tokio::time::Instant,
    /// The query, debug-printed: enough for tests to tell calls apart.
    pub detail: String,
}

#[derive(Debug, Clone)]
pub(crate) struct FakePort {
    pub status: PortStatusWord,
    pub load: f64,
    pub shed: Option<ShedLimit>,
}

#[derive(Debug, Clone)]
pub(crate) struct FakeStation {
    pub group: Option<GroupId>,
    pub ports: BTreeMap<PortNumber, FakePort>,
    pub alarms: Vec<Alarm>,
    /// A station-wide shed: each port without its own shows its even share, as the
    /// simulator's do.
    pub shed: Option<ShedLimit>,
    /// Impossible numbers its getLoad entry carries (as the client refuses them).
    pub refused: Vec<RefusedValue>,
}

#[derive(Default)]
struct Inner {
    stations: BTreeMap<StationId, FakeStation>,
    calls: Vec<RecordedCall>,
    /// One-shot failures, taken in order.
    scripted: HashMap<ApiMethod, VecDeque<Fail>>,
    /// Methods that always fail this way.
    always: HashMap<ApiMethod, Fail>,
    /// Stations whose every method fails (a station the account lost).
    broken_stations: HashSet<StationId>,
    /// Accept sheds without applying them: the write never becomes visible.
    ignore_writes: bool,
    /// What getChargingSessionData finds, filtered by its query.
    sessions: Vec<ChargingSession>,
    latency: Duration,
    /// The organisation-wide station group every station is also in (getStationRights lists
    /// it), if any.
    org_group: Option<GroupId>,
    /// Methods slower than `latency`.
    slow: HashMap<ApiMethod, Duration>,
    /// Methods whose every call is this many requests (pages), each recorded and paced as the
    /// SOAP client paces them.
    pages: HashMap<ApiMethod, usize>,
}

pub(crate) struct FakeApi {
    inner: Mutex<Inner>,
}

pub(crate) fn station_id(n: usize) -> StationId {
    StationId::new(format!("1:{}", 1000 + n))
}

/// A session on `port` of `station` that started `start_min` minutes after 10:00 on
/// 2026-11-29 and lasted half an hour, or is still running.
pub(crate) fn session(
    station: &StationId,
    port: u16,
    id: i64,
    start_min: i64,
    ended: bool,
) -> ChargingSession {
    let start = chrono::DateTime::parse_from_rfc3339("2026-11-29T10:00:00Z")
        .expect("a valid time")
        .with_timezone(&chrono::Utc)
        + chrono::Duration::minutes(start_min);
    ChargingSession {
        station_id: station.clone(),
        station_name: None,
        port: Some(PortNumber(port)),
        address: None,
        city: None,
        state: None,
        country: None,
        postal_code: None,
        session_id: id,
        energy: 1.0,
        start_time: start,
        end_time: ended.then_some(start + chrono::Duration::minutes(30)),
        user_id: None,
        record_number: None,
        credential_id: None,
        refused: Vec::new(),
    }
}

impl FakeApi {
    /// `stations` stations with `ports` ports each; station `n` is in group `n / group_size`.
    pub fn new(stations: usize, ports: u16, group_size: usize) -> Self {
        let mut inner = Inner::default();
        for n in 0..stations {
            let ports = (1..=ports)
                .map(|p| {
                    (
                        PortNumber(p),
                        FakePort {
                            status: PortStatusWord::Available,
                            load: 0.0,
                            shed: None,
                        },
                    )
                })
                .collect();
            inner.stations.insert(
                station_id(n),
                FakeStation {
                    group: Some(GroupId(
                        i32::try_from(n / group_size.max(1)).unwrap_or(0) + 1,
                    )),
                    ports,
                    alarms: Vec::new(),
                    shed: None,
                    refused: Vec::new(),
                },
            );
        }
        FakeApi {
            inner: Mutex::new(inner),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().expect("fake api lock is never poisoned")
    }

    pub fn with_station<R>(&self, station: &StationId, f: impl FnOnce(&mut FakeStation) -> R) -> R {
        f(self
            .lock()
            .stations
            .get_mut(station)
            .expect("test station exists"))
    }

    pub fn script(&self, method: ApiMethod, failures: &[Fail]) {
        self.lock()
            .scripted
            .entry(method)
            .or_default()
            .extend(failures.iter().copied());
    }

    pub fn always_fail(&self, method: ApiMethod, fail: Fail) {
        self.lock().always.insert(method, fail);
    }

    /// Ends an [`FakeApi::always_fail`].
    pub fn heal(&self, method: ApiMethod) {
        self.lock().always.remove(&method);
    }

    pub fn break_station(&self, station: &StationId) {
        self.lock().broken_stations.insert(station.clone());
    }

    pub fn heal_station(&self, station: &StationId) {
        self.lock().broken_stations.remove(station);
    }

    pub fn add_session(&self, session: ChargingSession) {
        self.lock().sessions.push(session);
    }

    pub fn ignore_writes(&self, ignore: bool) {
        self.lock().ignore_writes = ignore;
    }

    /// Puts every station also in `group`, as an organisation-wide group.
    pub fn set_org_group(&self, group: GroupId) {
        self.lock().org_group = Some(group);
    }

    /// Makes every call of `method` take `latency` (instead of the common latency).
    pub fn set_method_latency(&self, method: ApiMethod, latency: Duration) {
        self.lock().slow.insert(method, latency);
    }

    pub fn set_latency(&self, latency: Duration) {
        self.lock().latency = latency;
    }

    /// Makes every call of `method` take `pages` requests, as a paged list does.
    pub fn set_pages(&self, method: ApiMethod, pages: usize) {
        self.lock().pages.insert(method, pages);
    }

    pub fn calls(&self) -> Vec<RecordedCall> {
        self.lock().calls.clone()
    }

    pub fn calls_of(&self, method: ApiMethod) -> Vec<RecordedCall> {
        self.calls()
            .into_iter()
            .filter(|c| c.method == method)
            .collect()
    }

    /// Changes the addressed station, unless writes are being ignored.
    fn apply_write(&self, scope: &ShedScope, change: impl FnOnce(&mut FakeStation)) {
        let mut inner = self.lock();
        if inner.ignore_writes {
            return;
        }
        if let Some(station) = scope_station(scope).and_then(|s| inner.stations.get_mut(s)) {
            change(station);
        }
    }

    /// Records the call (each of its pages, paced as the SOAP client paces them), waits the
    /// latency, then fails if a failure is scripted.
    async fn enter(
        &self,
        method: ApiMethod,
        detail: String,
        station: Option<&StationId>,
    ) -> Result<(), SoapError> {
        match self.enter_write(method, detail, station).await? {
            Some(lost) => Err(lost),
            None => Ok(()),
        }
    }

    /// As [`FakeApi::enter`], for a write: `Ok(Some(error))` when the write is to be carried
    /// out and answered with `error` ([`Fail::Truncated`]).
    async fn enter_write(
        &self,
        method: ApiMethod,
        detail: String,
        station: Option<&StationId>,
    ) -> Result<Option<SoapError>, SoapError> {
        let pages = self.lock().pages.get(&method).copied().unwrap_or(1);
        for page in 1..=pages {
            crate::gateway::pace_request().await;
            let latency = {
                let mut inner = self.lock();
                inner.calls.push(RecordedCall {
                    method,
                    at: tokio::time::Instant::now(),
                    detail: match page {
                        1 => detail.clone(),
                        _ => format!("{detail} (page {page})"),
                    },
                });
                inner.slow.get(&method).copied().unwrap_or(inner.latency)
            };
            if !latency.is_zero() {
                tokio::time::sleep(latency).await;
            }
        }
        let fail = {
            let mut inner = self.lock();
            let scripted = inner
                .scripted
                .get_mut(&method)
                .and_then(VecDeque::pop_front);
            let broken = station.is_some_and(|s| inner.broken_stations.contains(s));
            scripted
                .or_else(|| inner.always.get(&method).copied())
                .or(broken.then_some(Fail::Http(500)))
        };
        match fail {
            None => Ok(None),
            Some(Fail::Hang) => std::future::pending().await,
            Some(Fail::Truncated) => Ok(Some(Fail::Truncated.into_error(method))),
            Some(other) => Err(other.into_error(method)),
        }
    }
}

fn port_load(port: PortNumber, fake: &FakePort, station: &FakeStation) -> PortLoad {
    let shed = fake
        .shed
        .map(|limit| (limit, 1))
        .or(station.shed.map(|limit| (limit, station.ports.len())));
    let (allowed_load, percent_shed) = match shed {
        Some((ShedLimit::AllowedLoad(kw), share)) => (kw / share as f64, 0),
        Some((ShedLimit::PercentShed(pct), _)) => (0.0, pct),
        None => (0.0, 0),
    };
    PortLoad {
        port,
        user_id: None,
        credential_id: None,
        shed_state: shed.is_some(),
        port_load: fake.load,
        allowed_load,
        percent_shed,
    }
}

fn station_load(id: &StationId, station: &FakeStation) -> StationLoad {
    StationLoad {
        station_id: id.clone(),
        station_name: None,
        address: None,
        station_load: Some(station.ports.values().map(|p| p.load).sum()),
        ports: station
            .ports
            .iter()
            .map(|(n, p)| port_load(*n, p, station))
            .collect(),
        refused: station.refused.clone(),
    }
}

fn scope_station(scope: &ShedScope) -> Option<&StationId> {
    match scope {
        ShedScope::Station(s) => Some(s),
        ShedScope::Group(_) => None,
    }
}

#[async_trait]
impl ChargePointApi for FakeApi {
    async fn get_station_status(
        &self,
        query: &StatusQuery,
    ) -> Result<Vec<StationStatus>, SoapError> {
        let only = (query.station_ids.len() == 1).then(|| &query.station_ids[0]);
        self.enter(ApiMethod::GetStationStatus, format!("{query:?}"), only)
            .await?;
        let inner = self.lock();
        let at = Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).single();
        Ok(inner
            .stations
            .iter()
            .filter(|(id, _)| query.station_ids.is_empty() || query.station_ids.contains(id))
            .filter(|(id, _)| !inner.broken_stations.contains(id))
            .map(|(id, s)| StationStatus {
                station_id: id.clone(),
                ports: s
                    .ports
                    .iter()
                    .map(|(n, p)| PortStatus {
                        port: *n,
                        status: p.status.clone(),
                        timestamp: at.unwrap_or_default(),
                        connector: None,
                        power: None,
                    })
                    .collect(),
            })
            .collect())
    }

    async fn get_load(&self, query: &LoadQuery) -> Result<LoadReport, SoapError> {
        let station = match query {
            LoadQuery::Station(s) => Some(s),
            LoadQuery::Group(_) => None,
        };
        self.enter(ApiMethod::GetLoad, format!("{query:?}"), station)
            .await?;
        let inner = self.lock();
        let stations = inner
            .stations
            .iter()
            .filter(|(id, s)| match query {
                LoadQuery::Station(want) => *id == want,
                LoadQuery::Group(g) => s.group == Some(*g) || inner.org_group == Some(*g),
            })
            .map(|(id, s)| station_load(id, s))
            .collect();
        Ok(LoadReport {
            group_id: match query {
                LoadQuery::Group(g) => Some(*g),
                LoadQuery::Station(_) => None,
            },
            stations,
            ..LoadReport::default()
        })
    }

    async fn get_alarms(&self, query: &AlarmQuery) -> Result<Vec<Alarm>, SoapError> {
        self.enter(ApiMethod::GetAlarms, format!("{query:?}"), None)
            .await?;
        Ok(self
            .lock()
            .stations
            .values()
            .flat_map(|s| s.alarms.iter().cloned())
            .collect())
    }

    async fn clear_alarms(&self, query: &ClearAlarmsQuery) -> Result<(), SoapError> {
        self.enter(
            ApiMethod::ClearAlarms,
            format!("{query:?}"),
            query.station_id.as_ref(),
        )
        .await?;
        let mut inner = self.lock();
        if let Some(station) = query
            .station_id
            .as_ref()
            .and_then(|s| inner.stations.get_mut(s))
        {
            station.alarms.clear();
        }
        Ok(())
    }

    async fn get_station_rights(
        &self,
        query: &RightsQuery,
    ) -> Result<Vec<StationRights>, SoapError> {
        self.enter(ApiMethod::GetStationRights, format!("{query:?}"), None)
            .await?;
        let inner = self.lock();
        let profile = |group: GroupId| RightsProfile {
            group_id: Some(group.to_string().into()),
            group_name: None,
            profile: "network_manager".into(),
        };
        Ok(inner
            .stations
            .iter()
            .map(|(id, s)| StationRights {
                station_id: id.clone(),
                station_name: None,
                station_serial_num: None,
                station_mac_addr: None,
                profiles: s
                    .group
                    .into_iter()
                    .chain(inner.org_group)
                    .map(profile)
                    .collect(),
            })
            .collect())
    }

    async fn get_charging_sessions(
        &self,
        query: &SessionQuery,
    ) -> Result<Vec<ChargingSession>, SoapError> {
        self.enter(
            ApiMethod::GetChargingSessionData,
            format!("{query:?}"),
            query.station_id.as_ref(),
        )
        .await?;
        Ok(self
            .lock()
            .sessions
            .iter()
            .filter(|s| {
                query
                    .station_id
                    .as_ref()
                    .is_none_or(|id| *id == s.station_id)
            })
            .filter(|s| query.from.is_none_or(|from| s.start_time >= from))
            .filter(|s| query.to.is_none_or(|to| s.start_time <= to))
            .cloned()
            .collect())
    }

    async fn get_stations(&self, query: &StationsQuery) -> Result<Vec<StationInfo>, SoapError> {
        self.enter(ApiMethod::GetStations, format!("{query:?}"), None)
            .await?;
        Ok(self
            .lock()
            .stations
            .iter()
            .map(|(id, s)| StationInfo {
                station_id: Some(id.clone()),
                model: Some("CT4021".into()),
                num_ports: i32::try_from(s.ports.len()).ok(),
                group_id: s.group.map(|g| g.to_string().into()),
                org_id: "1:ORG1".into(),
                organization_name: "Test Org".into(),
                ..StationInfo::default()
            })
            .collect())
    }

    async fn shed_load(&self, request: &ShedRequest) -> Result<ShedAck, SoapError> {
        let lost = self
            .enter_write(
                ApiMethod::ShedLoad,
                format!("{request:?}"),
                scope_station(&request.scope),
            )
            .await?;
        self.apply_write(&request.scope, |station| {
            if request.station_limit.is_some() {
                station.shed = request.station_limit;
            }
            for shed in &request.ports {
                if let Some(port) = station.ports.get_mut(&shed.port) {
                    port.shed = Some(shed.limit);
                }
            }
        });
        if let Some(lost) = lost {
            return Err(lost);
        }
        Ok(ShedAck {
            success: true,
            station_id: scope_station(&request.scope).cloned(),
            ports: request.ports.clone(),
            ..ShedAck::default()
        })
    }

    async fn clear_shed_state(
        &self,
        request: &ClearShedRequest,
    ) -> Result<ClearShedAck, SoapError> {
        let lost = self
            .enter_write(
                ApiMethod::ClearShedState,
                format!("{request:?}"),
                scope_station(&request.scope),
            )
            .await?;
        self.apply_write(&request.scope, |station| {
            if request.ports.is_empty() {
                station.shed = None;
            }
            for (n, port) in station.ports.iter_mut() {
                if request.ports.is_empty() || request.ports.contains(n) {
                    port.shed = None;
                }
            }
        });
        if let Some(lost) = lost {
            return Err(lost);
        }
        Ok(ClearShedAck {
            success: true,
            station_id: scope_station(&request.scope).cloned(),
            ..ClearShedAck::default()
        })
    }
}
