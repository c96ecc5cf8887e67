//! Scraping: the tick schedule, the polls it asks the gateway for, absorbing their answers
//! into the snapshot and the ports, and publishing the scrape-all message.
//!
//! At each tick a station asks for every method some point needs whose data is older than that
//! method's period (the shortest data currency of its points, and never shorter than the
//! device's `cacheExpiration`, see `Device::call_periods`); getStations is fetched at start and
//! then rarely. When the polls of a tick are in, it publishes. A station scrapes at once when it
//! starts, then on the fleet's ticks, together with every other station: the gateway answers
//! them all with one round of account-wide calls.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use cp_registry::{
    AllMessage, ApiMethod, ChargingSession, GroupId, PointValue, PortNumber, RefusedValue,
    ShedShown, StationLoad, StationStatus,
};
use ractor::ActorRef;

use super::{
    LatestPublish, PortChild, StationMessage, StationState, PUBLISH_WAIT, SESSION_LOOKBACK,
};
use crate::api::LoadScope;
use crate::device::{error_chain, MethodFailure, Publish, PublishHeaders, WithheldPoints};
use crate::error::FailureKind;
use crate::gateway::{GatewayError, ReadReply, ReadRequest};
use crate::port::PortMessage;

impl StationState {
    pub(super) fn on_tick(&mut self, myself: &ActorRef<StationMessage>) {
        self.next_tick = next_on_schedule(self.epoch, self.tick, tokio::time::Instant::now());
        self.arm_tick_timer(myself);
        self.give_up_lost_polls(myself);
        self.start_scrape(myself);
    }

    /// Ticks keep to the fleet's schedule (epoch + n × tick) rather than "a tick after the last
    /// one", so the stations of an account stay together and their reads keep merging.
    pub(super) fn arm_tick_timer(&mut self, myself: &ActorRef<StationMessage>) {
        let wait = self
            .next_tick
            .saturating_duration_since(tokio::time::Instant::now());
        let timer = myself.send_after(wait, || StationMessage::Tick);
        if let Some(before) = self.tick_timer.replace(timer) {
            // Fired already (this runs on its tick), or stale.
            before.abort();
        }
    }

    /// Polls every method whose data is older than its period, then publishes when they are in.
    pub(super) fn start_scrape(&mut self, myself: &ActorRef<StationMessage>) {
        let now = tokio::time::Instant::now();
        if !self.scrape_pending {
            self.scrape_started = now;
            self.scrapes += 1;
            self.arm_publish_deadline(myself);
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
            self.awaited.insert(method);
        }
        if self.awaited.is_empty() {
            self.publish();
        }
    }

    /// Publishes the scrape under way after [`PUBLISH_WAIT`] (or half a tick) at the latest.
    fn arm_publish_deadline(&mut self, myself: &ActorRef<StationMessage>) {
        let scrape = self.scrapes;
        let wait = PUBLISH_WAIT.min(self.tick / 2);
        let timer = myself.send_after(wait, move || StationMessage::PublishDue { scrape });
        if let Some(before) = self.publish_timer.replace(timer) {
            // A scrape arms its deadline once, after the last one published.
            before.abort();
        }
    }

    /// The scrape's deadline passed with polls still out: each one that answered before is
    /// marked late (its points are withheld and the station shows degraded) and the scrape
    /// publishes the rest. The polls go on; their answers count when they come.
    pub(super) fn on_publish_due(&mut self, scrape: u64) {
        if scrape != self.scrapes || !self.scrape_pending {
            return;
        }
        let waited = tokio::time::Instant::now().duration_since(self.scrape_started);
        let at = Utc::now();
        let awaited = std::mem::take(&mut self.awaited);
        for method in awaited.iter() {
            // A method that never answered has no points to show yet: the station is starting.
            if self.fetched_at.contains_key(&method) && !self.failures.contains_key(&method) {
                // A call being retried says why; a hanging one cannot.
                let text = match self.gateway.retry_cause(method) {
                    Some(cause) => format!(
                        "{method}: no answer after {} s; retrying after: {cause}",
                        waited.as_secs_f32().round()
                    ),
                    None => format!(
                        "{method}: no answer after {} s; still waiting for it",
                        waited.as_secs_f32().round()
                    ),
                };
                tracing::warn!(device = %self.device.path, op = %method, cause = %text, "poll late; publishing without its points");
                self.failures.insert(
                    method,
                    Box::new(MethodFailure {
                        kind: FailureKind::Late,
                        text,
                        at,
                    }),
                );
                self.observer()
                    .method_failing(self.station(), method, Some(FailureKind::Late));
            }
        }
        self.publish();
    }

    /// Whether the start-up getStations is still on its way.
    pub(super) fn awaiting_station_info(&self) -> bool {
        self.polling.contains(&ApiMethod::GetStations)
            && !self.fetched_at.contains_key(&ApiMethod::GetStations)
            && !self.failures.contains_key(&ApiMethod::GetStations)
    }

    pub(super) fn poll(&mut self, myself: &ActorRef<StationMessage>, method: ApiMethod) {
        let station = self.station().clone();
        let request = match method {
            ApiMethod::GetStationStatus => ReadRequest::Status(station),
            ApiMethod::GetLoad => ReadRequest::Load {
                station,
                group: *self.group.borrow(),
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
        // An account answer from within half a tick is as good as a new one: the fleet's
        // stations tick together, and those just past the batching window need no second
        // round of calls.
        self.gateway.poll(request, self.tick / 2, myself);
    }

    /// Gives up the polls out longer than any gateway call can take (queued, retried up to
    /// its deadline, timed out once more), so that a poll the gateway never answers cannot
    /// stop its method being asked again. The gateway answers every read; this guards against
    /// it failing to, not against a slow account.
    fn give_up_lost_polls(&mut self, myself: &ActorRef<StationMessage>) {
        let now = tokio::time::Instant::now();
        let wait = self.options.gateway_wait();
        let lost: Vec<ApiMethod> = self
            .polling
            .iter()
            .filter(|m| {
                self.requested_at
                    .get(m)
                    .is_some_and(|t| now.duration_since(*t) > wait)
            })
            .collect();
        for method in lost {
            let error = self.gateway_unreachable("timed out");
            self.on_poll_completed(myself, method, Err(error));
        }
    }

    /// The error of a poll the gateway did not answer.
    pub(super) fn gateway_unreachable(&self, reason: &str) -> GatewayError {
        GatewayError::Unreachable {
            account: self.gateway.account.clone(),
            reason: reason.to_string(),
        }
    }

    pub(super) fn on_poll_completed(
        &mut self,
        myself: &ActorRef<StationMessage>,
        method: ApiMethod,
        result: Result<ReadReply, GatewayError>,
    ) {
        while self.tasks.try_join_next().is_some() {}
        self.polling.remove(&method);
        self.awaited.remove(&method);
        let now = Utc::now();
        let requested = self.requested_at.get(&method).copied();
        let failure = match result {
            Ok(ReadReply::Load(_)) if self.has_newer_load(requested) => None,
            Ok(ReadReply::Alarms(_)) if self.asked_before_alarms_cleared(requested) => None,
            Ok(reply) => {
                if method == ApiMethod::GetLoad {
                    self.load_requested = requested;
                }
                self.absorb(reply, now).err()
            }
            Err(error) => Some(MethodFailure {
                kind: error.kind(),
                text: error_chain(&error),
                at: now,
            }),
        };
        let refused = failure.as_ref().is_some_and(|f| f.kind.is_plan_rights());
        if self.reported.refused.insert(method, refused) != Some(refused) {
            self.observer()
                .method_refused(self.station(), method, refused);
        }
        let mut recovered = false;
        match failure {
            None => {
                if let Some(failure) = self.failures.remove(&method) {
                    tracing::info!(device = %self.device.path, op = %method, after = %failure.kind, "poll recovered");
                    recovered = !failure.kind.is_plan_rights();
                    self.observer().method_failing(self.station(), method, None);
                }
                self.fetched_at.insert(method, now);
            }
            Some(failure) => {
                // Said once per kind of failure: a fleet of hundreds repeating a standing
                // refusal every tick would bury everything else.
                let known = self.failures.get(&method).map(|f| f.kind);
                if known == Some(failure.kind) {
                    tracing::debug!(device = %self.device.path, op = %method, cause = %failure.text, "poll failed again");
                } else {
                    tracing::warn!(device = %self.device.path, op = %method, cause = %failure.text, "poll failed");
                }
                if !failure.kind.is_plan_rights() && known != Some(failure.kind) {
                    self.observer()
                        .method_failing(self.station(), method, Some(failure.kind));
                }
                self.failures.insert(method, Box::new(failure));
                // Try again at the next tick rather than after a whole period.
                self.requested_at.remove(&method);
            }
        }
        if method == ApiMethod::GetStations && self.scrape_pending && !self.awaiting_station_info()
        {
            self.start_scrape(myself);
        } else if self.awaited.is_empty() && self.scrape_pending {
            self.publish();
        } else if recovered && !self.scrape_pending && self.latest.is_some() {
            // The last publish withheld this method's points: publish them now rather than up
            // to an interval later, so data is fresh within one interval of a fault clearing.
            self.publish();
        }
    }

    /// Whether the snapshot holds a getLoad asked for after `requested`.
    pub(super) fn has_newer_load(&self, requested: Option<tokio::time::Instant>) -> bool {
        matches!((self.load_requested, requested), (Some(held), Some(asked)) if held > asked)
    }

    /// Whether a getAlarms asked at `requested` may still show alarms a clearAlarms since removed.
    fn asked_before_alarms_cleared(&self, requested: Option<tokio::time::Instant>) -> bool {
        matches!((self.alarms_cleared, requested), (Some(cleared), Some(asked)) if asked <= cleared)
    }

    /// clearAlarms was accepted: the station has no alarms now, so its alarm points read empty
    /// (as an absorbed empty getAlarms would) without waiting up to a whole alarm period.
    pub(super) fn on_alarms_cleared(&mut self, accepted: tokio::time::Instant) {
        self.alarms_cleared = Some(self.alarms_cleared.map_or(accepted, |t| t.max(accepted)));
        let _ = self.absorb(ReadReply::Alarms(Arc::new([])), Utc::now());
        self.failures.remove(&ApiMethod::GetAlarms);
        self.fetched_at.insert(ApiMethod::GetAlarms, Utc::now());
    }

    /// A write's getLoad read-back: absorbed exactly as a successful getLoad poll, unless a
    /// newer getLoad is already in.
    pub(super) fn on_load_read_back(
        &mut self,
        load: Arc<StationLoad>,
        requested: tokio::time::Instant,
    ) {
        if self.has_newer_load(Some(requested)) {
            return;
        }
        let now = Utc::now();
        self.load_requested = Some(requested);
        // Load(Some) always absorbs.
        let _ = self.absorb(ReadReply::Load(Some(load)), now);
        self.failures.remove(&ApiMethod::GetLoad);
        self.fetched_at.insert(ApiMethod::GetLoad, now);
    }

    /// Stores a poll's answer in the snapshot and tells the ports.
    pub(super) fn absorb(
        &mut self,
        reply: ReadReply,
        now: DateTime<Utc>,
    ) -> Result<(), MethodFailure> {
        let missing = |method: ApiMethod| MethodFailure {
            kind: FailureKind::NotReported,
            text: format!(
                "{method}: station {} not in the answer",
                self.device.station
            ),
            at: now,
        };
        match reply {
            ReadReply::Status(Some(status)) => {
                if status_changed(self.snapshot.status.as_deref(), &status) {
                    self.observer().status_observed(&status);
                }
                for port in &status.ports {
                    self.tell_port(port.port, None, Some(port.clone()), now);
                }
                self.snapshot.status = Some(status);
            }
            ReadReply::Status(None) => return Err(missing(ApiMethod::GetStationStatus)),
            ReadReply::Load(Some(load)) => {
                let before = self.snapshot.load.as_ref().map(|l| l.refused.as_slice());
                self.note_refused(
                    ApiMethod::GetLoad,
                    before.unwrap_or_default(),
                    &load.refused,
                );
                if load_changed(self.snapshot.load.as_deref(), &load) {
                    self.observer().load_observed(&load);
                }
                for port in &load.ports {
                    self.tell_port(port.port, Some(port.shed_shown()), None, now);
                }
                // The station's Load actor, if any, reads the station as its points do.
                let shed = Some(load.shed_shown());
                let observed = PortMessage::Observed {
                    shed,
                    status: None,
                    at: now,
                };
                self.tell_scope(LoadScope::Station, observed);
                self.snapshot.load = Some(load);
            }
            ReadReply::Load(None) => return Err(missing(ApiMethod::GetLoad)),
            ReadReply::Alarms(alarms) => self.snapshot.alarms = Some(alarms),
            ReadReply::Rights(Some(rights)) => self.snapshot.rights = Some(rights),
            ReadReply::Rights(None) => return Err(missing(ApiMethod::GetStationRights)),
            ReadReply::Sessions(sessions) => {
                let refused = |sessions: &[ChargingSession]| -> Vec<RefusedValue> {
                    let refusals = sessions.iter().flat_map(|s| {
                        s.refused.iter().map(|r| RefusedValue {
                            port: s.port,
                            ..r.clone()
                        })
                    });
                    refusals.collect()
                };
                let refused_before = self.snapshot.sessions.as_deref().map(refused);
                let method = ApiMethod::GetChargingSessionData;
                self.note_refused(
                    method,
                    &refused_before.unwrap_or_default(),
                    &refused(&sessions),
                );
                let before = self.snapshot.sessions.as_deref().unwrap_or_default();
                sessions
                    .iter()
                    .filter(|s| session_changed(before, s))
                    .for_each(|s| self.observer().session_observed(s));
                self.snapshot.sessions = Some(sessions);
            }
            ReadReply::Stations(Some(info)) => {
                let group = info
                    .group_id
                    .as_deref()
                    .and_then(|g| g.trim().parse().ok())
                    .map(GroupId);
                // The ports read it for their read-backs; nobody waits for the change.
                self.group.send_replace(group);
                self.snapshot.info = Some(info);
            }
            ReadReply::Stations(None) => return Err(missing(ApiMethod::GetStations)),
            ReadReply::StationList(_) => {}
        }
        Ok(())
    }

    /// Counts every impossible number of an answer, and logs those the previous answer did not
    /// have (by element and port): a station that keeps sending one is said once.
    fn note_refused(&self, method: ApiMethod, before: &[RefusedValue], now: &[RefusedValue]) {
        for refused in now {
            self.observer()
                .value_refused(self.station(), method, &refused.element);
            let known = before
                .iter()
                .any(|b| b.element == refused.element && b.port == refused.port);
            if !known {
                tracing::warn!(device = %self.device.path, op = %method, port = ?refused.port.map(|p| p.0), cause = %refused.reason, "impossible value from the service; its point has no value");
            }
        }
    }

    pub(super) fn tell_port(
        &mut self,
        port: PortNumber,
        shed: Option<ShedShown>,
        status: Option<cp_registry::PortStatus>,
        at: DateTime<Utc>,
    ) {
        // A port that is restarting misses one observation; the next poll brings another.
        let observed = PortMessage::Observed { shed, status, at };
        self.tell_scope(LoadScope::Port(port), observed);
    }

    /// Sends `message` to the actor of `scope`. One that failed and is not restarted yet drops
    /// it, with the messages queued behind the failure; the next poll brings another. A port
    /// without an actor has its registers changed here, as its actor would change them.
    fn tell_scope(&mut self, scope: LoadScope, message: PortMessage) {
        match self.ports.get_mut(&scope) {
            Some(PortChild::Running(port)) => {
                let _ = port.actor.cast(message);
            }
            Some(PortChild::Idle(registers)) => match message {
                PortMessage::Observed { shed, status, at } => {
                    registers.on_observed(shed, status, at);
                }
                PortMessage::StationCleared => registers.on_station_cleared(),
                // Writes and what they set off only reach ports with an actor.
                _ => {}
            },
            None => {}
        }
    }

    /// See [`StationMessage::StationShedCleared`]. A port restarting meanwhile misses it and
    /// keeps renewing its shed until that is cleared again or lapses.
    pub(super) fn on_station_shed_cleared(&mut self) {
        let ports: Vec<LoadScope> = self
            .ports
            .keys()
            .filter(|s| s.port().is_some())
            .copied()
            .collect();
        for scope in ports {
            self.tell_scope(scope, PortMessage::StationCleared);
        }
    }

    /// The failing methods and the registry points each one withholds, for a publish's headers.
    fn withheld(&self) -> BTreeMap<String, WithheldPoints> {
        self.failures
            .iter()
            .map(|(method, failure)| {
                let withheld = self
                    .device
                    .registry
                    .points
                    .iter()
                    .filter(|p| p.method() == method)
                    .map(|p| p.name.clone())
                    .collect();
                (
                    method.to_string(),
                    WithheldPoints {
                        failure: (**failure).clone(),
                        withheld,
                    },
                )
            })
            .collect()
    }

    /// Publishes the scrape: marks which points it carries, and builds the scrape-all message
    /// only for whoever reads it now (a subscriber of the publish stream, a scrape_all
    /// waiting); the station keeps what it published, not the message (see [`LatestPublish`]).
    pub(super) fn publish(&mut self) {
        self.scrape_pending = false;
        // Its deadline has no scrape left to publish.
        if let Some(deadline) = self.publish_timer.take() {
            deadline.abort();
        }
        let now = tokio::time::Instant::now();
        let slack = self.tick / 2;
        let interval = self.device.interval;
        let registry = Arc::clone(&self.device.registry);
        let included: Box<[bool]> = registry
            .points
            .iter()
            .zip(&self.last_included)
            .map(|(p, last)| {
                let due = last
                    .elapsed(self.epoch, now)
                    .is_none_or(|elapsed| elapsed + slack >= p.scrape_interval_or(interval));
                due && self.value_of(p).is_some()
            })
            .collect();
        let published = PublishedAt::at(self.epoch, now);
        for (last, _) in self
            .last_included
            .iter_mut()
            .zip(&included)
            .filter(|(_, i)| **i)
        {
            *last = published;
        }
        if self.device.heart_beat_point.is_some() {
            self.heartbeat = !self.heartbeat;
        }
        let at = Utc::now();
        if self.failures.is_empty() {
            self.last_ok_scrape = Some(at);
        }
        self.latest = Some(LatestPublish {
            at,
            instant: now,
            included,
        });
        self.last_scrape = Some(at);
        let readers = self.publisher.receiver_count() > 0 || !self.scrape_waiters.is_empty();
        if let Some(publish) = readers.then(|| self.latest_publish()).flatten() {
            // No subscriber is not an error: scrape_all rebuilds the message from `latest`.
            let _ = self.publisher.send(publish.clone());
            for waiter in self.scrape_waiters.drain(..) {
                // The caller may have given up; the publish is kept all the same.
                let _ = waiter.send(Ok(publish.clone()));
            }
        }
        let observer = &*self.options.station_observer;
        let station = &self.device.station;
        observer.scrape_finished(station, now.duration_since(self.scrape_started), at);
        let up = self.is_up();
        if self.reported.up.replace(up) != Some(up) {
            observer.station_up(station, &self.device.account, up);
        }
        let alarms = self.snapshot.alarms.as_ref().map_or(0, |a| a.len());
        if self.reported.alarms.replace(alarms) != Some(alarms) {
            observer.alarms_active(station, alarms);
        }
        observer.data_ages(station, &self.data_ages(at));
    }

    /// The latest publish's scrape-all message: the points it carried, as the snapshot holds
    /// them now (a read-back or a clearAlarms since shows), and the heartbeat it carried.
    /// `None` before the first publish.
    pub(super) fn latest_publish(&self) -> Option<Publish> {
        let latest = self.latest.as_ref()?;
        let registry = &self.device.registry;
        let carried = registry
            .points
            .iter()
            .zip(latest.included.iter())
            .filter(|(_, included)| **included)
            .map(|(p, _)| p);
        let mut message = AllMessage::build(carried, self.tz(), |p| self.value_of(p));
        if let Some(heartbeat) = &self.device.heart_beat_point {
            message.values.insert(
                heartbeat.clone(),
                PointValue::Int(i64::from(self.heartbeat)),
            );
            message
                .meta
                .insert(heartbeat.clone(), super::read::heartbeat_meta(self.tz()));
        }
        let mut headers = PublishHeaders::at(latest.at);
        headers.failures = self.withheld();
        Some(Publish {
            topic: self.device.path.all_topic(),
            device: self.path(),
            headers,
            message,
        })
    }
}

/// Whether a getStationStatus entry shows a port in another status than `before` did: the
/// telemetry of an unchanged station is not set again every scrape.
fn status_changed(before: Option<&StationStatus>, now: &StationStatus) -> bool {
    before.is_none_or(|before| {
        before.ports.len() != now.ports.len()
            || before
                .ports
                .iter()
                .zip(&now.ports)
                .any(|(a, b)| a.port != b.port || a.status != b.status)
    })
}

/// Whether a getLoad entry shows any port's load or shed other than `before` did.
fn load_changed(before: Option<&StationLoad>, now: &StationLoad) -> bool {
    before.is_none_or(|before| {
        before.ports.len() != now.ports.len()
            || before.ports.iter().zip(&now.ports).any(|(a, b)| {
                a.port != b.port || a.port_load != b.port_load || a.shed_shown() != b.shed_shown()
            })
    })
}

/// Whether `session` is new, or its energy moved, against the sessions held `before`.
fn session_changed(before: &[ChargingSession], session: &ChargingSession) -> bool {
    !before.iter().any(|b| {
        b.port == session.port && b.session_id == session.session_id && b.energy == session.energy
    })
}

/// When a point was last published: tenths of a second after the fleet's epoch, plus one so
/// that 0 is "never" (good for 13 years). Four bytes where an `Option<Instant>` takes sixteen:
/// every point of every station has one, ~1 KB a station with the shipped registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct PublishedAt(u32);

impl PublishedAt {
    pub(super) const NEVER: PublishedAt = PublishedAt(0);

    const TENTH: Duration = Duration::from_millis(100);

    pub(super) fn at(epoch: tokio::time::Instant, now: tokio::time::Instant) -> PublishedAt {
        let tenths = now.saturating_duration_since(epoch).as_millis() / 100;
        PublishedAt(u32::try_from(tenths).map_or(u32::MAX, |t| t.saturating_add(1)))
    }

    /// Time since the publish, to within a tenth of a second (never less); `None` if never.
    pub(super) fn elapsed(
        self,
        epoch: tokio::time::Instant,
        now: tokio::time::Instant,
    ) -> Option<Duration> {
        let tenths = self.0.checked_sub(1)?;
        let published = epoch + Self::TENTH * tenths;
        Some(now.saturating_duration_since(published))
    }
}

/// The first `epoch + n × tick` after `now`.
fn next_on_schedule(
    epoch: tokio::time::Instant,
    tick: Duration,
    now: tokio::time::Instant,
) -> tokio::time::Instant {
    let since = now.saturating_duration_since(epoch);
    let tick_ns = tick.as_nanos().max(1);
    let ticks = since.as_nanos() / tick_ns + 1;
    epoch + Duration::from_nanos(u64::try_from(ticks * tick_ns).unwrap_or(u64::MAX))
}

/// The shortest run of whole `tick`s that is at least `period`.
pub(super) fn whole_ticks(period: Duration, tick: Duration) -> Duration {
    let tick_ns = tick.as_nanos().max(1);
    let ticks = period.as_nanos().div_ceil(tick_ns);
    Duration::from_nanos(u64::try_from(ticks * tick_ns).unwrap_or(u64::MAX))
}
