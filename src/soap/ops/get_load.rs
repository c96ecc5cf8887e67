//! getLoad: present load and shed state of a station group (`sgID`) or one station.

use cp_actors::LoadQuery;
use cp_registry::{ApiMethod, GroupId, LoadReport, PortLoad, RefusedValue, StationId, StationLoad};

use super::wire::{
    opt_port, physical, query_children, request_body, required, response_body, OutcomeReader,
    PERCENT, PORT_POWER, STATION_POWER,
};
use super::{Outcome, Request, Response};
use crate::soap::xml::{Element, XmlError, XmlIn, XmlOut};

const METHOD: ApiMethod = ApiMethod::GetLoad;

pub(crate) fn write_request(out: &mut XmlOut, query: &LoadQuery) {
    request_body(out, METHOD, |out| {
        out.element("searchQuery", |out| match query {
            LoadQuery::Group(group) => {
                out.leaf_num("sgID", group.0);
            }
            LoadQuery::Station(id) => {
                out.leaf("stationID", id.as_str());
            }
        });
    });
}

pub(crate) fn read_request<'a>(xin: &mut XmlIn<'a>, op: &Element<'a>) -> Result<Request, XmlError> {
    let mut group = None;
    let mut station = None;
    query_children(xin, op, "searchQuery", |xin, el| {
        match el.local() {
            "sgID" => group = xin.opt_parse::<i32>(&el)?.map(GroupId),
            "stationID" => station = xin.opt_string(&el)?.map(StationId),
            _ => xin.skip(&el)?,
        }
        Ok(())
    })?;
    match (group, station) {
        (Some(group), None) => Ok(Request::GetLoad(LoadQuery::Group(group))),
        (None, Some(station)) => Ok(Request::GetLoad(LoadQuery::Station(station))),
        _ => Err(XmlError::content(
            "getLoad needs exactly one of sgID and stationID",
        )),
    }
}

pub(crate) fn write_response(out: &mut XmlOut, outcome: &Outcome, report: &LoadReport) {
    response_body(out, METHOD, outcome, |out| {
        out.leaf_num_opt("sgID", report.group_id.map(|g| g.0))
            .leaf_num_opt("numStations", report.num_stations)
            .leaf_opt("groupName", report.group_name.as_deref())
            .leaf_opt("sgLoad", report.group_load.as_deref());
        for station in &report.stations {
            out.element("stationData", |out| {
                out.leaf("stationID", station.station_id.as_str())
                    .leaf_opt("stationName", station.station_name.as_deref())
                    .leaf_opt("Address", station.address.as_deref())
                    .leaf_decimal_opt("stationLoad", station.station_load);
                for port in &station.ports {
                    out.element("Port", |out| {
                        out.leaf_num("portNumber", port.port)
                            .leaf_opt("userID", port.user_id.as_deref())
                            .leaf_opt("credentialID", port.credential_id.as_deref())
                            .leaf_num("shedState", u8::from(port.shed_state))
                            .leaf_decimal_opt("portLoad", Some(port.port_load))
                            .leaf_decimal_opt("allowedLoad", Some(port.allowed_load))
                            .leaf_num("percentShed", port.percent_shed);
                    });
                }
            });
        }
    });
}

pub(crate) fn read_response<'a>(
    xin: &mut XmlIn<'a>,
    op: &Element<'a>,
) -> Result<Response, XmlError> {
    let mut outcome = OutcomeReader::default();
    let mut report = LoadReport::default();
    xin.children(op, |xin, el| {
        match el.local() {
            "sgID" => report.group_id = xin.opt_parse::<i32>(&el)?.map(GroupId),
            "numStations" => report.num_stations = xin.opt_parse(&el)?,
            "groupName" => report.group_name = xin.opt_string(&el)?,
            "sgLoad" => report.group_load = xin.opt_string(&el)?,
            "stationData" => report.stations.push(read_station(xin, &el)?),
            _ => outcome.read_or_skip(xin, &el)?,
        }
        Ok(())
    })?;
    Ok(Response::GetLoad {
        outcome: outcome.finish(METHOD)?,
        report,
    })
}

fn read_station<'a>(xin: &mut XmlIn<'a>, el: &Element<'a>) -> Result<StationLoad, XmlError> {
    let mut station_id = None;
    let mut station_name = None;
    let mut address = None;
    let mut station_load = None;
    let mut ports = Vec::new();
    let mut refused = Vec::new();
    xin.children(el, |xin, el| {
        match el.local() {
            "stationID" => station_id = xin.opt_string(&el)?,
            "stationName" => station_name = xin.opt_string(&el)?,
            "Address" => address = xin.opt_string(&el)?,
            "stationLoad" => {
                let kw = xin.opt_double(&el)?;
                station_load = physical(kw, "stationLoad", STATION_POWER, &mut refused);
            }
            "Port" => ports.push(read_port(xin, &el, &mut refused)?),
            _ => xin.skip(&el)?,
        }
        Ok(())
    })?;
    // Held until the next getLoad, by the gateway and the station: no spare room.
    ports.shrink_to_fit();
    Ok(StationLoad {
        station_id: StationId(required(station_id, "stationID", "stationData")?),
        station_name,
        address,
        station_load,
        ports,
        refused,
    })
}

/// A port's load. Absent numbers read as 0: ChargePoint writes `0.000` for "no load, no limit".
/// Impossible ones go on `refused`, with the port.
fn read_port<'a>(
    xin: &mut XmlIn<'a>,
    el: &Element<'a>,
    refused: &mut Vec<RefusedValue>,
) -> Result<PortLoad, XmlError> {
    let mut refusals = Vec::new();
    let mut port = None;
    let mut load = PortLoad {
        port: cp_registry::PortNumber(0),
        user_id: None,
        credential_id: None,
        shed_state: false,
        port_load: 0.0,
        allowed_load: 0.0,
        percent_shed: 0,
    };
    xin.children(el, |xin, el| {
        match el.local() {
            "portNumber" => port = opt_port(xin, &el)?,
            "userID" => load.user_id = xin.opt_string(&el)?,
            "credentialID" => load.credential_id = xin.opt_string(&el)?,
            "shedState" => load.shed_state = xin.flag(&el)?,
            "portLoad" => {
                let kw = physical(xin.opt_double(&el)?, "portLoad", PORT_POWER, &mut refusals);
                load.port_load = kw.unwrap_or(0.0);
            }
            "allowedLoad" => {
                let kw = xin.opt_double(&el)?;
                let kw = physical(kw, "allowedLoad", PORT_POWER, &mut refusals);
                load.allowed_load = kw.unwrap_or(0.0);
            }
            "percentShed" => {
                let pct = xin.opt_parse::<i64>(&el)?.map(|p| p as f64);
                let pct = physical(pct, "percentShed", PERCENT, &mut refusals);
                // In 0..=100, so it fits.
                load.percent_shed = pct.map_or(0, |p| p as u8);
            }
            _ => xin.skip(&el)?,
        }
        Ok(())
    })?;
    load.port = required(port, "portNumber", "Port")?;
    refused.extend(refusals.into_iter().map(|r| RefusedValue {
        port: Some(load.port),
        ..r
    }));
    Ok(load)
}
