//! The account's latest answers: what each account-wide read returned, for every station it
//! covered, and when it was asked.
//!
//! A station's read is answered from here when the account's answer is fresh enough for it, so
//! a fleet of thousands asking at about the same time costs one round of account-wide calls
//! (see `rounds.rs`), not one call per station. Sessions are kept as each station's latest per
//! port, fetched incrementally ([`SessionLog::next_window`]) with a paced walk back through older
//! ones ([`SessionLog::backfill_window`]). A plan-rights refusal is kept
//! too: the plan does not change from one scrape to the next, so the method is not asked again
//! for an hour ([`REFUSAL_HOLD`]).
//!
//! What a station is answered is shared with it (`Arc`), not copied: each station keeps its
//! answers in its snapshot, and at thousands of stations every record held twice (nameplates,
//! rights, alarms, sessions, status and load) was a tenth of the supervisor's memory.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use cp_registry::{
    Alarm, ApiMethod, ChargingSession, GroupId, StationAlarm, StationId, StationInfo, StationLoad,
    StationRights, StationStatus,
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
/// [`SessionLog::next_window`]). A session the service never reports as ended stops holding the
/// query's start back after this long.
const OPEN_SESSION_HORIZON: chrono::Duration = chrono::Duration::hours(12);

/// How often the session query reaches back to every running session.
const DEEP_SESSION_QUERY: Duration = Duration::from_secs(60 * 60);

/// How much older sessions the first backfill call of a walk reads; later windows are sized
/// from what the last one held (see [`BACKFILL_WINDOW_SESSIONS`]).
const BACKFILL_FIRST_STEP: chrono::Duration = chrono::Duration::hours(1);

/// The sessions a backfill window aims at, five pages: at 2,500 stations an account about 50
/// minutes, while a small account's whole 12 hours is one call.
const BACKFILL_WINDOW_SESSIONS: i64 = 5 * SESSION_PAGE as i64;

/// The bounds of a backfill window.
const BACKFILL_MIN_STEP: chrono::Duration = chrono::Duration::minutes(10);
const BACKFILL_MAX_STEP: chrono::Duration = chrono::Duration::days(1);

/// Backfill pages the account's first walk back reads without waiting: at 250 stations an
/// account the whole 12 hours, at 2,500 the last five.
const BACKFILL_BURST_PAGES: usize = 24;

/// The pause a backfill page earns beyond the burst: three pages a minute an account, so the
/// walk back adds at most a dozen calls a minute to a fleet of four accounts, at any size.
const BACKFILL_PAGE_PAUSE: Duration = Duration::from_secs(20);

/// The pause before a failed backfill window is asked again (its call was already retried).
const BACKFILL_RETRY_PAUSE: Duration = Duration::from_secs(60);

/// Sessions a getChargingSessionData page holds at most (SERVICE-FACTS).
const SESSION_PAGE: usize = 100;

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
    status: HashMap<StationId, Fetched<Arc<StationStatus>>>,
    load: HashMap<StationId, Fetched<Arc<StationLoad>>>,
    alarms: Option<AccountWide<Arc<[StationAlarm]>>>,
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
            (CallOp::Sessions(window), CallOutput::Sessions(all)) => {
                if window.is_backfill() {
                    self.sessions.backfill_answered(*window, all);
                } else {
                    self.sessions.absorb(Some(asked), all);
                }
            }
            // Writes are not kept; a read op always brings its own output.
            _ => {}
        }
    }

    /// getStationStatus for `asked_for` answered `all`.
    fn absorb_status(&mut self, asked: Instant, asked_for: &[StationId], all: Vec<StationStatus>) {
        let mut found: HashMap<StationId, Arc<StationStatus>> = all
            .into_iter()
            .map(|s| (s.station_id.clone(), Arc::new(s)))
            .collect();
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
                    value: Some(Arc::new(load)),
                },
            );
        }
    }

    fn absorb_alarms(&mut self, asked: Instant, all: Vec<Alarm>) {
        let mut grouped: HashMap<StationId, Vec<StationAlarm>> = HashMap::new();
        for alarm in all {
            grouped
                .entry(alarm.station_id.clone())
                .or_default()
                .push(alarm.into());
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

    /// The next incremental account-wide session query (see [`SessionLog::next_window`]).
    pub(super) fn sessions_window(&mut self, first: Option<DateTime<Utc>>) -> SessionWindow {
        let now = Instant::now();
        let deep = self
            .sessions
            .last_deep
            .is_none_or(|t| now.duration_since(t) >= DEEP_SESSION_QUERY);
        if deep {
            self.sessions.last_deep = Some(now);
        }
        self.sessions.next_window(first, Utc::now(), deep)
    }

    /// The next window of older sessions to read, if one is due (see
    /// [`SessionLog::backfill_window`]); `Err` is how long until one is. None while the plan
    /// refuses sessions.
    pub(super) fn session_backfill(&mut self) -> Result<Option<SessionWindow>, Duration> {
        if self.refusal(ApiMethod::GetChargingSessionData).is_some() {
            return Ok(None);
        }
        self.sessions.backfill_window(Instant::now())
    }

    /// A backfill window's call failed: it is asked again later.
    pub(super) fn session_backfill_failed(&mut self, window: SessionWindow) {
        self.sessions.backfill_failed(window);
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

/// The sessions one getChargingSessionData call asks for: started in `[from, to]`; `to` is
/// set only on a backfill window, `from` only missing on a query with no bound at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct SessionWindow {
    pub(super) from: Option<DateTime<Utc>>,
    pub(super) to: Option<DateTime<Utc>>,
}

impl SessionWindow {
    /// A window of older sessions, read to fill in ports, not to answer a station.
    pub(super) fn is_backfill(&self) -> bool {
        self.to.is_some()
    }
}

/// Older sessions still to read, newest first: everything from `to` on has been read, and the
/// walk goes back to `until`.
#[derive(Debug, Clone, Copy)]
struct Backfill {
    to: DateTime<Utc>,
    until: DateTime<Utc>,
}

/// Every station's latest session per port, fed by account-wide incremental queries and a
/// paced walk back through older ones.
///
/// A port's latest session may have started hours ago, and at 2,500 stations an account half
/// a day of sessions is about 75 pages of 100. Read in one go at start (and again every hour
/// to follow long sessions), that was three quarters of a fleet's calls in those minutes. So
/// the incremental query reads the last [`RECENT_RUNNING`] only, and the older sessions are
/// read newest first, about five pages a call, [`BACKFILL_BURST_PAGES`] pages at once and
/// then one page every [`BACKFILL_PAGE_PAUSE`]: what charges now shows at once, older ports
/// fill in over minutes, and the account's calls stay flat.
#[derive(Debug, Default)]
struct SessionLog {
    /// Per station, at most one session per port (`None`: sessions without a port number).
    latest: HashMap<StationId, Arc<[ChargingSession]>>,
    /// When the latest incremental query was asked; `None` before the first answered.
    asked: Option<Instant>,
    /// The newest session start seen.
    newest_start: Option<DateTime<Utc>>,
    /// When a query last reached back to every running session.
    last_deep: Option<Instant>,
    /// The walk back through older sessions, while there is one.
    backfill: Option<Backfill>,
    /// A backfill window is being read: one at a time.
    backfilling: bool,
    /// The next backfill window's length; `None`: [`BACKFILL_FIRST_STEP`].
    backfill_step: Option<chrono::Duration>,
    /// Backfill pages read so far: the first [`BACKFILL_BURST_PAGES`] are not paced.
    backfill_pages: usize,
    /// When the next backfill window may be asked.
    backfill_after: Option<Instant>,
}

impl SessionLog {
    /// Keeps the latest session of each port from `sessions`; `asked` is when an incremental
    /// query was asked (`None` for a backfill window, which answers no station's read).
    fn absorb(&mut self, asked: Option<Instant>, sessions: Vec<ChargingSession>) {
        if asked.is_some() {
            self.asked = asked;
        }
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

    /// The next incremental query. The first reads from `first` (the stations' look-back) but
    /// no further back than [`RECENT_RUNNING`], and leaves the rest to the backfill. Later ones
    /// start at the newest session start seen (that session is read again, in case it was
    /// still running), or earlier when a port's latest session was still running when last
    /// read, so its energy and end are read again (`fromTimeStamp` filters on the session's
    /// start): back to one started in the last [`RECENT_RUNNING`]. A `deep` query (hourly)
    /// also starts a backfill walk back to any running session started within
    /// [`OPEN_SESSION_HORIZON`], so a long session's energy and end are about an hour behind
    /// at most.
    fn next_window(
        &mut self,
        first: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
        deep: bool,
    ) -> SessionWindow {
        if self.asked.is_none() {
            let from = first.map(|first| first.max(now - RECENT_RUNNING));
            if let (Some(first), Some(from)) = (first, from) {
                self.walk_back(from, first);
            }
            return SessionWindow { from, to: None };
        }
        let oldest_running = |horizon: chrono::Duration| {
            self.latest
                .values()
                .flat_map(|ports| ports.iter())
                .filter(|s| s.end_time.is_none() && s.start_time >= now - horizon)
                .map(|s| s.start_time)
                .min()
        };
        let from = match (self.newest_start, oldest_running(RECENT_RUNNING)) {
            (Some(newest), running) => Some(running.map_or(newest, |t| t.min(newest))),
            (None, _) => first,
        };
        if deep {
            if let (Some(from), Some(running)) = (from, oldest_running(OPEN_SESSION_HORIZON)) {
                self.walk_back(from, running);
            }
        }
        SessionWindow { from, to: None }
    }

    /// Starts a walk back from `to` to `until`, unless one is under way (it goes on).
    fn walk_back(&mut self, to: DateTime<Utc>, until: DateTime<Utc>) {
        if until < to && self.backfill.is_none() && !self.backfilling {
            self.backfill = Some(Backfill { to, until });
        }
    }

    /// The next window of the walk back, newest first, if it is due: `Ok(None)` when there is
    /// no walk or a window is being read, `Err` with the wait when the pace holds it back.
    fn backfill_window(&mut self, now: Instant) -> Result<Option<SessionWindow>, Duration> {
        if self.backfilling {
            return Ok(None);
        }
        let Some(walk) = self.backfill else {
            return Ok(None);
        };
        if let Some(after) = self.backfill_after.filter(|after| *after > now) {
            return Err(after - now);
        }
        // A tail shorter than a quarter step goes with this window rather than a call of its own.
        let step = self.backfill_step.unwrap_or(BACKFILL_FIRST_STEP);
        let step_end = walk.to - step;
        let from = if step_end - walk.until < step / 4 {
            walk.until
        } else {
            step_end
        };
        self.backfill = (from > walk.until).then_some(Backfill { to: from, ..walk });
        self.backfilling = true;
        Ok(Some(SessionWindow {
            from: Some(from),
            to: Some(walk.to),
        }))
    }

    /// A backfill window's sessions: kept; the next window is sized to hold about
    /// [`BACKFILL_WINDOW_SESSIONS`] at the same density, and paced by the pages these took.
    fn backfill_answered(&mut self, window: SessionWindow, sessions: Vec<ChargingSession>) {
        if let (Some(from), Some(to)) = (window.from, window.to) {
            let held = i64::try_from(sessions.len()).unwrap_or(i64::MAX).max(1);
            let seconds = (to - from)
                .num_seconds()
                .saturating_mul(BACKFILL_WINDOW_SESSIONS)
                / held;
            let step = chrono::Duration::seconds(seconds);
            self.backfill_step = Some(step.clamp(BACKFILL_MIN_STEP, BACKFILL_MAX_STEP));
        }
        let pages = sessions.len().div_ceil(SESSION_PAGE).max(1);
        let free = BACKFILL_BURST_PAGES.saturating_sub(self.backfill_pages);
        self.backfill_pages += pages;
        let paced = u32::try_from(pages.saturating_sub(free)).unwrap_or(u32::MAX);
        self.backfill_after = Some(Instant::now() + BACKFILL_PAGE_PAUSE * paced);
        self.backfilling = false;
        self.absorb(None, sessions);
    }

    /// A backfill window's call failed: the walk takes it up again after a pause.
    fn backfill_failed(&mut self, window: SessionWindow) {
        self.backfilling = false;
        let (Some(from), Some(to)) = (window.from, window.to) else {
            return;
        };
        let until = self.backfill.map_or(from, |walk| walk.until);
        self.backfill = Some(Backfill { to, until });
        self.backfill_after = Some(Instant::now() + BACKFILL_RETRY_PAUSE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake_api::session as started;

    fn session(station: &str, port: u16, id: i64, start_min: i64, ended: bool) -> ChargingSession {
        started(&StationId::new(station), port, id, start_min, ended)
    }

    fn at(minute: i64) -> DateTime<Utc> {
        session("x", 1, 0, minute, true).start_time
    }

    fn incremental(from: DateTime<Utc>) -> SessionWindow {
        SessionWindow {
            from: Some(from),
            to: None,
        }
    }

    fn backfill(from: DateTime<Utc>, to: DateTime<Utc>) -> SessionWindow {
        SessionWindow {
            from: Some(from),
            to: Some(to),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_log_keeps_each_ports_latest_session_and_reads_on_from_the_oldest_running_one() {
        let mut log = SessionLog::default();
        // The first query: the stations' look-back, as it is no longer than an hour.
        assert_eq!(
            log.next_window(Some(at(-30)), at(0), false),
            incremental(at(-30))
        );
        log.absorb(
            Some(Instant::now()),
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
        // Session 2 (started at +60) is still running: read again from its start, not from the
        // newest start (+90).
        assert_eq!(log.next_window(None, at(120), false), incremental(at(60)));
        // Running for over an hour: the incremental query no longer reaches back to it; the
        // hourly deep query walks back to it, in the backfill.
        assert_eq!(log.next_window(None, at(200), false), incremental(at(90)));
        assert_eq!(log.backfill_window(Instant::now()), Ok(None));
        assert_eq!(log.next_window(None, at(200), true), incremental(at(90)));
        assert_eq!(
            log.backfill_window(Instant::now()),
            Ok(Some(backfill(at(60), at(90))))
        );
        log.backfill_answered(
            backfill(at(60), at(90)),
            vec![session("1:1", 1, 2, 60, true)],
        );
        assert_eq!(log.backfill_window(Instant::now()), Ok(None));
        assert_eq!(log.next_window(None, at(120), true), incremental(at(90)));
        assert_eq!(log.backfill_window(Instant::now()), Ok(None));
    }

    #[tokio::test(start_paused = true)]
    async fn older_sessions_are_read_back_newest_first_about_five_pages_a_call_and_paced() {
        let mut log = SessionLog::default();
        let now = at(24 * 60);
        let ago = |minutes: i64| now - chrono::Duration::minutes(minutes);
        // The first query reads the last hour; the walk back goes to the look-back, 12 hours.
        assert_eq!(
            log.next_window(Some(ago(12 * 60)), now, true),
            incremental(ago(60))
        );
        let sessions = |n: usize| -> Vec<ChargingSession> {
            (0..n)
                .map(|i| session("1:1", 1, i as i64, 60, true))
                .collect()
        };
        let mut next = || log.backfill_window(Instant::now());
        // The first window is an hour.
        let first = backfill(ago(120), ago(60));
        assert_eq!(next(), Ok(Some(first)));
        // One window at a time.
        assert_eq!(next(), Ok(None));
        // Ten pages in that hour: the next window is half an hour, five pages' worth. The
        // first pages go without waiting.
        log.backfill_answered(first, sessions(1_000));
        let second = backfill(ago(150), ago(120));
        assert_eq!(log.backfill_window(Instant::now()), Ok(Some(second)));
        // Twelve pages in half an hour: the next window is 12.5 minutes.
        log.backfill_answered(second, sessions(1_200));
        let third = backfill(ago(150) - chrono::Duration::seconds(750), ago(150));
        assert_eq!(log.backfill_window(Instant::now()), Ok(Some(third)));
        // Past the burst (24 pages), each page earns a pause: of three pages, two were free.
        log.backfill_answered(third, sessions(250));
        assert_eq!(
            log.backfill_window(Instant::now()),
            Err(BACKFILL_PAGE_PAUSE)
        );
        tokio::time::advance(BACKFILL_PAGE_PAUSE).await;
        let fourth = log.backfill_window(Instant::now()).unwrap().unwrap();
        assert_eq!(fourth.to, third.from);
        // A failed window is asked again after a pause.
        log.backfill_failed(fourth);
        assert_eq!(
            log.backfill_window(Instant::now()),
            Err(BACKFILL_RETRY_PAUSE)
        );
        tokio::time::advance(BACKFILL_RETRY_PAUSE).await;
        assert_eq!(log.backfill_window(Instant::now()), Ok(Some(fourth)));
        // A sparse window: the rest of the 12 hours is one call, and the walk ends there.
        log.backfill_answered(fourth, sessions(1));
        tokio::time::advance(BACKFILL_PAGE_PAUSE).await;
        let last = log.backfill_window(Instant::now()).unwrap().unwrap();
        assert_eq!(last, backfill(ago(12 * 60), fourth.from.unwrap()));
        log.backfill_answered(last, sessions(1));
        tokio::time::advance(BACKFILL_PAGE_PAUSE).await;
        assert_eq!(log.backfill_window(Instant::now()), Ok(None));
    }

    /// A station is answered every alarm of its own, as its points read them (port, type,
    /// time, record number).
    #[tokio::test(start_paused = true)]
    async fn held_alarms_keep_what_stations_read_of_them() {
        let alarm = |station: &str, port: Option<u16>, kind: &str, record: i32| Alarm {
            station_id: StationId::new(station),
            station_name: Some("GARAGE / LEVEL 2".into()),
            station_model: Some("CT4021".into()),
            org_id: Some("1:ORG07225".into()),
            organization_name: Some("Alameda County".into()),
            station_manufacturer: Some("ChargePoint".into()),
            station_serial_num: Some("115110013369".into()),
            port: port.map(cp_registry::PortNumber),
            alarm_type: kind.into(),
            alarm_time: at(i64::from(record)),
            record_number: Some(record),
        };
        let mut held = Held::default();
        let all = vec![
            alarm("1:1", Some(1), "GFCI Trip", 1),
            alarm("1:2", None, "Reachable", 2),
            alarm("1:1", None, "Unreachable", 3),
        ];
        held.absorb(
            Instant::now(),
            &CallOp::Alarms,
            &[],
            CallOutput::Alarms(all.clone()),
        );
        let request = ReadRequest::Alarms(StationId::new("1:1"));
        let Some(ReadReply::Alarms(kept)) = held.reply(&request, Instant::now()) else {
            panic!("the account's alarms answer station 1:1");
        };
        let wanted: Vec<StationAlarm> = [&all[0], &all[2]]
            .into_iter()
            .map(|a| StationAlarm {
                port: a.port,
                alarm_type: a.alarm_type.clone(),
                alarm_time: a.alarm_time,
                record_number: a.record_number,
            })
            .collect();
        assert_eq!(*kept, *wanted);
    }
}
