//! getStationStatus: port status for a list of stations (`stationIDs`), paged with
//! `startRecord`/`numStations` and `moreFlag`.

use cp_actors::StatusQuery;
use cp_registry::{ApiMethod, PortStatus, PortStatusWord, StationId, StationStatus};

use super::wire::{opt_port, query_children, read_page, request_body, required, response_body};
use super::{Outcome, Request, Response};
use crate::soap::xml::{Element, XmlError, XmlIn, XmlOut};

const METHOD: ApiMethod = ApiMethod::GetStationStatus;

pub(crate) fn write_request(
    out: &mut XmlOut,
    query: &StatusQuery,
    start_record: Option<i32>,
    num_stations: Option<i32>,
) {
    request_body(out, METHOD, |out| {
        out.element("searchQuery", |out| {
            // stationIdList needs at least one stationID: an empty list is no element at all.
            if !query.station_ids.is_empty() {
                out.element("stationIDs", |out| {
                    for id in &query.station_ids {
                        out.leaf("stationID", id.as_str());
                    }
                });
            }
            out.leaf_num_opt("startRecord", start_record)
                .leaf_num_opt("numStations", num_stations);
        });
    });
}

pub(crate) fn read_request<'a>(xin: &mut XmlIn<'a>, op: &Element<'a>) -> Result<Request, XmlError> {
    let mut query = StatusQuery::default();
    let mut start_record = None;
    let mut num_stations = None;
    query_children(xin, op, "searchQuery", |xin, el| {
        match el.local() {
            "stationID" => query
                .station_ids
                .extend(xin.opt_string(&el)?.map(StationId)),
            "stationIDs" => xin.children(&el, |xin, el| {
                if el.local() == "stationID" {
                    query
                        .station_ids
                        .extend(xin.opt_string(&el)?.map(StationId));
                    Ok(())
                } else {
                    xin.skip(&el)
                }
            })?,
            "startRecord" => start_record = xin.opt_parse(&el)?,
            "numStations" => num_stations = xin.opt_parse(&el)?,
            _ => xin.skip(&el)?,
        }
        Ok(())
    })?;
    Ok(Request::GetStationStatus {
        query,
        start_record,
        num_stations,
    })
}

pub(crate) fn write_response(
    out: &mut XmlOut,
    outcome: &Outcome,
    stations: &[StationStatus],
    more: bool,
) {
    response_body(out, METHOD, outcome, |out| {
        // oStatusdata needs at least one Port: a station without ports has nothing to report.
        for station in stations.iter().filter(|s| !s.ports.is_empty()) {
            out.element("stationData", |out| {
                out.leaf("stationID", station.station_id.as_str());
                for port in &station.ports {
                    out.element("Port", |out| {
                        out.leaf_num("portNumber", port.port)
                            .leaf("Status", port.status.as_str())
                            .leaf_time_opt("TimeStamp", Some(&port.timestamp))
                            .leaf_opt("Connector", port.connector.as_deref())
                            .leaf_opt("Power", port.power.as_deref());
                    });
                }
            });
        }
        out.leaf_num("moreFlag", u8::from(more));
    });
}

pub(crate) fn read_response<'a>(
    xin: &mut XmlIn<'a>,
    op: &Element<'a>,
) -> Result<Response, XmlError> {
    let page = read_page(xin, op, METHOD, "stationData", |xin, el, entries| {
        entries.push(read_station(xin, el)?);
        Ok(())
    })?;
    Ok(Response::GetStationStatus {
        outcome: page.outcome,
        stations: page.entries,
        more: page.more,
    })
}

fn read_station<'a>(xin: &mut XmlIn<'a>, el: &Element<'a>) -> Result<StationStatus, XmlError> {
    let mut station_id = None;
    let mut ports = Vec::with_capacity(2);
    xin.children(el, |xin, el| {
        match el.local() {
            "stationID" => station_id = xin.opt_string(&el)?,
            "Port" => ports.push(read_port(xin, &el)?),
            _ => xin.skip(&el)?,
        }
        Ok(())
    })?;
    Ok(StationStatus {
        station_id: StationId(required(station_id, "stationID", "stationData")?),
        ports,
    })
}

fn read_port<'a>(xin: &mut XmlIn<'a>, el: &Element<'a>) -> Result<PortStatus, XmlError> {
    let mut port = None;
    let mut status = None;
    let mut timestamp = None;
    let mut connector = None;
    let mut power = None;
    xin.children(el, |xin, el| {
        match el.local() {
            "portNumber" => port = opt_port(xin, &el)?,
            "Status" => {
                let text = xin.text(&el)?;
                status = (!text.is_empty()).then(|| PortStatusWord::parse(&text));
            }
            "TimeStamp" => timestamp = xin.opt_time(&el)?,
            "Connector" => connector = xin.opt_string(&el)?,
            "Power" => power = xin.opt_string(&el)?,
            _ => xin.skip(&el)?,
        }
        Ok(())
    })?;
    Ok(PortStatus {
        port: required(port, "portNumber", "Port")?,
        status: required(status, "Status", "Port")?,
        timestamp: required(timestamp, "TimeStamp", "Port")?,
        connector,
        power,
    })
}
