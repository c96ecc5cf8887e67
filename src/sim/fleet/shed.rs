//! shedLoad and clearShedState as the simulator answers them: which stations and ports a
//! shed reaches, and the refusals ChargePoint would send for one it cannot carry out.

use cp_actors::{
    ClearShedAck, ClearShedRequest, LimitError, ShedAck, ShedLimit, ShedRequest, ShedScope,
};

use super::{invalid, no_group, no_station, success, Refusal, SimFleet};
use crate::sim::station::Shed;
use crate::soap::ops::Response;

impl SimFleet {
    pub(super) fn shed(&mut self, a: usize, request: &ShedRequest) -> Result<Response, Refusal> {
        if let Some(limit) = request.station_limit {
            check_limit(limit)?;
        }
        for port in &request.ports {
            check_limit(port.limit)?;
        }
        let now = self.now;
        let minutes = request.time_interval_minutes;
        let ack = match &request.scope {
            ShedScope::Group(g) => {
                let limit = request.station_limit.ok_or_else(|| {
                    invalid("a group shed needs allowedLoadPerStation or percentShedPerStation")
                })?;
                if !request.ports.is_empty() {
                    return Err(invalid("a group shed cannot name ports"));
                }
                let gi = self.layout.group_of(a, *g).ok_or_else(|| no_group(*g))?;
                for &s in &self.layout.groups[gi].stations {
                    // Caught up first: the steps before now ran without this shed.
                    self.stations[s].catch_up(now);
                    self.stations[s].shed = Some(Shed::new(limit, now, minutes));
                }
                ShedAck {
                    success: true,
                    group_id: Some(*g),
                    station_id: None,
                    station_limit: Some(limit),
                    ports: Vec::new(),
                }
            }
            ShedScope::Station(id) => {
                let s = self.layout.station_of(a, id).ok_or_else(no_station)?;
                // Caught up first: the steps before now ran without this shed.
                self.sync(s);
                if request.station_limit.is_none() && request.ports.is_empty() {
                    return Err(invalid(
                        "shedStation needs a station limit or at least one Port limit",
                    ));
                }
                let indexes = request
                    .ports
                    .iter()
                    .map(|p| {
                        self.stations[s]
                            .port_index(p.port)
                            .ok_or_else(|| invalid(&format!("station {id} has no port {}", p.port)))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let station = &mut self.stations[s];
                if let Some(limit) = request.station_limit {
                    station.shed = Some(Shed::new(limit, now, minutes));
                }
                for (i, p) in indexes.into_iter().zip(&request.ports) {
                    station.ports[i].shed = Some(Shed::new(p.limit, now, minutes));
                }
                ShedAck {
                    success: true,
                    group_id: None,
                    station_id: Some(id.clone()),
                    station_limit: request.station_limit,
                    ports: request.ports.clone(),
                }
            }
        };
        Ok(Response::ShedLoad {
            outcome: success(),
            ack,
        })
    }

    pub(super) fn clear_shed(
        &mut self,
        a: usize,
        request: &ClearShedRequest,
    ) -> Result<Response, Refusal> {
        let now = self.now;
        let ack = match &request.scope {
            ShedScope::Group(g) => {
                let gi = self.layout.group_of(a, *g).ok_or_else(|| no_group(*g))?;
                for &s in &self.layout.groups[gi].stations {
                    // Caught up first: the steps before now ran with the shed.
                    self.stations[s].catch_up(now);
                    self.stations[s].clear_all_sheds();
                }
                ClearShedAck {
                    success: true,
                    group_id: Some(*g),
                    station_id: None,
                }
            }
            ShedScope::Station(id) => {
                let s = self.layout.station_of(a, id).ok_or_else(no_station)?;
                // Caught up first: the steps before now ran with the shed.
                self.sync(s);
                let station = &mut self.stations[s];
                if request.ports.is_empty() {
                    station.clear_all_sheds();
                } else {
                    for port in &request.ports {
                        let i = station
                            .port_index(*port)
                            .ok_or_else(|| invalid(&format!("station {id} has no port {port}")))?;
                        station.ports[i].shed = None;
                    }
                }
                ClearShedAck {
                    success: true,
                    group_id: None,
                    station_id: Some(id.clone()),
                }
            }
        };
        Ok(Response::ClearShedState {
            outcome: success(),
            ack,
        })
    }
}

/// The range is [`ShedLimit::checked`]'s; the wording is the simulator's own responseText.
fn check_limit(limit: ShedLimit) -> Result<(), Refusal> {
    match limit.checked() {
        Ok(_) => Ok(()),
        Err(LimitError::AllowedLoad { kw }) => Err(invalid(&format!(
            "allowedLoad must be a number >= 0, got {kw}"
        ))),
        Err(LimitError::PercentShed { pct }) => {
            Err(invalid(&format!("percentShed must be 0..100, got {pct}")))
        }
    }
}
