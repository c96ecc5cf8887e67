//! One simulated station's changing state: vehicles arriving and leaving, port load, sheds,
//! energy per session, alarms and reachability.
//!
//! Each port draws its random choices from its own seeded generator, so a port's history
//! depends only on the seed, never on which other ports or queries ran.
//!
//! Time moves in whole [`STEP`]s from the station's origin: a station caught up to any time
//! has taken exactly the steps that fit before it, whether it was asked every second or once a
//! day. That is what lets the fleet catch a station up only when a request reads it
//! ([`StationSim::catch_up`]) and still answer exactly as if every station had been stepped on
//! every request. What holds between steps (a shed that has lapsed, a new shed's cap on the
//! draw, a port's contact time) is worked out when it is read and never stored, so it cannot
//! change a later step.
//!
//! Load model: a vehicle arrives with an energy need and a maximum charge rate; it ramps up to
//! `min(vehicle rate, port nameplate, shed cap)` over [`RAMP`], tapers once 80 % of its need is
//! met, draws nothing once full, and leaves at its departure time.

use std::collections::VecDeque;

use chrono::{DateTime, Duration, Utc};
use cp_actors::ShedLimit;
use cp_registry::PortNumber;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

/// The simulated step: events (arrivals, alarms, expiring sheds) land on whole minutes from
/// the station's origin, so one station costs one step a simulated minute however often it is
/// asked.
pub(crate) const STEP: Duration = Duration::seconds(60);

/// Time a vehicle takes to reach full draw after plugging in.
const RAMP: Duration = Duration::seconds(60);

/// Most sessions kept per port; older ones are forgotten, as a bounded store must.
pub(crate) const MAX_SESSIONS_PER_PORT: usize = 1_000;

/// Most alarms kept per station until cleared; older ones are dropped first.
pub(crate) const MAX_ALARMS_PER_STATION: usize = 100;

/// Mean time between random station alarms (GFCI Trip, Power Loss).
const ALARM_MEAN_SECS: f64 = 18.0 * 3600.0;

/// Mean time between a port's spells of being unreachable.
const UNREACHABLE_MEAN_SECS: f64 = 36.0 * 3600.0;

/// A shed in force on a port or a station.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub(crate) struct Shed {
    pub limit: ShedLimit,
    /// `None`: until cleared.
    pub until: Option<DateTime<Utc>>,
}

impl Shed {
    /// The shed as asked: `minutes` 0 means until cleared.
    pub fn new(limit: ShedLimit, now: DateTime<Utc>, minutes: u32) -> Shed {
        Shed {
            limit,
            until: (minutes > 0).then(|| now + Duration::minutes(i64::from(minutes))),
        }
    }

    fn lapsed(&self, now: DateTime<Utc>) -> bool {
        self.until.is_some_and(|until| now >= until)
    }
}

/// A vehicle plugged into a port.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Session {
    pub id: i64,
    pub port: PortNumber,
    pub start: DateTime<Utc>,
    pub end: Option<DateTime<Utc>>,
    pub energy_kwh: f64,
    pub user_id: String,
    pub credential_id: String,
    need_kwh: f64,
    vehicle_kw: f64,
    departs: DateTime<Utc>,
}

/// An alarm raised and not yet cleared.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AlarmRecord {
    /// `None`: the whole station.
    pub port: Option<PortNumber>,
    pub alarm_type: &'static str,
    pub time: DateTime<Utc>,
}

/// One port's changing state.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PortSim {
    pub number: PortNumber,
    pub max_kw: f64,
    rng: ChaCha8Rng,
    /// The vehicle plugged in now, if any.
    pub active: Option<Session>,
    /// Finished sessions, oldest first, at most [`MAX_SESSIONS_PER_PORT`].
    pub history: VecDeque<Session>,
    next_arrival: DateTime<Utc>,
    next_session_seq: i64,
    session_id_base: i64,
    pub shed: Option<Shed>,
    pub unreachable_until: Option<DateTime<Utc>>,
    /// Last step at which the port talked to ChargePoint (frozen while unreachable); see
    /// [`PortSim::contact_time`].
    last_contact: DateTime<Utc>,
    /// Draw in kW after the last step.
    pub load_kw: f64,
}

/// What getLoad reports for a port: its load and the shed in force on it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PortLoadView {
    pub shed_state: bool,
    pub load_kw: f64,
    pub allowed_load: f64,
    pub percent_shed: u8,
}

/// One station's changing state.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StationSim {
    /// The last whole step taken: the state is as of this time (plus what
    /// [`StationSim::catch_up`] applied at once since).
    at: DateTime<Utc>,
    pub ports: Vec<PortSim>,
    /// A station-wide shed (also what a group shed sets on each of its stations).
    pub shed: Option<Shed>,
    /// Uncleared alarms, oldest first.
    pub alarms: VecDeque<AlarmRecord>,
    rng: ChaCha8Rng,
}

impl StationSim {
    /// A station with idle ports at `now`. `seed` and `index` fix its random course; port
    /// nameplates come from `port_max_kw`.
    pub fn new(seed: u64, index: usize, port_max_kw: &[f64], now: DateTime<Utc>) -> StationSim {
        let stream = (index as u64 + 1) << 8;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(stream);
        let ports = port_max_kw
            .iter()
            .enumerate()
            .map(|(p, &max_kw)| {
                let mut port_rng = ChaCha8Rng::seed_from_u64(seed);
                port_rng.set_stream(stream + p as u64 + 1);
                let first_gap = port_rng.random_range(0..4 * 3600);
                PortSim {
                    number: PortNumber(p as u16 + 1),
                    max_kw,
                    rng: port_rng,
                    active: None,
                    history: VecDeque::new(),
                    next_arrival: now + Duration::seconds(first_gap),
                    next_session_seq: 1,
                    // Unique across the fleet: station index and port in the high digits.
                    session_id_base: ((index as i64 + 1) * 10 + p as i64 + 1) * 1_000_000,
                    shed: None,
                    unreachable_until: None,
                    last_contact: now,
                    load_kw: 0.0,
                }
            })
            .collect();
        StationSim {
            at: now,
            ports,
            shed: None,
            alarms: VecDeque::new(),
            rng,
        }
    }

    /// Takes every whole [`STEP`] that ends by `now`, and nothing else: a station caught up
    /// often and one caught up once end up in the same state. Earlier times change nothing.
    pub fn catch_up(&mut self, now: DateTime<Utc>) {
        while self.at + STEP <= now {
            let next = self.at + STEP;
            self.step(self.at, next);
            self.at = next;
        }
    }

    /// Whether the station is caught up to `now` (its next step ends after `now`).
    pub fn is_current(&self, now: DateTime<Utc>) -> bool {
        now < self.at + STEP
    }

    fn step(&mut self, from: DateTime<Utc>, to: DateTime<Utc>) {
        let dt = (to - from).num_milliseconds() as f64 / 1000.0;
        if self.shed.is_some_and(|s| s.lapsed(to)) {
            self.shed = None;
        }
        if self.rng.random_bool(chance(dt, ALARM_MEAN_SECS)) {
            self.raise_random_alarm(to);
        }
        let nports = self.ports.len();
        for p in 0..nports {
            let cap = self.cap_kw(p);
            let port = &mut self.ports[p];
            if let Some(alarm) = port.step(from, to, dt, cap) {
                push_alarm(&mut self.alarms, alarm);
            }
        }
    }

    fn raise_random_alarm(&mut self, now: DateTime<Utc>) {
        if self.rng.random_bool(0.5) {
            let p = self.rng.random_range(0..self.ports.len());
            // A ground fault stops the charge: the vehicle's session ends at once.
            self.ports[p].end_session(now);
            let number = self.ports[p].number;
            push_alarm(
                &mut self.alarms,
                AlarmRecord {
                    port: Some(number),
                    alarm_type: "GFCI Trip",
                    time: now,
                },
            );
        } else {
            push_alarm(
                &mut self.alarms,
                AlarmRecord {
                    port: None,
                    alarm_type: "Power Loss",
                    time: now,
                },
            );
        }
    }

    /// The cap a step puts on port `p`, kW: the tighter of its own shed and its share of the
    /// station's (a port shed lapsing at the step's end still caps that step).
    fn cap_kw(&self, p: usize) -> f64 {
        self.cap_under(p, self.ports[p].shed, self.shed)
    }

    /// The cap on port `p` under the port shed `own` and the station shed `station`, kW.
    fn cap_under(&self, p: usize, own: Option<Shed>, station: Option<Shed>) -> f64 {
        let port = &self.ports[p];
        let own = own.map(|s| limit_kw(s.limit, port.max_kw, 1));
        let station = station.map(|s| limit_kw(s.limit, port.max_kw, self.ports.len()));
        match (own, station) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => port.max_kw,
        }
    }

    /// getLoad's view of port `p` at `now`. A port-level shed is reported as asked; a
    /// station-level allowedLoad is reported as each port's even share of it; a shed lapsed by
    /// `now` is not reported, though the step it lapses in still ran under it. The load is
    /// held under the cap in force from the moment a shed is set: the charger obeys at once,
    /// the model's next step only decides how the vehicle draws under it.
    pub fn load_view(&self, p: usize, now: DateTime<Utc>) -> PortLoadView {
        let port = &self.ports[p];
        let in_force = |shed: Option<Shed>| shed.filter(|s| !s.lapsed(now));
        let (own, station) = (in_force(port.shed), in_force(self.shed));
        let shed = own
            .map(|s| (s.limit, 1))
            .or(station.map(|s| (s.limit, self.ports.len())));
        let (allowed_load, percent_shed) = match shed {
            Some((ShedLimit::AllowedLoad(kw), share)) => (kw / share as f64, 0),
            Some((ShedLimit::PercentShed(pct), _)) => (0.0, pct),
            None => (0.0, 0),
        };
        PortLoadView {
            shed_state: shed.is_some(),
            load_kw: port.load_kw.min(self.cap_under(p, own, station)),
            allowed_load,
            percent_shed,
        }
    }

    /// Clears the station's own shed and every port shed.
    pub fn clear_all_sheds(&mut self) {
        self.shed = None;
        for port in &mut self.ports {
            port.shed = None;
        }
    }

    /// The port numbered `number`, if the station has it.
    pub fn port_index(&self, number: PortNumber) -> Option<usize> {
        self.ports.iter().position(|p| p.number == number)
    }
}

impl PortSim {
    /// When the port last talked to ChargePoint, as seen at `now`: a reachable port is in
    /// touch all the time, an unreachable one since its last step before it went silent.
    pub fn contact_time(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        if self.unreachable_until.is_none() {
            now.max(self.last_contact)
        } else {
            self.last_contact
        }
    }

    /// One step; returns an alarm if reachability changed.
    fn step(
        &mut self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        dt: f64,
        cap_kw: f64,
    ) -> Option<AlarmRecord> {
        if self.shed.is_some_and(|s| s.lapsed(to)) {
            self.shed = None;
        }
        let mut alarm = None;
        match self.unreachable_until {
            Some(until) if to >= until => {
                self.unreachable_until = None;
                alarm = Some(self.alarm("Reachable", to));
            }
            Some(_) => {}
            None if self.rng.random_bool(chance(dt, UNREACHABLE_MEAN_SECS)) => {
                self.unreachable_until =
                    Some(to + Duration::seconds(self.rng.random_range(300..1800)));
                alarm = Some(self.alarm("Unreachable", to));
            }
            None => {}
        }
        if self.unreachable_until.is_none() {
            self.last_contact = to;
        }
        if self.active.is_none() && to >= self.next_arrival {
            self.start_session(to);
        }
        self.load_kw = 0.0;
        if let Some(session) = &mut self.active {
            let draw = draw_kw(session, from, cap_kw.min(self.max_kw));
            // The battery takes no more than it needs, even within one step.
            let room = (session.need_kwh - session.energy_kwh).max(0.0);
            session.energy_kwh += (draw * dt / 3600.0).min(room);
            self.load_kw = draw;
            if to >= session.departs {
                self.end_session(to);
            }
        }
        alarm
    }

    fn alarm(&self, alarm_type: &'static str, time: DateTime<Utc>) -> AlarmRecord {
        AlarmRecord {
            port: Some(self.number),
            alarm_type,
            time,
        }
    }

    fn start_session(&mut self, now: DateTime<Utc>) {
        const VEHICLE_KW: [f64; 4] = [3.3, 6.6, 7.2, 11.0];
        let session = Session {
            id: self.session_id_base + self.next_session_seq,
            port: self.number,
            start: now,
            end: None,
            energy_kwh: 0.0,
            user_id: format!("{}", self.rng.random_range(100_000..999_999)),
            credential_id: format!("CNCP{:010}", self.rng.random_range(0..10_000_000_000u64)),
            need_kwh: self.rng.random_range(4.0..30.0),
            vehicle_kw: VEHICLE_KW[self.rng.random_range(0..VEHICLE_KW.len())],
            departs: now + Duration::seconds(self.rng.random_range(3600..8 * 3600)),
        };
        self.next_session_seq += 1;
        self.active = Some(session);
    }

    /// Ends the running session, if any, and schedules the next arrival.
    fn end_session(&mut self, now: DateTime<Utc>) {
        if let Some(mut session) = self.active.take() {
            session.end = Some(now);
            if self.history.len() == MAX_SESSIONS_PER_PORT {
                self.history.pop_front();
            }
            self.history.push_back(session);
            self.load_kw = 0.0;
            self.next_arrival = now + Duration::seconds(self.rng.random_range(600..5 * 3600));
        }
    }
}

/// kW drawn by `session` at `now` under `cap_kw`: ramp up, taper past 80 %, stop when full.
fn draw_kw(session: &Session, now: DateTime<Utc>, cap_kw: f64) -> f64 {
    let full = session.vehicle_kw.min(cap_kw).max(0.0);
    let ramp = ((now - session.start).num_milliseconds() as f64 / RAMP.num_milliseconds() as f64)
        .clamp(0.0, 1.0);
    let remaining = session.need_kwh - session.energy_kwh;
    if remaining <= 0.0 {
        return 0.0;
    }
    let taper = (remaining / (0.2 * session.need_kwh)).clamp(0.1, 1.0);
    full * ramp.max(0.05) * taper
}

/// The cap a shed limit puts on one of `share` ports with nameplate `max_kw`.
fn limit_kw(limit: ShedLimit, max_kw: f64, share: usize) -> f64 {
    match limit {
        ShedLimit::AllowedLoad(kw) => kw / share.max(1) as f64,
        ShedLimit::PercentShed(pct) => max_kw * f64::from(100 - pct.min(100)) / 100.0,
    }
}

/// Probability that an event with mean interval `mean_secs` happens within `dt` seconds.
fn chance(dt: f64, mean_secs: f64) -> f64 {
    (dt / mean_secs).clamp(0.0, 1.0)
}

fn push_alarm(alarms: &mut VecDeque<AlarmRecord>, alarm: AlarmRecord) {
    if alarms.len() == MAX_ALARMS_PER_STATION {
        alarms.pop_front();
    }
    alarms.push_back(alarm);
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 6, 3, 0, 0, 0).unwrap()
    }

    /// Runs until some port is drawing power, at most a day.
    fn busy_station() -> (StationSim, DateTime<Utc>, usize) {
        let mut s = StationSim::new(7, 0, &[6.6, 6.6], t0());
        let mut t = t0();
        for _ in 0..24 * 60 {
            t += STEP;
            s.catch_up(t);
            if let Some(p) = s.ports.iter().position(|p| p.load_kw > 1.0) {
                return (s, t, p);
            }
        }
        panic!("no vehicle arrived within a day");
    }

    #[test]
    fn port_shed_caps_the_vehicle_draw_until_cleared() {
        let (mut s, t, p) = busy_station();
        s.ports[p].shed = Some(Shed::new(ShedLimit::AllowedLoad(1.5), t, 0));
        s.catch_up(t + Duration::minutes(2));
        let view = s.load_view(p, t + Duration::minutes(2));
        assert!(view.shed_state);
        assert_eq!(view.allowed_load, 1.5);
        assert!(view.load_kw <= 1.5 + 1e-9, "load {} over cap", view.load_kw);
        s.clear_all_sheds();
        assert!(!s.load_view(p, t + Duration::minutes(2)).shed_state);
    }

    #[test]
    fn a_station_allowed_load_is_divided_evenly_and_a_port_shed_shows_over_it() {
        let (mut s, t, p) = busy_station();
        s.shed = Some(Shed::new(ShedLimit::AllowedLoad(3.0), t, 0));
        s.catch_up(t + Duration::minutes(2));
        for q in 0..s.ports.len() {
            let view = s.load_view(q, t + Duration::minutes(2));
            assert!(view.shed_state, "port {q}");
            assert_eq!(view.allowed_load, 1.5, "port {q}");
        }
        assert!(s.load_view(p, t + Duration::minutes(2)).load_kw <= 1.5 + 1e-9);
        s.ports[p].shed = Some(Shed::new(ShedLimit::PercentShed(20), t, 0));
        let view = s.load_view(p, t + Duration::minutes(2));
        assert_eq!((view.allowed_load, view.percent_shed), (0.0, 20));
        s.clear_all_sheds();
        assert!((0..s.ports.len()).all(|q| !s.load_view(q, t + Duration::minutes(2)).shed_state));
    }

    #[test]
    fn shed_with_time_interval_lapses_by_itself() {
        let (mut s, t, p) = busy_station();
        s.shed = Some(Shed::new(ShedLimit::PercentShed(50), t, 5));
        s.catch_up(t + Duration::minutes(4));
        assert_eq!(s.load_view(p, t + Duration::minutes(4)).percent_shed, 50);
        s.catch_up(t + Duration::minutes(6));
        assert!(!s.load_view(p, t + Duration::minutes(6)).shed_state);
    }

    #[test]
    fn asked_often_or_once_a_station_ends_in_the_same_state() {
        let end = t0() + Duration::days(2) + Duration::seconds(17);
        let mut often = StationSim::new(5, 3, &[6.6, 6.6], t0());
        let mut t = t0();
        while t < end {
            // Uneven gaps, some within one step, some across several.
            t = (t + Duration::milliseconds(7_300 + (t.timestamp() % 5) * 40_000)).min(end);
            often.catch_up(t);
        }
        let mut once = StationSim::new(5, 3, &[6.6, 6.6], t0());
        once.catch_up(end);
        assert_eq!(often, once);
        assert!(once.ports.iter().any(|p| !p.history.is_empty()));
    }

    #[test]
    fn a_shed_caps_the_reported_load_at_once_and_lapses_between_steps() {
        let (mut s, t, p) = busy_station();
        assert!(s.load_view(p, t).load_kw > 1.0);
        // Set half-way through a step, for one minute: it lapses at t + 90 s.
        let set = t + Duration::seconds(30);
        s.catch_up(set);
        s.ports[p].shed = Some(Shed::new(ShedLimit::AllowedLoad(0.5), set, 1));
        assert_eq!(
            s.load_view(p, set).load_kw,
            0.5,
            "capped before the next step"
        );
        let before = t + Duration::seconds(89);
        s.catch_up(before);
        assert!(s.load_view(p, before).shed_state);
        assert!(s.load_view(p, before).load_kw <= 0.5);
        let after = t + Duration::seconds(91);
        s.catch_up(after);
        assert!(
            !s.load_view(p, after).shed_state,
            "gone before the step at t + 120 s"
        );
    }

    #[test]
    fn a_reachable_port_is_in_contact_until_now() {
        let mut s = StationSim::new(7, 0, &[6.6], t0());
        let now = t0() + Duration::seconds(90);
        s.catch_up(now);
        assert_eq!(s.ports[0].contact_time(now), now);
    }

    #[test]
    fn energy_accumulates_and_sessions_end_with_an_end_time() {
        let mut s = StationSim::new(3, 4, &[6.6], t0());
        s.catch_up(t0() + Duration::days(2));
        let finished = &s.ports[0].history;
        assert!(!finished.is_empty());
        for session in finished {
            let end = session.end.expect("finished sessions have an end");
            assert!(end > session.start);
            assert!(session.energy_kwh >= 0.0);
            assert!(session.energy_kwh <= session.need_kwh + 0.01);
        }
        assert!(finished.iter().any(|s| s.energy_kwh > 1.0));
    }
}
