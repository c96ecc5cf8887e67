//! clearAlarms: clears the alarms of a station, group or port; 153 means nothing to clear.

use cp_actors::ClearAlarmsQuery;
use cp_registry::{ApiMethod, GroupId, StationId};

use super::wire::{opt_port, query_children, request_body, response_body, OutcomeReader};
use super::{Outcome, Request, Response};
use crate::soap::xml::{Element, XmlError, XmlIn, XmlOut};

const METHOD: ApiMethod = ApiMethod::ClearAlarms;

pub(crate) fn write_request(out: &mut XmlOut, query: &ClearAlarmsQuery) {
    request_body(out, METHOD, |out| {
        out.element("searchQuery", |out| {
            out.leaf_opt(
                "stationID",
                query.station_id.as_ref().map(StationId::as_str),
            )
            .leaf_num_opt("sgID", query.group_id.map(|g| g.0))
            .leaf_num_opt("portNumber", query.port)
            .leaf_opt("alarmType", query.alarm_type.as_deref())
            .leaf_opt("clearReason", query.clear_reason.as_deref());
        });
    });
}

pub(crate) fn read_request<'a>(xin: &mut XmlIn<'a>, op: &Element<'a>) -> Result<Request, XmlError> {
    let mut query = ClearAlarmsQuery::default();
    query_children(xin, op, "searchQuery", |xin, el| {
        match el.local() {
            "stationID" => query.station_id = xin.opt_string(&el)?.map(StationId),
            "sgID" => query.group_id = xin.opt_parse::<i32>(&el)?.map(GroupId),
            "portNumber" => query.port = opt_port(xin, &el)?,
            "alarmType" => query.alarm_type = xin.opt_string(&el)?,
            "clearReason" => query.clear_reason = xin.opt_string(&el)?,
            _ => xin.skip(&el)?,
        }
        Ok(())
    })?;
    Ok(Request::ClearAlarms(query))
}

pub(crate) fn write_response(out: &mut XmlOut, outcome: &Outcome) {
    response_body(out, METHOD, outcome, |_| {});
}

pub(crate) fn read_response<'a>(
    xin: &mut XmlIn<'a>,
    op: &Element<'a>,
) -> Result<Response, XmlError> {
    let mut outcome = OutcomeReader::default();
    xin.children(op, |xin, el| outcome.read_or_skip(xin, &el))?;
    Ok(Response::ClearAlarms {
        outcome: outcome.finish(METHOD)?,
    })
}
