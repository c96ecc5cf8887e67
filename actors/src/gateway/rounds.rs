//! Rounds: the account-wide calls that answer a method for every station at once.
//!
//! Reads that the account's latest answers ([`Held`](super::held::Held)) cannot serve fresh
//! enough start a round, or join one already under way that covers them. A round asks for every
//! station of the account that reads the method (its members), not only those that asked in
//! this window, so the stations that ask a moment later find a fresh answer waiting:
//! - getStationStatus: pages of [`STATUS_PAGE`] station IDs;
//! - getLoad: by station group, the fewest groups that cover the members (a group learned from
//!   getStations, or from what a getLoad of the group returned), by station for the rest;
//! - getAlarms, getStationRights, getStations: one call for the account (the client pages);
//! - getChargingSessionData: one call for the account, incremental (see `held.rs`); older
//!   sessions are read by a walk back, window by window: the windows due at once go in the
//!   round, later (paced) ones in rounds of their own that no station waits for or joins
//!   ([`GatewayState::start_session_backfill`]).
//!
//! When the last call of a round is in, each waiter gets its station's part, or the failure of
//! the call that covered it: a failed page withholds only its stations.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use cp_registry::{ApiMethod, GroupId, StationId};
use tokio::time::Instant;

use super::call::{CallOp, CallOutput};
use super::{
    Call, CallId, CallPurpose, GatewayError, GatewayState, PendingRead, ReadReply, ReadRequest,
    RoundId,
};
use crate::api::LoadQuery;

/// Station IDs per getStationStatus call, as getStations pages them.
pub(super) const STATUS_PAGE: usize = 500;

/// A station that has not asked for a method this long is no longer read for it.
const MEMBER_TTL: Duration = Duration::from_secs(60 * 60);

/// One method's account-wide calls and the reads waiting for them.
pub(super) struct Round {
    method: ApiMethod,
    started: Instant,
    calls: Vec<CallId>,
    calls_left: usize,
    /// Whether a call of the round has been sent: then it no longer takes more stations.
    pub(super) dispatched: bool,
    /// A write's read-back (in the write lane): other read-backs may merge into it until it
    /// is sent.
    read_back: bool,
    /// The stations the round reads; `None`: the whole account.
    covers: Option<HashSet<StationId>>,
    pub(super) waiters: Vec<PendingRead>,
    failures: HashMap<StationId, GatewayError>,
    account_failure: Option<GatewayError>,
}

impl Round {
    fn covers(&self, station: Option<&StationId>) -> bool {
        match (&self.covers, station) {
            (None, _) => true,
            (Some(set), Some(station)) => set.contains(station),
            (Some(_), None) => false,
        }
    }
}

/// The stations that read status and load, with when they last asked (and, for load, the
/// station group they belong to), so a round reads them all.
#[derive(Default)]
pub(super) struct Members {
    status: HashMap<StationId, Instant>,
    load: HashMap<StationId, (Option<GroupId>, Instant)>,
}

impl Members {
    pub(super) fn note(&mut self, request: &ReadRequest, now: Instant) {
        match request {
            ReadRequest::Status(station) => {
                self.status.insert(station.clone(), now);
            }
            ReadRequest::Load { station, group } => {
                self.load.insert(station.clone(), (*group, now));
            }
            _ => {}
        }
    }

    fn forget_quiet(&mut self, now: Instant) {
        self.status
            .retain(|_, asked| now.duration_since(*asked) < MEMBER_TTL);
        self.load
            .retain(|_, (_, asked)| now.duration_since(*asked) < MEMBER_TTL);
    }

    fn group_of(&self, station: &StationId) -> Option<GroupId> {
        self.load.get(station).and_then(|(group, _)| *group)
    }
}

impl GatewayState {
    /// A read the latest answers cannot serve: joins a round under way that covers it, widens
    /// one not sent yet, or is left for a new round (returned).
    pub(super) fn join_round(&mut self, read: PendingRead) -> Option<PendingRead> {
        let method = read.request.method();
        let station = read.request.station();
        let joinable = self
            .rounds
            .iter()
            .find(|(_, r)| r.method == method && r.started >= read.after && r.covers(station))
            .map(|(id, _)| *id);
        let Some(id) = joinable.or_else(|| self.widen_round(&read)) else {
            return Some(read);
        };
        let round = self.rounds.get_mut(&id).expect("ids found above are live");
        if round.dispatched {
            // Joining a call already sent: the request no longer waits in a queue.
            self.queued -= 1;
        }
        round.waiters.push(read);
        None
    }

    /// Adds the station of `read` to a status or load round whose calls are all still queued:
    /// while the rate limit holds calls back, reads of later windows merge into them. Never a
    /// write's read-back: a call added to it would go in the read lane, and the read-back
    /// would wait for it behind every queued read.
    fn widen_round(&mut self, read: &PendingRead) -> Option<RoundId> {
        let method = read.request.method();
        let station = read.request.station()?.clone();
        if !matches!(method, ApiMethod::GetStationStatus | ApiMethod::GetLoad) {
            return None;
        }
        let (&id, round) = self
            .rounds
            .iter_mut()
            .find(|(_, r)| r.method == method && !r.dispatched && !r.read_back)?;
        let group = self.members.group_of(&station);
        // Widen an existing call: a status page with room, or a load of the station's group (a
        // load of another station of the group becomes the group's).
        let widened = round.calls.iter().find_map(|call_id| {
            let call = self.calls.get_mut(call_id)?;
            let CallPurpose::Read { covers, .. } = &mut call.purpose else {
                return None;
            };
            let fits = match &mut call.op {
                CallOp::Status(ids) if ids.len() < STATUS_PAGE => {
                    ids.push(station.clone());
                    true
                }
                CallOp::Load(LoadQuery::Group(g)) => group == Some(*g),
                CallOp::Load(query @ LoadQuery::Station(_))
                    if group.is_some()
                        && covers.iter().any(|s| self.members.group_of(s) == group) =>
                {
                    *query = LoadQuery::Group(group.expect("checked above"));
                    true
                }
                _ => false,
            };
            fits.then(|| covers.push(station.clone()))
        });
        if widened.is_none() {
            let op = match method {
                ApiMethod::GetStationStatus => CallOp::Status(vec![station.clone()]),
                _ => CallOp::Load(LoadQuery::Station(station.clone())),
            };
            let call = self.new_round_call(id, op, vec![station.clone()]);
            self.read_lane.push_back(call);
            let round = self.rounds.get_mut(&id).expect("found above");
            round.calls.push(call);
            round.calls_left += 1;
        }
        let round = self.rounds.get_mut(&id).expect("found above");
        if let Some(covers) = &mut round.covers {
            covers.insert(station);
        }
        Some(id)
    }

    /// Starts one round for `method` with the reads that found none to join, reading every
    /// member not covered by a round under way.
    pub(super) fn start_round(&mut self, method: ApiMethod, reads: Vec<PendingRead>) {
        let now = Instant::now();
        self.members.forget_quiet(now);
        let under_way = |state: &GatewayState, station: &StationId| {
            state
                .rounds
                .values()
                .any(|r| r.method == method && r.covers(Some(station)))
        };
        let mut wanted: Vec<StationId> = match method {
            ApiMethod::GetStationStatus => self.members.status.keys().cloned().collect(),
            ApiMethod::GetLoad => self.members.load.keys().cloned().collect(),
            _ => Vec::new(),
        };
        wanted.extend(reads.iter().filter_map(|r| r.request.station().cloned()));
        wanted.sort();
        wanted.dedup();
        wanted.retain(|s| !under_way(self, s));
        let calls: Vec<(CallOp, Vec<StationId>)> = match method {
            ApiMethod::GetStationStatus => wanted
                .chunks(STATUS_PAGE)
                .map(|page| (CallOp::Status(page.to_vec()), page.to_vec()))
                .collect(),
            ApiMethod::GetLoad => self
                .load_cover(&wanted)
                .into_iter()
                .map(|(query, covers)| (CallOp::Load(query), covers))
                .collect(),
            ApiMethod::GetAlarms => vec![(CallOp::Alarms, Vec::new())],
            ApiMethod::GetStationRights => vec![(CallOp::Rights, Vec::new())],
            ApiMethod::GetStations => vec![(CallOp::Stations, Vec::new())],
            ApiMethod::GetChargingSessionData => {
                let first = reads.iter().filter_map(|r| r.request.since()).min();
                vec![(
                    CallOp::Sessions(self.held.sessions_window(first)),
                    Vec::new(),
                )]
            }
            // Writes never come as reads.
            ApiMethod::ShedLoad | ApiMethod::ClearShedState | ApiMethod::ClearAlarms => Vec::new(),
        };
        let covers = matches!(method, ApiMethod::GetStationStatus | ApiMethod::GetLoad)
            .then(|| wanted.into_iter().collect());
        let id = self.open_round(method, covers, reads, calls);
        let round = &self.rounds[&id];
        self.read_lane.extend(round.calls.iter().copied());
        if method == ApiMethod::GetChargingSessionData {
            self.start_session_backfill(Some(id));
        }
    }

    /// Queues the next window of older sessions when one is due: in round `into` while it is
    /// open, so its waiters get the window's sessions too (the first walk's unpaced windows
    /// answer the stations' first read), else in a round of its own that no station waits for
    /// or joins. Otherwise returns how long until one is due, if a walk back is under way.
    pub(super) fn start_session_backfill(&mut self, into: Option<RoundId>) -> Option<Duration> {
        let window = match self.held.session_backfill() {
            Ok(Some(window)) => window,
            Ok(None) => return None,
            Err(wait) => return Some(wait),
        };
        let op = CallOp::Sessions(window);
        let call = match into.filter(|id| self.rounds.contains_key(id)) {
            Some(id) => {
                let call = self.new_round_call(id, op, Vec::new());
                let round = self.rounds.get_mut(&id).expect("checked above");
                round.calls.push(call);
                round.calls_left += 1;
                call
            }
            None => {
                // Covering no station: no read joins it.
                let calls = vec![(op, Vec::new())];
                let method = ApiMethod::GetChargingSessionData;
                let id = self.open_round(method, Some(HashSet::new()), Vec::new(), calls);
                self.rounds[&id].calls[0]
            }
        };
        self.read_lane.push_back(call);
        None
    }

    /// A write's read-back: a round for the one station, sent in the write lane. It is never
    /// answered from an earlier answer, which may predate the write. Read-backs that come
    /// while another waits to be sent share its call when a station group holds both (the
    /// getLoad of the group): writes come in bursts (a demand-response event sheds many
    /// stations at once), and each call of the burst waits for a token of the account's rate.
    pub(super) fn start_read_back(&mut self, read: PendingRead) {
        let Some(station) = read.request.station().cloned() else {
            return;
        };
        let read = match self.merge_read_back(read) {
            Ok(()) => return,
            Err(read) => read,
        };
        let op = CallOp::Load(LoadQuery::Station(station.clone()));
        let covers = Some(HashSet::from([station.clone()]));
        let id = self.open_round(
            ApiMethod::GetLoad,
            covers,
            vec![read],
            vec![(op, vec![station])],
        );
        if let Some(round) = self.rounds.get_mut(&id) {
            round.read_back = true;
            self.write_lane.extend(round.calls.iter().copied());
        }
    }

    /// Adds `read` (a read-back) to a read-back not sent yet whose stations share a group with
    /// its station, making that call the group's getLoad; gives it back when there is none.
    fn merge_read_back(&mut self, read: PendingRead) -> Result<(), PendingRead> {
        let Some(station) = read.request.station().cloned() else {
            return Err(read);
        };
        let groups = self.groups_of(&read.request);
        // A read-back not sent yet is one call, for the stations of its waiters.
        let waiting: Vec<(RoundId, CallId, Vec<GroupId>)> = self
            .rounds
            .iter()
            .filter(|(_, r)| r.read_back && !r.dispatched && r.calls.len() == 1)
            .filter_map(|(id, r)| {
                let first = r.waiters.first()?;
                Some((*id, r.calls[0], self.groups_of(&first.request)))
            })
            .collect();
        let mut merged = None;
        for (round_id, call_id, theirs) in waiting {
            let shared = match self.calls.get(&call_id).map(|c| &c.op) {
                Some(CallOp::Load(LoadQuery::Group(g))) => groups.contains(g).then_some(*g),
                Some(CallOp::Load(LoadQuery::Station(_))) => {
                    groups.iter().copied().find(|g| theirs.contains(g))
                }
                _ => None,
            };
            if let Some(group) = shared {
                merged = Some((round_id, call_id, group));
                break;
            }
        }
        let Some((round_id, call_id, group)) = merged else {
            return Err(read);
        };
        if let Some(call) = self.calls.get_mut(&call_id) {
            call.op = CallOp::Load(LoadQuery::Group(group));
            if let CallPurpose::Read { covers, .. } = &mut call.purpose {
                covers.push(station.clone());
            }
        }
        let round = self.rounds.get_mut(&round_id).expect("found above");
        if let Some(covers) = &mut round.covers {
            covers.insert(station);
        }
        round.waiters.push(read);
        Ok(())
    }

    /// Every station group a load request's station is known to be in: the one it names (from
    /// getStations), the one it last read load with, and those getStationRights shows.
    fn groups_of(&self, request: &ReadRequest) -> Vec<GroupId> {
        let mut groups = match (request, request.station()) {
            (ReadRequest::Load { group, .. }, Some(station)) => {
                let mut groups = self.groups_of_station(station);
                groups.extend(*group);
                groups
            }
            (_, Some(station)) => self.groups_of_station(station),
            _ => Vec::new(),
        };
        groups.sort();
        groups.dedup();
        groups
    }

    fn groups_of_station(&self, station: &StationId) -> Vec<GroupId> {
        let mut groups = self.held.rights_groups_of(station);
        groups.extend(self.members.group_of(station));
        groups
    }

    fn open_round(
        &mut self,
        method: ApiMethod,
        covers: Option<HashSet<StationId>>,
        waiters: Vec<PendingRead>,
        calls: Vec<(CallOp, Vec<StationId>)>,
    ) -> RoundId {
        let id = RoundId(self.next_round);
        self.next_round += 1;
        let calls: Vec<CallId> = calls
            .into_iter()
            .map(|(op, covers)| self.new_round_call(id, op, covers))
            .collect();
        self.rounds.insert(
            id,
            Round {
                method,
                started: Instant::now(),
                calls_left: calls.len(),
                calls,
                dispatched: false,
                read_back: false,
                covers,
                waiters,
                failures: HashMap::new(),
                account_failure: None,
            },
        );
        if self.rounds[&id].calls_left == 0 {
            self.finish_round(id);
        }
        id
    }

    fn new_round_call(&mut self, round: RoundId, op: CallOp, covers: Vec<StationId>) -> CallId {
        self.new_call(Call {
            op,
            purpose: CallPurpose::Read { round, covers },
            from_read_lane: false,
        })
    }

    /// The fewest getLoad calls that cover `wanted`: greedily, the station group covering most
    /// of the stations still uncovered, while a group covers two or more; one call per station
    /// for the rest. A station is known to be in a group by getStations (its `sgID`), by
    /// getStationRights (every group that grants it rights, an organisation-wide one among
    /// them), or by what a getLoad of the group returned.
    fn load_cover(&self, wanted: &[StationId]) -> Vec<(LoadQuery, Vec<StationId>)> {
        let mut uncovered: HashSet<&StationId> = wanted.iter().collect();
        let mut members: HashMap<GroupId, HashSet<&StationId>> = HashMap::new();
        for station in wanted {
            let declared = self.members.group_of(station).into_iter();
            for group in declared.chain(self.held.rights_groups_of(station)) {
                members.entry(group).or_default().insert(station);
            }
        }
        for (group, stations) in &mut members {
            let learned = self.held.members_of(*group).iter();
            stations.extend(learned.filter(|s| uncovered.contains(s)));
        }
        let mut groups: Vec<GroupId> = members.keys().copied().collect();
        groups.sort();
        let mut calls = Vec::new();
        loop {
            let best = groups
                .iter()
                .map(|g| {
                    let covered: HashSet<&StationId> = members[g]
                        .iter()
                        .copied()
                        .filter(|s| uncovered.contains(s))
                        .collect();
                    (*g, covered)
                })
                .max_by_key(|(g, covered)| (covered.len(), std::cmp::Reverse(*g)));
            let Some((group, covered)) = best.filter(|(_, covered)| covered.len() >= 2) else {
                break;
            };
            let mut covered: Vec<StationId> = covered.into_iter().cloned().collect();
            covered.sort();
            covered.iter().for_each(|s| {
                uncovered.remove(s);
            });
            groups.retain(|g| *g != group);
            calls.push((LoadQuery::Group(group), covered));
        }
        let mut rest: Vec<&StationId> = uncovered.into_iter().collect();
        rest.sort();
        calls.extend(
            rest.into_iter()
                .map(|s| (LoadQuery::Station(s.clone()), vec![s.clone()])),
        );
        calls
    }

    /// A round's call finished: its answer goes into the latest answers, or its failure to the
    /// stations it covered; when it was the round's last, the waiters are answered.
    pub(super) fn on_round_call_completed(
        &mut self,
        id: RoundId,
        op: CallOp,
        covers: Vec<StationId>,
        result: Result<CallOutput, GatewayError>,
    ) {
        let Some(round) = self.rounds.get_mut(&id) else {
            return;
        };
        let asked = round.started;
        let method = round.method;
        let backfill = match op {
            CallOp::Sessions(window) if window.is_backfill() => Some(window),
            _ => None,
        };
        match result {
            Ok(output) => {
                if self.held.granted(method) {
                    self.context
                        .observer
                        .plan_refusal(self.account(), method, false);
                }
                self.held.absorb(asked, &op, &covers, output);
                if backfill.is_some() {
                    // The next window, if due at once, before this round can finish.
                    self.start_session_backfill(Some(id));
                }
            }
            Err(error) => {
                let refused = error.kind().is_plan_rights();
                if let Some(window) = backfill {
                    self.held.session_backfill_failed(window);
                }
                if refused {
                    self.held.refused(method, error.clone());
                    let account = &self.context.account;
                    self.context.observer.plan_refusal(account, method, true);
                }
                // A failed window of older sessions is asked again later: the round's waiters
                // keep what its other calls brought.
                if backfill.is_none() || refused {
                    if covers.is_empty() {
                        round.account_failure = Some(error);
                    } else {
                        for station in covers {
                            round.failures.insert(station, error.clone());
                        }
                    }
                }
            }
        }
        let Some(round) = self.rounds.get_mut(&id) else {
            return;
        };
        round.calls_left -= 1;
        if round.calls_left == 0 {
            self.finish_round(id);
        }
    }

    /// Whether the account's first load round should wait for getStationRights: the groups it
    /// shows (an organisation-wide one among them) make the load one call where the groups
    /// getStations names would make one per group. Starts that read when none is under way.
    pub(super) fn load_waits_for_rights(&mut self) -> bool {
        if self.held.has_rights()
            || self.held.refusal(ApiMethod::GetStationRights).is_some()
            || self.members.load.len() < 2
        {
            return false;
        }
        if !self
            .rounds
            .values()
            .any(|r| r.method == ApiMethod::GetStationRights)
        {
            self.start_round(ApiMethod::GetStationRights, Vec::new());
        }
        true
    }

    fn finish_round(&mut self, id: RoundId) {
        let Some(round) = self.rounds.remove(&id) else {
            return;
        };
        if round.method == ApiMethod::GetStationRights && !self.load_waiting.is_empty() {
            // Answered or not, the load waits no longer.
            let reads = std::mem::take(&mut self.load_waiting);
            self.start_round(ApiMethod::GetLoad, reads);
        }
        if !round.dispatched {
            self.queued -= round.waiters.len();
        }
        for waiter in round.waiters {
            let failure = waiter
                .request
                .station()
                .and_then(|s| round.failures.get(s))
                .or(round.account_failure.as_ref());
            let result = match failure {
                Some(error) => Err(error.clone()),
                None => Ok(self
                    .held
                    .reply(&waiter.request, round.started)
                    .unwrap_or_else(|| waiter.request.not_reported())),
            };
            waiter.answer(result);
        }
    }

    /// The round call `call` is being sent: its round's waiters stop counting as queued.
    pub(super) fn round_dispatched(&mut self, round: RoundId) {
        if let Some(round) = self.rounds.get_mut(&round) {
            if !round.dispatched {
                round.dispatched = true;
                self.queued -= round.waiters.len();
            }
        }
    }
}

impl ReadRequest {
    /// The method that answers this request.
    pub(crate) fn method(&self) -> ApiMethod {
        match self {
            ReadRequest::Status(_) => ApiMethod::GetStationStatus,
            ReadRequest::Load { .. } => ApiMethod::GetLoad,
            ReadRequest::Alarms(_) => ApiMethod::GetAlarms,
            ReadRequest::Rights(_) => ApiMethod::GetStationRights,
            ReadRequest::Sessions { .. } => ApiMethod::GetChargingSessionData,
            ReadRequest::Stations(_) | ReadRequest::StationList => ApiMethod::GetStations,
        }
    }

    /// How far back the first session query looks.
    fn since(&self) -> Option<DateTime<Utc>> {
        match self {
            ReadRequest::Sessions { since, .. } => *since,
            _ => None,
        }
    }

    /// The answer when the service did not mention the station.
    pub(super) fn not_reported(&self) -> ReadReply {
        match self {
            ReadRequest::Status(_) => ReadReply::Status(None),
            ReadRequest::Load { .. } => ReadReply::Load(None),
            ReadRequest::Alarms(_) => ReadReply::Alarms(Arc::new([])),
            ReadRequest::Rights(_) => ReadReply::Rights(None),
            ReadRequest::Sessions { .. } => ReadReply::Sessions(Arc::new([])),
            ReadRequest::Stations(_) => ReadReply::Stations(None),
            ReadRequest::StationList => ReadReply::StationList(Vec::new()),
        }
    }
}
