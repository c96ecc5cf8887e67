//! clearShedState: lifts the shed of a station group, a station, or some of its ports.

use cp_actors::{ClearShedAck, ClearShedRequest, ShedScope};
use cp_registry::{ApiMethod, GroupId, StationId};

use super::wire::{
    one_scope, opt_port, query_children, read_shed_target, request_body, required, response_body,
    OutcomeReader,
};
use super::{Outcome, Request, Response};
use crate::soap::xml::{Element, XmlError, XmlIn, XmlOut};

const METHOD: ApiMethod = ApiMethod::ClearShedState;

/// Checks a clear before it is sent: ports can only be named for a station.
///
/// # Errors
/// A sentence saying what is wrong.
pub fn check_clear(request: &ClearShedRequest) -> Result<(), String> {
    if matches!(request.scope, ShedScope::Group(_)) && !request.ports.is_empty() {
        return Err("ports can be cleared only on a station, not a station group".into());
    }
    Ok(())
}

pub(crate) fn write_request(out: &mut XmlOut, request: &ClearShedRequest) {
    request_body(out, METHOD, |out| {
        out.element("shedQuery", |out| match &request.scope {
            ShedScope::Group(group) => {
                out.element("shedGroup", |out| {
                    out.leaf_num("sgID", group.0);
                });
            }
            ShedScope::Station(id) => {
                out.element("shedStation", |out| {
                    out.leaf("stationID", id.as_str());
                    // portsDataBlock needs at least one Port: none means the whole station.
                    if !request.ports.is_empty() {
                        out.element("Ports", |out| {
                            for port in &request.ports {
                                out.element("Port", |out| {
                                    out.leaf_num("portNumber", port);
                                });
                            }
                        });
                    }
                });
            }
        });
    });
}

pub(crate) fn read_request<'a>(xin: &mut XmlIn<'a>, op: &Element<'a>) -> Result<Request, XmlError> {
    let mut scopes = Vec::with_capacity(1);
    let mut ports = Vec::new();
    query_children(xin, op, "shedQuery", |xin, el| {
        let target = read_shed_target(xin, &el, |xin, el| match el.local() {
            "Ports" => xin.children(&el, |xin, el| {
                if el.local() != "Port" {
                    return xin.skip(&el);
                }
                let mut port = None;
                xin.children(&el, |xin, el| {
                    match el.local() {
                        "portNumber" => port = opt_port(xin, &el)?,
                        _ => xin.skip(&el)?,
                    }
                    Ok(())
                })?;
                ports.push(required(port, "portNumber", "Port")?);
                Ok(())
            }),
            _ => xin.skip(&el),
        })?;
        match target {
            Some(scope) => scopes.push(scope),
            None => xin.skip(&el)?,
        }
        Ok(())
    })?;
    let scope = one_scope(scopes)?;
    Ok(Request::ClearShedState(ClearShedRequest { scope, ports }))
}

pub(crate) fn write_response(out: &mut XmlOut, outcome: &Outcome, ack: &ClearShedAck) {
    response_body(out, METHOD, outcome, |out| {
        out.leaf_num("Success", u8::from(ack.success))
            .leaf_num_opt("sgID", ack.group_id.map(|g| g.0))
            .leaf_opt("stationID", ack.station_id.as_ref().map(StationId::as_str));
    });
}

pub(crate) fn read_response<'a>(
    xin: &mut XmlIn<'a>,
    op: &Element<'a>,
) -> Result<Response, XmlError> {
    let mut outcome = OutcomeReader::default();
    let mut ack = ClearShedAck::default();
    xin.children(op, |xin, el| {
        match el.local() {
            "Success" => ack.success = xin.flag(&el)?,
            "sgID" => ack.group_id = xin.opt_parse::<i32>(&el)?.map(GroupId),
            "stationID" => ack.station_id = xin.opt_string(&el)?.map(StationId),
            _ => outcome.read_or_skip(xin, &el)?,
        }
        Ok(())
    })?;
    Ok(Response::ClearShedState {
        outcome: outcome.finish(METHOD)?,
        ack,
    })
}
