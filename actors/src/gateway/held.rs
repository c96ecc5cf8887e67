//! The account's latest answers: what each account-wide read returned, for every station it
//! covered, and when it was asked.
//!
//! A station's read is answered from here when the account's answer is fresh enough for it, so
//! a fleet of thousands asking at about the same time costs one round of account-wide calls
//! (see `rounds.rs`), not one call per station. Sessions are kept as each station's latest per
//! port, and fetched incrementally ([`SessionLog::next_from`]). A plan-rights refusal is kept
//! too: the plan does not change from one scrape to the next, so the method is not asked again
//! for an hour ([`REFUSAL_HOLD`]).
//!
//! What a station is answered is shared with it (`Arc`), not copied: each station keeps its
//! answers in its snapshot, and at thousands of stations the nameplates, rights, alarms and
//! sessions held twice were a tenth of the supervisor's memory.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use cp_registry::{
    Alarm, ApiMethod, ChargingSession, GroupId, StationId, StationInfo, StationLoad, StationRights,
    StationStatus,
};
use tokio::time::Instant;

use super::call::{CallOp, CallOutput};
use super::{GatewayError, ReadReply, ReadRequest};
use crate::api::LoadQuery;

/// How long a plan-rights refusal (101) of a method stands for the account before the method is
/// asked again.
pub(crate) const REFUSAL_HOLD: Duration = Duration::from_secs(60 * 60);

/// How far back a running session may have started and still be re-read by every incremental
/// session query: reading back to the start of a session running for hours costs tens of pages
/// a query at 2,500 stations an account.
const RECENT_RUNNING: chrono::Duration = chrono::Duration::hours(1);

/// How far back a running session is re-read by the hourly deep query (see
/// [`SessionLog::next_from`]). A session the service never reports as ended stops holding the
/// query's start back after this long.
const OPEN_SESSION_HORIZON: chrono::Duration = chrono::Duration::hours(12);

/// How often the session query reaches back to every running session.
const DEEP_SESSION_QUERY: Duration = Duration::from_secs(60 * 60);

/// One station's part of an answer, and when it was asked for. `None`: the answer did not
/// mention the station.
#[derive(Debug)]
struct Fetched<T> {
    asked: Instant,
    value: Option<T>,
}

impl<T> Fetched<T> {
    fn fresh(this: Option<&Self>, after: Instant) -> Option<&Self> {
        this.filter(|f| f.asked >= after)
    }
}

/// A whole-account answer, split by station.
#[derive(Debug)]
struct AccountWide<T> {
    asked: Instant,
    by_station: HashMap<StationId, T>,
}

impl<T> AccountWide<T> {
    fn fresh(this: &Option<Self>, after: Instant) -> Option<&Self> {
        this.as_ref().filter(|a| a.asked >= after)
    }
}

/// The account's latest answers.
#[derive(Debug, Default)]
pub(super) struct Held {
    status: HashMap<StationId, Fetched<StationStatus>>,
    load: HashMap<StationId, Fetched<StationLoad>>,
    alarms: Option<AccountWide<Arc<[Alarm]>>>,
    rights: Option<AccountWide<Arc<StationRights>>>,
    stations: Option<AccountWide<Arc<StationInfo>>>,
    sessions: SessionLog,
    /// Who answered for a station group last time: getLoad by group lists its stations.
    group_members: HashMap<GroupId, Vec<StationId>>,
    refusals: HashMap<ApiMethod, (Instant, GatewayError)>,
}

impl Held {
    /// `request`'s answer from an account answer asked at or after `after`, if there is one.
    pub(super) fn reply(&self, request: &ReadRequest, after: Instant) -> Option<ReadReply> {
        Some(match request {
            ReadRequest::Status(s) => {
                ReadReply::Status(Fetched::fresh(self.status.get(s), after)?.value.clone())
            }
            ReadRequest::Load { station, .. } => {
                ReadReply::Load(Fetched::fresh(self.load.get(station), after)?.value.clone())
            }
            ReadRequest::Alarms(s) => ReadReply::Alarms(
                AccountWide::fresh(&self.alarms, after)?
                    .by_station
                    .get(s)
                    .cloned()
                    .unwrap_or_else(|| Arc::new([])),
            ),
            ReadRequest::Rights(s) => ReadReply::Rights(
                AccountWide::fresh(&self.rights, after)?
                    .by_station
                    .get(s)
                    .cloned(),
            ),
            ReadRequest::Stations(s) => ReadReply::Stations(
                AccountWide::fresh(&self.stations, after)?
                    .by_station
                    .get(s)
                    .cloned(),
            ),
            ReadRequest::StationList => ReadReply::StationList(
                AccountWide::fresh(&self.stations, after)?
                    .by_station
                    .values()
                    .cloned()
                    .collect(),
            ),
            ReadRequest::Sessions { station, .. } => {
                if self.sessions.asked.is_none_or(|asked| asked < after) {
                    return None;
                }
                ReadReply::Sessions(self.sessions.of(station))
            }
        })
    }

    /// Keeps a read call's answer, asked at `asked` by `op` for the stations `covers` (empty:
    /// the whole account).
    pub(super) fn absorb(
        &mut self,
        asked: Instant,
        op: &CallOp,
        covers: &[StationId],
        output: CallOutput,
    ) {
        match (op, output) {
            (CallOp::Status(ids), CallOutput::Status(all)) => self.absorb_status(asked, ids, all),
            (CallOp::Load(query), CallOutput::Load(report)) => {
                self.absorb_load(asked, query, covers, report.stations)
            }
            (_, CallOutput::Alarms(all)) => self.absorb_alarms(asked, all),
            (_, CallOutput::Rights(all)) => self.absorb_rights(asked, all),
            (_, CallOutput::Stations(all)) => self.absorb_stations(asked, all),
            (_, CallOutput::Sessions(all)) => self.sessions.absorb(asked, all),
            // Writes are not kept; a read op always brings its own output.
            _ => {}
        }
    }

    /// getStationStatus for `asked_for` answered `all`.
    fn absorb_status(&mut self, asked: Instant, asked_for: &[StationId], all: Vec<StationStatus>) {
        let mut found: HashMap<StationId, StationStatus> =
            all.into_iter().map(|s| (s.station_id.clone(), s)).collect();
        for station in asked_for {
            let value = found.remove(station);
            self.status
                .insert(station.clone(), Fetched { asked, value });
        }
    }

    /// getLoad by `query` answered `stations`; `expected` are the stations the call was made for,
    /// which read "not reported" when the answer leaves them out.
    fn absorb_load(
        &mut self,
        asked: Instant,
        query: &LoadQuery,
        expected: &[StationId],
        stations: Vec<StationLoad>,
    ) {
        if let LoadQuery::Group(group) = query {
            self.group_members.insert(
                *group,
                stations.iter().map(|s| s.station_id.clone()).collect(),
            );
        }
        for station in expected {
            self.load
                .insert(station.clone(), Fetched { asked, value: None });
        }
        for load in stations {
            self.load.insert(
                load.station_id.clone(),
                Fetched {
                    asked,
                    value: Some(load),
                },
            );
        }
    }

    fn absorb_alarms(&mut self, asked: Instant, all: Vec<Alarm>) {
        let mut grouped: HashMap<StationId, Vec<Alarm>> = HashMap::new();
        for alarm in all {
            grouped
                .entry(alarm.station_id.clone())
                .or_default()
                .push(alarm);
        }
        let by_station = grouped
            .into_iter()
            .map(|(station, alarms)| (station, Arc::from(alarms)))
            .collect();
        self.alarms = Some(AccountWide { asked, by_station });
    }

    fn absorb_rights(&mut self, asked: Instant, all: Vec<StationRights>) {
        let by_station = all
            .into_iter()
            .map(|r| (r.station_id.clone(), Arc::new(r)))
            .collect();
        self.rights = Some(AccountWide { asked, by_station });
    }

    fn absorb_stations(&mut self, asked: Instant, all: Vec<StationInfo>) {
        let by_station = all
            .into_iter()
            .filter_map(|i| Some((i.station_id.clone()?, Arc::new(i))))
            .collect();
        self.stations = Some(AccountWide { asked, by_station });
    }

    /// The station groups the latest getStationRights says `station` is in.
    pub(super) fn rights_groups_of(&self, station: &StationId) -> Vec<GroupId> {
        let Some(rights) = self.rights.as_ref().and_then(|r| r.by_station.get(station)) else {
            return Vec::new();
        };
        rights
            .profiles
            .iter()
            .filter_map(|p| p.group_id.as_deref()?.trim().parse().ok().map(GroupId))
            .collect()
    }

    /// The stations a getLoad of `group` answered for last time.
    pub(super) fn members_of(&self, group: GroupId) -> &[StationId] {
        self.group_members.get(&group).map_or(&[], Vec::as_slice)
    }

    /// The start of the next account-wide session query (see [`SessionLog::next_from`]).
    pub(super) fn sessions_from(&mut self, first: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
        let now = Instant::now();
        let deep = self
            .sessions
            .last_deep
            .is_none_or(|t| now.duration_since(t) >= DEEP_SESSION_QUERY);
        if deep {
            self.sessions.last_deep = Some(now);
        }
        self.sessions.next_from(first, Utc::now(), deep)
    }

    /// The plan refused `method`: it is not asked again for [`REFUSAL_HOLD`].
    pub(super) fn refused(&mut self, method: ApiMethod, error: GatewayError) {
        // A refusal that stands already keeps its time: its calls still queued end with it.
        if self.refusal(method).is_none() {
            self.refusals.insert(method, (Instant::now(), error));
        }
    }

    /// Whether a getStationRights answer is held, however old: the groups it shows change
    /// rarely.
    pub(super) fn has_rights(&self) -> bool {
        self.rights.is_some()
    }

    /// `method` was answered: a refusal of it is over. Whether there was one.
    pub(super) fn granted(&mut self, method: ApiMethod) -> bool {
        self.refusals.remove(&method).is_some()
    }

    /// The standing refusal of `method`, if the plan refused it less than [`REFUSAL_HOLD`] ago.
    pub(super) fn refusal(&self, method: ApiMethod) -> Option<&GatewayError> {
        self.refusals
            .get(&method)
            .filter(|(at, _)| at.elapsed() < REFUSAL_HOLD)
            .map(|(_, error)| error)
    }
}

/// Every station's latest session per port, fed by account-wide incremental queries.
#[derive(Debug, Default)]
struct SessionLog {
    /// Per station, at most one session per port (`None`: sessions without a port number).
    latest: HashMap<StationId, Arc<[ChargingSession]>>,
    /// When the latest query was asked; `None` before the first.
    asked: Option<Instant>,
    /// The newest session start seen.
    newest_start: Option<DateTime<Utc>>,
    /// When a query last reached back to every running session.
    last_deep: Option<Instant>,
}

impl SessionLog {
    fn absorb(&mut self, asked: Instant, sessions: Vec<ChargingSession>) {
        self.asked = Some(asked);
        let mut by_station: HashMap<StationId, Vec<ChargingSession>> = HashMap::new();
        for session in sessions {
            self.newest_start = self.newest_start.max(Some(session.start_time));
            by_station
                .entry(session.station_id.clone())
                .or_default()
                .push(session);
        }
        for (station, sessions) in by_station {
            let mut ports: Vec<ChargingSession> = self
                .latest
                .get(&station)
                .map(|held| held.to_vec())
                .unwrap_or_default();
            for session in sessions {
                match ports.iter_mut().find(|held| held.port == session.port) {
                    Some(held) => {
                        if (session.start_time, session.session_id)
                            >= (held.start_time, held.session_id)
                        {
                            *held = session;
                        }
                    }
                    None => ports.push(session),
                }
            }
            self.latest.insert(station, Arc::from(ports));
        }
    }

    fn of(&self, station: &StationId) -> Arc<[ChargingSession]> {
        self.latest
            .get(station)
            .cloned()
            .unwrap_or_else(|| Arc::new([]))
    }

    /// Where the next query starts: `first` before anything was seen; then the newest session
    /// start seen (that session is read again, in case it was still running), or earlier when a
    /// port's latest session was still running when last read, so its energy and end are read
    /// again (`fromTimeStamp` filters on the session's start): back to one started in the last
    /// [`RECENT_RUNNING`], and on a `deep` query (hourly) to any within
    /// [`OPEN_SESSION_HORIZON`]. A long session's energy and end are so at most an hour behind.
    fn next_from(
        &self,
        first: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
        deep: bool,
    ) -> Option<DateTime<Utc>> {
        let Some(newest) = self.newest_start else {
            return first;
        };
        let horizon = if deep {
            OPEN_SESSION_HORIZON
        } else {
            RECENT_RUNNING
        };
        let oldest_running = self
            .latest
            .values()
            .flat_map(|ports| ports.iter())
            .filter(|s| s.end_time.is_none() && s.start_time >= now - horizon)
            .map(|s| s.start_time)
            .min();
        Some(oldest_running.map_or(newest, |t| t.min(newest)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake_api::session as started;

    fn session(station: &str, port: u16, id: i64, start_min: i64, ended: bool) -> ChargingSession {
        started(&StationId::new(station), port, id, start_min, ended)
    }

    #[test]
    fn the_log_keeps_each_ports_latest_session_and_reads_on_from_the_oldest_running_one() {
        let mut log = SessionLog::default();
        let first = Some(Utc::now());
        assert_eq!(log.next_from(first, Utc::now(), false), first);
        log.absorb(
            Instant::now(),
            vec![
                session("1:1", 1, 1, 0, true),
                session("1:1", 1, 2, 60, false),
                session("1:1", 2, 3, 30, true),
                session("1:2", 1, 4, 90, true),
            ],
        );
        let mut ids: Vec<i64> = log
            .of(&StationId::new("1:1"))
            .iter()
            .map(|s| s.session_id)
            .collect();
        ids.sort();
        assert_eq!(ids, vec![2, 3]);
        let at = |minute| session("x", 1, 0, minute, true).start_time;
        // Session 2 (started at +60) is still running: read again from its start, not from the
        // newest start (+90).
        assert_eq!(log.next_from(first, at(120), false), Some(at(60)));
        // Running for over an hour: only the hourly deep query reaches back to it.
        assert_eq!(log.next_from(first, at(200), false), Some(at(90)));
        assert_eq!(log.next_from(first, at(200), true), Some(at(60)));
        log.absorb(Instant::now(), vec![session("1:1", 1, 2, 60, true)]);
        assert_eq!(log.next_from(first, at(120), true), Some(at(90)));
    }
}
