//! The simulated fleet: its fixed [`Layout`], every station's changing state, and the answer
//! to each of the nine requests as one account sees them.
//!
//! Pure and deterministic: no I/O, no wall clock. The server moves it to the clock's time
//! before each answer ([`SimFleet::set_time`]), and each answer first catches up only the
//! stations it reads. Stations move in whole steps from a common origin (see `station`), so
//! that gives exactly the answers stepping every station on every request
//! ([`SimFleet::advance_to`]) would: the same seed gives the same sessions, loads and alarms at
//! the same times, however often and in whatever order it was asked.

use chrono::{DateTime, Utc};
use cp_actors::{
    AlarmQuery, ClearAlarmsQuery, LoadQuery, RightsQuery, SessionQuery, StationsQuery, StatusQuery,
};
use cp_registry::{
    Alarm, ChargingSession, GroupId, LoadReport, PortLoad, PortNumber, PortStatus, PortStatusWord,
    StationId, StationLoad, StationRights, StationStatus,
};
use serde::Serialize;

use super::layout::{Layout, Plan, SimFleetConfig};
use super::station::{PortLoadView, StationSim};
use crate::soap::ops::{codes, Outcome, Request, Response};

/// getStations returns at most this many stations a page (the service's documented cap).
pub const MAX_STATIONS_PAGE: usize = 500;

/// getChargingSessionData returns at most this many sessions a page, oldest first.
pub const MAX_SESSIONS_PAGE: usize = 100;

/// Page size of getStationStatus, getAlarms and getStationRights when the request names none
/// (no maximum is documented; this keeps one answer bounded).
pub const DEFAULT_PAGE: usize = 500;

/// A port's state as the admin endpoint shows it to tests.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PortSnapshot {
    pub station_id: StationId,
    pub port: PortNumber,
    pub status: String,
    #[serde(flatten)]
    pub load: PortLoadView,
    /// The running session's id and energy so far, if a vehicle is plugged in.
    pub session_id: Option<i64>,
    pub session_energy_kwh: Option<f64>,
}

/// The whole simulated fleet.
#[derive(Debug, Clone)]
pub struct SimFleet {
    layout: Layout,
    /// Each caught up to `now` only when a request reads it ([`SimFleet::sync`]).
    stations: Vec<StationSim>,
    now: DateTime<Utc>,
}

/// Why a request got no success answer: the code and text of the error reply.
type Refusal = (&'static str, String);

impl SimFleet {
    /// Builds the fleet and runs its history up to `config.start`.
    pub fn new(config: &SimFleetConfig) -> SimFleet {
        let layout = Layout::new(config);
        let origin = config.start - config.history;
        let stations = layout
            .stations
            .iter()
            .enumerate()
            .map(|(i, s)| StationSim::new(config.seed, i, &s.port_max_kw, origin))
            .collect();
        let mut fleet = SimFleet {
            layout,
            stations,
            now: origin,
        };
        fleet.advance_to(config.start);
        fleet
    }

    /// The model's current time.
    pub fn now(&self) -> DateTime<Utc> {
        self.now
    }

    /// Moves the model to `now` and runs every station up to it; earlier times are ignored.
    /// Answers are the same as after [`SimFleet::set_time`]; this only does the work up front
    /// (building the history, `POST /admin/advance`).
    pub fn advance_to(&mut self, now: DateTime<Utc>) {
        self.set_time(now);
        for station in &mut self.stations {
            station.catch_up(self.now);
        }
    }

    /// Moves the model to `now` (earlier times are ignored); each station catches up when an
    /// answer reads it.
    pub fn set_time(&mut self, now: DateTime<Utc>) {
        self.now = self.now.max(now);
    }

    /// Catches station `s` up to the model's time.
    fn sync(&mut self, s: usize) {
        self.stations[s].catch_up(self.now);
    }

    fn sync_all(&mut self, stations: &[usize]) {
        for &s in stations {
            self.sync(s);
        }
    }

    /// Station `s`'s state, which the caller has caught up ([`SimFleet::sync`]).
    fn sim(&self, s: usize) -> &StationSim {
        let sim = &self.stations[s];
        debug_assert!(sim.is_current(self.now), "station {s} read before catch-up");
        sim
    }

    /// The account these credentials belong to.
    pub fn authenticate(&self, username: &str, password: &str) -> Option<AccountRef> {
        self.layout.authenticate(username, password).map(AccountRef)
    }

    /// The username of an account.
    pub fn username(&self, account: AccountRef) -> &str {
        &self.layout.accounts[account.0].username
    }

    /// Every account's username and plan, in order.
    pub fn accounts(&self) -> Vec<(String, Plan)> {
        self.layout
            .accounts
            .iter()
            .map(|a| (a.username.clone(), a.plan))
            .collect()
    }

    /// How many stations the fleet has.
    pub fn station_count(&self) -> usize {
        self.stations.len()
    }

    /// A port's state, for the admin endpoint.
    pub fn port_snapshot(&mut self, station: &StationId, port: PortNumber) -> Option<PortSnapshot> {
        let s = self.layout.station(station)?;
        self.sync(s);
        let sim = self.sim(s);
        let p = sim.port_index(port)?;
        let active = sim.ports[p].active.as_ref();
        Some(PortSnapshot {
            station_id: station.clone(),
            port,
            status: self.port_state(s, p).as_str().to_string(),
            load: sim.load_view(p, self.now),
            session_id: active.map(|a| a.id),
            session_energy_kwh: active.map(|a| a.energy_kwh),
        })
    }

    /// The answer `account` gets to `request` at the model's current time.
    pub fn answer(&mut self, account: AccountRef, request: &Request) -> Response {
        let method = request.method();
        let a = account.0;
        if !self.layout.accounts[a].plan.allows(method) {
            return Response::empty(
                method,
                Outcome::new(
                    codes::PLAN_RIGHTS,
                    format!("{method} is not permitted by this account's API plan"),
                ),
            );
        }
        let answer = match request {
            Request::GetStationStatus {
                query,
                start_record,
                num_stations,
            } => self.station_status(a, query, page(*start_record, *num_stations, None)),
            Request::GetLoad(query) => self.load(a, query),
            Request::GetAlarms {
                query,
                start_record,
                num_transactions,
            } => self.alarms(a, query, page(*start_record, *num_transactions, None)),
            Request::ClearAlarms(query) => self.clear_alarms(a, query),
            Request::GetStationRights {
                query,
                start_record,
            } => self.rights(a, query, page(*start_record, None, None)),
            Request::GetChargingSessionData {
                query,
                start_record,
            } => self.sessions(a, query, page(*start_record, None, Some(MAX_SESSIONS_PAGE))),
            Request::GetStations {
                query,
                start_record,
                num_stations,
            } => self.station_infos(
                a,
                query,
                page(*start_record, *num_stations, Some(MAX_STATIONS_PAGE)),
            ),
            Request::ShedLoad(request) => self.shed(a, request),
            Request::ClearShedState(request) => self.clear_shed(a, request),
        };
        answer.unwrap_or_else(|(code, text)| Response::empty(method, Outcome::new(code, text)))
    }

    fn station_status(
        &mut self,
        a: usize,
        query: &StatusQuery,
        page: Page,
    ) -> Result<Response, Refusal> {
        let matching: Vec<usize> = if query.station_ids.is_empty() {
            self.layout.stations_of(a).collect()
        } else {
            query
                .station_ids
                .iter()
                .filter_map(|id| self.layout.station_of(a, id))
                .collect()
        };
        if matching.is_empty() {
            return Err(no_station());
        }
        let (slice, more) = page.cut(&matching);
        // Only the page is read: the rest of the matching stations stay where they were.
        self.sync_all(slice);
        let stations = slice
            .iter()
            .map(|&s| StationStatus {
                station_id: self.layout.stations[s].id.clone(),
                ports: self
                    .sim(s)
                    .ports
                    .iter()
                    .enumerate()
                    .map(|(p, port)| PortStatus {
                        port: port.number,
                        status: self.port_state(s, p),
                        timestamp: port.contact_time(self.now),
                        connector: Some("J1772".into()),
                        power: Some(format!("{:.1}", port.max_kw)),
                    })
                    .collect(),
            })
            .collect();
        Ok(Response::GetStationStatus {
            outcome: success(),
            stations,
            more,
        })
    }

    fn port_state(&self, s: usize, p: usize) -> PortStatusWord {
        let port = &self.sim(s).ports[p];
        if port.unreachable_until.is_some() {
            PortStatusWord::Unreachable
        } else if port.active.is_some() {
            PortStatusWord::InUse
        } else {
            PortStatusWord::Available
        }
    }

    fn load(&mut self, a: usize, query: &LoadQuery) -> Result<Response, Refusal> {
        let report = match query {
            LoadQuery::Group(g) => {
                let g = self.layout.group_of(a, *g).ok_or_else(|| no_group(*g))?;
                let now = self.now;
                for &s in &self.layout.groups[g].stations {
                    self.stations[s].catch_up(now);
                }
                let group = &self.layout.groups[g];
                let stations: Vec<StationLoad> = group
                    .stations
                    .iter()
                    .map(|&s| self.station_load(s))
                    .collect();
                let total: f64 = stations.iter().filter_map(|s| s.station_load).sum();
                LoadReport {
                    group_id: Some(group.id),
                    num_stations: i32::try_from(stations.len()).ok(),
                    group_name: Some(group.name.clone()),
                    group_load: Some(format!("{total:.3}")),
                    stations,
                }
            }
            LoadQuery::Station(id) => {
                let s = self.layout.station_of(a, id).ok_or_else(no_station)?;
                self.sync(s);
                LoadReport {
                    stations: vec![self.station_load(s)],
                    ..LoadReport::default()
                }
            }
        };
        Ok(Response::GetLoad {
            outcome: success(),
            report,
        })
    }

    fn station_load(&self, s: usize) -> StationLoad {
        let spec = &self.layout.stations[s];
        let sim = self.sim(s);
        let ports: Vec<PortLoad> = (0..sim.ports.len())
            .map(|p| {
                let view = sim.load_view(p, self.now);
                let active = sim.ports[p].active.as_ref();
                PortLoad {
                    port: sim.ports[p].number,
                    user_id: active.map(|a| a.user_id.clone()),
                    credential_id: active.map(|a| a.credential_id.clone()),
                    shed_state: view.shed_state,
                    port_load: round3(view.load_kw),
                    allowed_load: round3(view.allowed_load),
                    percent_shed: view.percent_shed,
                }
            })
            .collect();
        StationLoad {
            station_id: spec.id.clone(),
            station_name: Some(spec.name.as_str().into()),
            address: Some(spec.address.clone()),
            station_load: Some(round3(ports.iter().map(|p| p.port_load).sum())),
            ports,
            refused: Vec::new(),
        }
    }

    /// The stations a station/group filter picks for account `a`. Naming a station or group the
    /// account does not own is refused with 102, as the live service does for getStations.
    fn scope(
        &self,
        a: usize,
        station: Option<&StationId>,
        group: Option<GroupId>,
    ) -> Result<Vec<usize>, Refusal> {
        let mut picked: Vec<usize> = match group {
            Some(g) => {
                let g = self.layout.group_of(a, g).ok_or_else(|| no_group(g))?;
                self.layout.groups[g].stations.clone()
            }
            None => self.layout.stations_of(a).collect(),
        };
        if let Some(id) = station {
            let s = self.layout.station_of(a, id).ok_or_else(no_station)?;
            picked.retain(|&x| x == s);
        }
        Ok(picked)
    }

    /// One page of the stations a station filter and a textual sgID filter pick (getStations
    /// and getStationRights take the sgID as text); none is 102.
    fn station_page(
        &self,
        a: usize,
        station: Option<&StationId>,
        group: Option<&str>,
        page: Page,
    ) -> Result<(Vec<usize>, bool), Refusal> {
        let group = group.map(parse_group).transpose()?;
        let matching = self.scope(a, station, group)?;
        if matching.is_empty() {
            return Err(no_station());
        }
        let (slice, more) = page.cut(&matching);
        Ok((slice.to_vec(), more))
    }

    fn alarms(&mut self, a: usize, query: &AlarmQuery, page: Page) -> Result<Response, Refusal> {
        let stations = self.scope(a, query.station_id.as_ref(), query.group_id)?;
        self.sync_all(&stations);
        let matching: Vec<(usize, usize)> = stations
            .iter()
            .flat_map(|&s| {
                self.sim(s)
                    .alarms
                    .iter()
                    .enumerate()
                    .filter(|(_, alarm)| {
                        (query.port.is_none() || alarm.port.is_none() || alarm.port == query.port)
                            && query.start_time.is_none_or(|t| alarm.time >= t)
                            && query.end_time.is_none_or(|t| alarm.time <= t)
                    })
                    .map(move |(i, _)| (s, i))
            })
            .collect();
        if matching.is_empty() {
            return Err((codes::NO_ALARMS, "No alarms found.".into()));
        }
        let (slice, more) = page.cut(&matching);
        let alarms = slice
            .iter()
            .enumerate()
            .map(|(n, &(s, i))| {
                let spec = &self.layout.stations[s];
                let alarm = &self.sim(s).alarms[i];
                let account = &self.layout.accounts[spec.account];
                Alarm {
                    station_id: spec.id.clone(),
                    station_name: Some(spec.name.as_str().into()),
                    station_model: Some(spec.model.clone()),
                    org_id: Some(account.org_id.clone()),
                    organization_name: Some(account.org_name.clone()),
                    station_manufacturer: Some("ChargePoint".into()),
                    station_serial_num: Some(spec.serial.clone()),
                    port: alarm.port,
                    alarm_type: alarm.alarm_type.to_string(),
                    alarm_time: alarm.time,
                    record_number: i32::try_from(page.first + n + 1).ok(),
                }
            })
            .collect();
        Ok(Response::GetAlarms {
            outcome: success(),
            alarms,
            more,
        })
    }

    fn clear_alarms(&mut self, a: usize, query: &ClearAlarmsQuery) -> Result<Response, Refusal> {
        let stations = self.scope(a, query.station_id.as_ref(), query.group_id)?;
        let mut cleared = 0;
        for s in stations {
            self.sync(s);
            let alarms = &mut self.stations[s].alarms;
            let before = alarms.len();
            alarms.retain(|alarm| {
                let port_matches = query.port.is_none() || alarm.port == query.port;
                let type_matches = query
                    .alarm_type
                    .as_deref()
                    .is_none_or(|t| t.eq_ignore_ascii_case(alarm.alarm_type));
                !(port_matches && type_matches)
            });
            cleared += before - alarms.len();
        }
        if cleared == 0 {
            return Err((codes::NO_ALARMS, "No alarms found to clear.".into()));
        }
        Ok(Response::ClearAlarms { outcome: success() })
    }

    /// getStationRights pages by `rightsData` record, one per (station, profile), as the
    /// answer counts them: a station with two profiles takes two records of the page.
    fn rights(&self, a: usize, query: &RightsQuery, page: Page) -> Result<Response, Refusal> {
        let everything = Page {
            first: 0,
            size: usize::MAX,
        };
        let (stations, _) = self.station_page(
            a,
            query.station_id.as_ref(),
            query.group_id.as_deref(),
            everything,
        )?;
        let records: Vec<(usize, usize)> = stations
            .iter()
            .flat_map(|&s| (0..self.layout.rights(s).profiles.len()).map(move |p| (s, p)))
            .collect();
        let (slice, more) = page.cut(&records);
        let mut rights: Vec<StationRights> = Vec::new();
        for &(s, p) in slice {
            let profile = self.layout.rights(s).profiles.swap_remove(p);
            match rights.last_mut() {
                Some(last) if last.station_id == self.layout.stations[s].id => {
                    last.profiles.push(profile)
                }
                _ => {
                    let mut entry = self.layout.rights(s);
                    entry.profiles = vec![profile];
                    rights.push(entry);
                }
            }
        }
        Ok(Response::GetStationRights {
            outcome: success(),
            rights,
            more,
        })
    }

    fn sessions(
        &mut self,
        a: usize,
        query: &SessionQuery,
        page: Page,
    ) -> Result<Response, Refusal> {
        let stations = self.scope(a, query.station_id.as_ref(), None)?;
        self.sync_all(&stations);
        let mut matching: Vec<ChargingSession> = Vec::new();
        for &s in &stations {
            let spec = &self.layout.stations[s];
            for port in &self.sim(s).ports {
                for session in port.history.iter().chain(port.active.as_ref()) {
                    let wanted = query.session_id.is_none_or(|id| id == session.id)
                        && query.from.is_none_or(|t| session.start >= t)
                        && query.to.is_none_or(|t| session.start <= t);
                    if wanted {
                        matching.push(ChargingSession {
                            station_id: spec.id.clone(),
                            station_name: Some(spec.name.as_str().into()),
                            port: Some(session.port),
                            address: spec.info.address.clone(),
                            city: spec.info.city.clone(),
                            state: spec.info.state.clone(),
                            country: spec.info.country.clone(),
                            postal_code: spec.info.postal_code.clone(),
                            session_id: session.id,
                            energy: round6(session.energy_kwh),
                            start_time: session.start,
                            end_time: session.end,
                            user_id: Some(session.user_id.clone()),
                            record_number: None,
                            credential_id: Some(session.credential_id.clone()),
                            refused: Vec::new(),
                        });
                    }
                }
            }
        }
        if matching.is_empty() {
            return Err((codes::NO_SESSIONS, "No charging sessions found.".into()));
        }
        // Oldest first, as the service pages them.
        matching.sort_by_key(|s| (s.start_time, s.session_id));
        let (slice, more) = page.cut(&matching);
        let sessions = slice
            .iter()
            .enumerate()
            .map(|(n, session)| ChargingSession {
                record_number: i64::try_from(page.first + n + 1).ok(),
                ..session.clone()
            })
            .collect();
        Ok(Response::GetChargingSessionData {
            outcome: success(),
            sessions,
            more,
        })
    }

    fn station_infos(
        &self,
        a: usize,
        query: &StationsQuery,
        page: Page,
    ) -> Result<Response, Refusal> {
        let (slice, more) = self.station_page(
            a,
            query.station_id.as_ref(),
            query.group_id.as_deref(),
            page,
        )?;
        Ok(Response::GetStations {
            outcome: success(),
            stations: slice
                .iter()
                .map(|&s| self.layout.stations[s].info.clone())
                .collect(),
            more,
        })
    }
}

/// An account, as returned by [`SimFleet::authenticate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountRef(usize);

/// One page of a list: the 0-based first record and the most records to return.
#[derive(Debug, Clone, Copy)]
struct Page {
    first: usize,
    size: usize,
}

/// `startRecord` counts from 1 (0 and negatives read as 1); `num…` is capped at `cap`.
fn page(start_record: Option<impl Into<i64>>, num: Option<i32>, cap: Option<usize>) -> Page {
    let first = start_record.map_or(0, |s| usize::try_from(s.into() - 1).unwrap_or(0));
    let cap = cap.unwrap_or(DEFAULT_PAGE);
    let size = num
        .and_then(|n| usize::try_from(n).ok())
        .filter(|&n| n > 0)
        .map_or(cap, |n| n.min(cap));
    Page { first, size }
}

impl Page {
    /// The page's records and whether more follow.
    fn cut<'a, T>(&self, all: &'a [T]) -> (&'a [T], bool) {
        let start = self.first.min(all.len());
        let end = start.saturating_add(self.size).min(all.len());
        (&all[start..end], end < all.len())
    }
}

/// A success outcome.
fn success() -> Outcome {
    Outcome::success()
}

fn no_station() -> Refusal {
    (
        codes::NO_STATION,
        "No station found for the given stationID(s).".into(),
    )
}

fn no_group(g: GroupId) -> Refusal {
    (codes::NO_STATION, format!("No station group {g} found."))
}

fn invalid(text: &str) -> Refusal {
    (codes::INVALID_INPUT, format!("Invalid input: {text}."))
}

fn parse_group(text: &str) -> Result<GroupId, Refusal> {
    text.trim()
        .parse()
        .map(GroupId)
        .map_err(|_| invalid(&format!("sgID '{text}' is not a number")))
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

mod shed;

#[cfg(test)]
mod tests;
