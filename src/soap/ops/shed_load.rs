//! shedLoad: caps the load of a station group, a station, or some of a station's ports, for
//! `timeInterval` minutes (0: until cleared).
//!
//! The request reader serves the simulator and accepts what existing 5.0 clients send:
//! `timeInterval` empty (`<timeInterval/>`, as in ChargePoint's own sample) or absent reads as 0,
//! the `xsd:all` children may come in any order, and any namespace prefix is fine.

use std::collections::HashSet;

use cp_actors::{PortShed, ShedAck, ShedLimit, ShedRequest, ShedScope};
use cp_registry::{ApiMethod, GroupId, StationId};

use super::wire::{
    one_scope, opt_port, query_children, read_shed_target, request_body, required, response_body,
    OutcomeReader,
};
use super::{Outcome, Request, Response};
use crate::soap::xml::{Element, XmlError, XmlIn, XmlOut};

const METHOD: ApiMethod = ApiMethod::ShedLoad;

/// Checks that a shed is one ChargePoint can carry out: some limit, every limit in range,
/// per-port limits only for a station, each port once. The client runs it before sending, the
/// request reader after reading.
///
/// # Errors
/// A sentence saying what is wrong.
pub fn check_shed(request: &ShedRequest) -> Result<(), String> {
    if matches!(request.scope, ShedScope::Group(_)) && !request.ports.is_empty() {
        return Err("per-port limits need a station, not a station group".into());
    }
    if request.station_limit.is_none() && request.ports.is_empty() {
        return Err(
            "a shed needs a limit: allowedLoad or percentShed, for the station or for a port"
                .into(),
        );
    }
    let limits = request
        .station_limit
        .iter()
        .chain(request.ports.iter().map(|p| &p.limit));
    for limit in limits {
        limit.checked().map_err(|e| e.to_string())?;
    }
    let mut seen = HashSet::new();
    for port in &request.ports {
        if !seen.insert(port.port) {
            return Err(format!("port {} is listed twice", port.port));
        }
    }
    if i32::try_from(request.time_interval_minutes).is_err() {
        return Err(format!(
            "timeInterval {} minutes is more than an xsd:int holds",
            request.time_interval_minutes
        ));
    }
    Ok(())
}

pub(crate) fn write_request(out: &mut XmlOut, request: &ShedRequest) {
    request_body(out, METHOD, |out| {
        out.element("shedQuery", |out| {
            match &request.scope {
                ShedScope::Group(group) => {
                    out.element("shedGroup", |out| {
                        out.leaf_num("sgID", group.0);
                        write_limit(out, request.station_limit.as_ref(), Per::Station);
                    });
                }
                ShedScope::Station(id) => {
                    out.element("shedStation", |out| {
                        out.leaf("stationID", id.as_str());
                        write_limit(out, request.station_limit.as_ref(), Per::Station);
                        write_ports(out, &request.ports);
                    });
                }
            }
            out.leaf_num("timeInterval", request.time_interval_minutes);
        });
    });
}

#[derive(Clone, Copy)]
enum Per {
    Station,
    Port,
}

/// `allowedLoadPer…` or `percentShedPer…`: ChargePoint takes exactly one.
fn write_limit(out: &mut XmlOut, limit: Option<&ShedLimit>, per: Per) {
    let (allowed, percent) = match per {
        Per::Station => ("allowedLoadPerStation", "percentShedPerStation"),
        Per::Port => ("allowedLoadPerPort", "percentShedPerPort"),
    };
    match limit {
        Some(ShedLimit::AllowedLoad(kw)) => {
            out.leaf_decimal_opt(allowed, Some(*kw));
        }
        Some(ShedLimit::PercentShed(pct)) => {
            out.leaf_num(percent, pct);
        }
        None => {}
    }
}

fn write_ports(out: &mut XmlOut, ports: &[PortShed]) {
    // The Ports block needs at least one Port.
    if ports.is_empty() {
        return;
    }
    out.element("Ports", |out| {
        for port in ports {
            out.element("Port", |out| {
                out.leaf_num("portNumber", port.port);
                write_limit(out, Some(&port.limit), Per::Port);
            });
        }
    });
}

/// Gathers `allowedLoadPer…`/`percentShedPer…` while a reader walks its children.
#[derive(Default)]
struct LimitReader {
    allowed: Option<f64>,
    percent: Option<i64>,
}

impl LimitReader {
    /// Reads `el` if it is a limit element; false if it is something else (still unread).
    fn read<'a>(&mut self, xin: &mut XmlIn<'a>, el: &Element<'a>) -> Result<bool, XmlError> {
        match el.local() {
            "allowedLoadPerStation" | "allowedLoadPerPort" => self.allowed = xin.opt_double(el)?,
            "percentShedPerStation" | "percentShedPerPort" => self.percent = xin.opt_parse(el)?,
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn finish(self, what: &str) -> Result<Option<ShedLimit>, XmlError> {
        match (self.allowed, self.percent) {
            (None, None) => Ok(None),
            (Some(kw), None) => Ok(Some(ShedLimit::AllowedLoad(kw))),
            (None, Some(pct)) => ShedLimit::percent_shed(pct)
                .map(Some)
                .map_err(|e| XmlError::content(format!("{what}: {e}"))),
            (Some(_), Some(_)) => Err(XmlError::content(format!(
                "{what}: give allowedLoad or percentShed, not both"
            ))),
        }
    }
}

/// One `Port` of a shed: its number and its limit.
fn read_port<'a>(xin: &mut XmlIn<'a>, el: &Element<'a>) -> Result<PortShed, XmlError> {
    let mut port = None;
    let mut limit = LimitReader::default();
    xin.children(el, |xin, el| {
        if !limit.read(xin, &el)? {
            match el.local() {
                "portNumber" => port = opt_port(xin, &el)?,
                _ => xin.skip(&el)?,
            }
        }
        Ok(())
    })?;
    let port = required(port, "portNumber", "Port")?;
    match limit.finish(&format!("port {port}"))? {
        Some(limit) => Ok(PortShed { port, limit }),
        None => Err(XmlError::content(format!(
            "port {port}: no allowedLoadPerPort or percentShedPerPort"
        ))),
    }
}

fn read_ports<'a>(xin: &mut XmlIn<'a>, el: &Element<'a>) -> Result<Vec<PortShed>, XmlError> {
    let mut ports = Vec::new();
    xin.children(el, |xin, el| {
        if el.local() == "Port" {
            ports.push(read_port(xin, &el)?);
            Ok(())
        } else {
            xin.skip(&el)
        }
    })?;
    Ok(ports)
}

pub(crate) fn read_request<'a>(xin: &mut XmlIn<'a>, op: &Element<'a>) -> Result<Request, XmlError> {
    let mut scopes = Vec::with_capacity(1);
    let mut station_limit = None;
    let mut ports = Vec::new();
    let mut time_interval = 0u32;
    query_children(xin, op, "shedQuery", |xin, el| {
        if el.local() == "timeInterval" {
            // Empty or absent means 0, "until cleared": the spec's sample sends <timeInterval/>.
            time_interval = xin.opt_parse(&el)?.unwrap_or(0);
            return Ok(());
        }
        // Ports are named only for a station.
        let station = el.local() == "shedStation";
        let mut limit = LimitReader::default();
        let target = read_shed_target(xin, &el, |xin, el| {
            if !limit.read(xin, &el)? {
                match el.local() {
                    "Ports" if station => ports = read_ports(xin, &el)?,
                    _ => xin.skip(&el)?,
                }
            }
            Ok(())
        })?;
        match target {
            Some(scope) => {
                scopes.push(scope);
                station_limit = limit.finish(el.local())?;
            }
            None => xin.skip(&el)?,
        }
        Ok(())
    })?;
    let scope = one_scope(scopes)?;
    let request = ShedRequest {
        scope,
        station_limit,
        ports,
        time_interval_minutes: time_interval,
    };
    check_shed(&request).map_err(XmlError::Content)?;
    Ok(Request::ShedLoad(request))
}

pub(crate) fn write_response(out: &mut XmlOut, outcome: &Outcome, ack: &ShedAck) {
    response_body(out, METHOD, outcome, |out| {
        out.leaf_num("Success", u8::from(ack.success))
            .leaf_num_opt("sgID", ack.group_id.map(|g| g.0))
            .leaf_opt("stationID", ack.station_id.as_ref().map(StationId::as_str));
        write_limit(out, ack.station_limit.as_ref(), Per::Station);
        write_ports(out, &ack.ports);
    });
}

pub(crate) fn read_response<'a>(
    xin: &mut XmlIn<'a>,
    op: &Element<'a>,
) -> Result<Response, XmlError> {
    let mut outcome = OutcomeReader::default();
    let mut ack = ShedAck::default();
    let mut limit = LimitReader::default();
    xin.children(op, |xin, el| {
        if limit.read(xin, &el)? {
            return Ok(());
        }
        match el.local() {
            "Success" => ack.success = xin.flag(&el)?,
            "sgID" => ack.group_id = xin.opt_parse::<i32>(&el)?.map(GroupId),
            "stationID" => ack.station_id = xin.opt_string(&el)?.map(StationId),
            "Ports" => ack.ports = read_ports(xin, &el)?,
            _ => outcome.read_or_skip(xin, &el)?,
        }
        Ok(())
    })?;
    ack.station_limit = limit.finish("shedLoadResponse")?;
    Ok(Response::ShedLoad {
        outcome: outcome.finish(METHOD)?,
        ack,
    })
}
