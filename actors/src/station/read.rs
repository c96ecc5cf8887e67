//! Reads: get_point, get_multiple_points and scrape_all answered from the station's snapshot,
//! and the station's health and data ages. A point whose method is failing reads as that
//! failure, never as stale data.

use chrono::{DateTime, Utc};
use cp_registry::{Attribute, PointDef, PointMeta, PointValue, PortStatusWord};
use ractor::{ActorRef, RpcReplyPort};

use super::{StationMessage, StationState};
use crate::api::LoadScope;
use crate::api::ShedLimit;
use crate::device::{DeviceError, DeviceSummary, Liveness, PointReading, Publish, StationHealth};
use crate::error::FailureKind;
use crate::observe::DataAge;
use crate::tally::StationCounts;

impl StationState {
    /// The value of `point` for a publish or a read: `None` when its method is failing or has
    /// not answered.
    pub(super) fn value_of(&self, point: &PointDef) -> Option<PointValue> {
        if self.failures.contains_key(&point.method()) {
            return None;
        }
        point.read(&self.snapshot)
    }

    pub(super) fn on_scrape_all(
        &mut self,
        myself: &ActorRef<StationMessage>,
        reply: RpcReplyPort<Result<Publish, DeviceError>>,
    ) {
        let fresh = self
            .latest
            .as_ref()
            .filter(|l| l.instant.elapsed() < self.tick);
        if let Some(publish) = fresh.and_then(|_| self.latest_publish()) {
            // The caller may have given up waiting.
            let _ = reply.send(Ok(publish));
            return;
        }
        self.scrape_waiters.push(reply);
        if !self.scrape_pending {
            self.start_scrape(myself);
        }
    }

    pub(super) fn reading(&self, name: &str) -> Result<PointReading, DeviceError> {
        if self.is_heartbeat(name) {
            return self.heartbeat_reading(name);
        }
        let point = self.point(name)?;
        let method = point.method();
        if let Some(failure) = self.failures.get(&method) {
            return Err(DeviceError::PointUnavailable {
                device: self.path(),
                point: name.to_string(),
                method,
                kind: failure.kind,
                text: failure.text.clone(),
            });
        }
        let no_data = || DeviceError::NoData {
            device: self.path(),
            point: name.to_string(),
            method,
        };
        if let Some(refused) = self.snapshot.refused(point.attribute, point.port) {
            return Err(DeviceError::PointUnavailable {
                device: self.path(),
                point: name.to_string(),
                method,
                kind: FailureKind::ImpossibleValue,
                text: refused.reason.clone(),
            });
        }
        let value = point.read(&self.snapshot).ok_or_else(no_data)?;
        let timestamp = *self.fetched_at.get(&method).ok_or_else(no_data)?;
        Ok(PointReading {
            point: name.to_string(),
            value,
            timestamp,
            meta: point.meta(self.tz()),
            stored: self.stored_limit(point),
        })
    }

    /// The limit `point` holds as its port's (or the station's) intent when that intent is not
    /// the shed in force (see [`PointReading::stored`]).
    fn stored_limit(&self, point: &PointDef) -> Option<PointValue> {
        if !point.attribute.is_station_load_capable() {
            return None;
        }
        let scope = LoadScope::of(point.port);
        let registers = self.ports.get(&scope)?.registers();
        let intent = registers.intent?;
        if registers.believed_shed == Some(intent) {
            return None;
        }
        let value = match (point.attribute, intent) {
            (Attribute::AllowedLoad, ShedLimit::AllowedLoad(kw)) => PointValue::Float(kw),
            (Attribute::PercentShed, ShedLimit::PercentShed(pct)) => {
                PointValue::Int(i64::from(pct))
            }
            _ => return None,
        };
        Some(value.into_type(point.value_type))
    }

    /// Whether `name` is the device's heartbeat point (and not also a registry point, which
    /// would win).
    fn is_heartbeat(&self, name: &str) -> bool {
        self.device.heart_beat_point.as_deref() == Some(name)
            && self.device.registry.point(name).is_none()
    }

    /// The heartbeat as the latest publish carried it: it toggles at each publish, so it is
    /// as old as that publish.
    fn heartbeat_reading(&self, name: &str) -> Result<PointReading, DeviceError> {
        let timestamp = self.last_scrape.ok_or_else(|| DeviceError::Unavailable {
            device: self.path(),
            reason: format!("point {name}: no scrape has published the heartbeat yet"),
        })?;
        Ok(PointReading {
            point: name.to_string(),
            value: PointValue::Int(i64::from(self.heartbeat)),
            timestamp,
            meta: heartbeat_meta(self.tz()),
            stored: None,
        })
    }

    pub(super) fn on_get_points(
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

    pub(super) fn is_up(&self) -> bool {
        // A plan refusal is configuration, not an outage: the station still answers.
        self.latest.is_some() && self.failures.values().all(|f| f.kind.is_plan_rights())
    }

    fn liveness(&self) -> Liveness {
        let outage = || self.failures.values().any(|f| !f.kind.is_plan_rights());
        // Degraded: some method answers now (it has answered, and its latest call did not
        // fail), and the service still reports the station; an answer that leaves the station
        // out says the station itself is gone, whatever else answers.
        let degraded = || {
            let answering = self.fetched_at.keys().any(|m| {
                self.failures
                    .get(&m)
                    .is_none_or(|f| f.kind.is_plan_rights())
            });
            let reported = self
                .failures
                .values()
                .all(|f| f.kind != FailureKind::NotReported);
            answering && reported
        };
        match (self.latest.is_some(), self.is_up()) {
            (_, true) => Liveness::Up,
            (false, false) if !outage() => Liveness::Starting,
            (true, false) if degraded() => Liveness::Degraded,
            _ => Liveness::Down,
        }
    }

    pub(super) fn summary(&self) -> DeviceSummary {
        DeviceSummary {
            path: self.path(),
            station: self.station().clone(),
            account: self.device.account.clone(),
            ports: self
                .ports
                .keys()
                .filter_map(|scope| scope.port())
                .map(|p| p.0)
                .collect(),
            up: self.is_up(),
            state: self.liveness(),
            last_scrape: self.last_scrape,
        }
    }

    /// At `at`, the age of each called method's data against its period; a method that has not
    /// answered yet (refused, failing since start, or still on its way) has no age.
    pub(super) fn data_ages(&self, at: DateTime<Utc>) -> Vec<DataAge> {
        self.periods
            .iter()
            .filter_map(|&(method, period)| {
                let fetched = self.fetched_at.get(&method)?;
                Some(DataAge {
                    method,
                    age: (at - *fetched).to_std().unwrap_or_default(),
                    period,
                })
            })
            .collect()
    }

    /// Puts the station's numbers in the fleet's tally (see `tally.rs`): those of its health.
    pub(super) fn update_tally(&mut self) {
        let load_ports = self.snapshot.load.as_ref().map(|l| l.ports.as_slice());
        let counts = StationCounts {
            up: self.is_up(),
            starting: self.liveness() == Liveness::Starting,
            degraded: self.liveness() == Liveness::Degraded,
            ports_charging: self.ports_charging(),
            load_kw: load_ports.map_or(0.0, |ports| {
                ports.iter().fold(0.0, |kw, p| kw + p.port_load)
            }),
            sheds_active: load_ports
                .map_or(0, |ports| ports.iter().filter(|p| p.shed_state).count()),
            errors: self.failures.len(),
        };
        self.tally.set(counts);
    }

    fn ports_charging(&self) -> usize {
        self.snapshot.status.as_ref().map_or(0, |s| {
            s.ports
                .iter()
                .filter(|p| p.status == PortStatusWord::InUse)
                .count()
        })
    }

    pub(super) fn health(&self) -> StationHealth {
        let load_ports = self.snapshot.load.as_ref().map(|l| l.ports.as_slice());
        StationHealth {
            device: self.summary(),
            last_ok_scrape: self.last_ok_scrape,
            failures: self
                .failures
                .iter()
                .map(|(m, f)| (m.name().to_string(), (**f).clone()))
                .collect(),
            ports_charging: self.ports_charging(),
            load_kw: load_ports.map_or(0.0, |ports| {
                ports.iter().fold(0.0, |kw, p| kw + p.port_load)
            }),
            sheds_active: load_ports
                .map_or(0, |ports| ports.iter().filter(|p| p.shed_state).count()),
        }
    }
}

/// The heartbeat point's meta: an integer that toggles 0/1 at each publish.
pub(super) fn heartbeat_meta(tz: &str) -> PointMeta {
    PointMeta {
        value_type: "integer".into(),
        units: String::new(),
        tz: tz.to_string(),
    }
}
