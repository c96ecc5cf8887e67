//! getChargingSessionData: charging sessions by station, session or time window; at most 100
//! a page, paged with `startRecord` and `MoreFlag` (capital M); 136 means no sessions.

use cp_actors::SessionQuery;
use cp_registry::{ApiMethod, ChargingSession, StationId};

use super::wire::{
    opt_port, physical, query_children, read_page, request_body, required, response_body,
    SESSION_ENERGY,
};
use super::{Outcome, Request, Response};
use crate::soap::xml::{Element, XmlError, XmlIn, XmlOut};

const METHOD: ApiMethod = ApiMethod::GetChargingSessionData;

pub(crate) fn write_request(out: &mut XmlOut, query: &SessionQuery, start_record: Option<i64>) {
    request_body(out, METHOD, |out| {
        out.element("searchQuery", |out| {
            out.leaf_opt(
                "stationID",
                query.station_id.as_ref().map(StationId::as_str),
            )
            .leaf_num_opt("sessionID", query.session_id)
            .leaf_time_opt("fromTimeStamp", query.from.as_ref())
            .leaf_time_opt("toTimeStamp", query.to.as_ref())
            .leaf_num_opt("startRecord", start_record);
        });
    });
}

pub(crate) fn read_request<'a>(xin: &mut XmlIn<'a>, op: &Element<'a>) -> Result<Request, XmlError> {
    let mut query = SessionQuery::default();
    let mut start_record = None;
    query_children(xin, op, "searchQuery", |xin, el| {
        match el.local() {
            "stationID" => query.station_id = xin.opt_string(&el)?.map(StationId),
            "sessionID" => query.session_id = xin.opt_parse(&el)?,
            "fromTimeStamp" => query.from = xin.opt_time(&el)?,
            "toTimeStamp" => query.to = xin.opt_time(&el)?,
            "startRecord" => start_record = xin.opt_parse(&el)?,
            _ => xin.skip(&el)?,
        }
        Ok(())
    })?;
    Ok(Request::GetChargingSessionData {
        query,
        start_record,
    })
}

pub(crate) fn write_response(
    out: &mut XmlOut,
    outcome: &Outcome,
    sessions: &[ChargingSession],
    more: bool,
) {
    response_body(out, METHOD, outcome, |out| {
        for s in sessions {
            out.element("ChargingSessionData", |out| {
                out.leaf("stationID", s.station_id.as_str())
                    .leaf_opt("stationName", s.station_name.as_deref())
                    .leaf_num_opt("portNumber", s.port)
                    .leaf_opt("Address", s.address.as_deref())
                    .leaf_opt("City", s.city.as_deref())
                    .leaf_opt("State", s.state.as_deref())
                    .leaf_opt("Country", s.country.as_deref())
                    .leaf_opt("postalCode", s.postal_code.as_deref())
                    .leaf_num("sessionID", s.session_id)
                    .leaf_double_opt("Energy", Some(s.energy))
                    .leaf_time_opt("startTime", Some(&s.start_time))
                    .leaf_time_opt("endTime", s.end_time.as_ref())
                    .leaf_opt("userID", s.user_id.as_deref())
                    .leaf_num_opt("recordNumber", s.record_number)
                    .leaf_opt("credentialID", s.credential_id.as_deref());
            });
        }
        out.leaf_num("MoreFlag", u8::from(more));
    });
}

pub(crate) fn read_response<'a>(
    xin: &mut XmlIn<'a>,
    op: &Element<'a>,
) -> Result<Response, XmlError> {
    let page = read_page(
        xin,
        op,
        METHOD,
        "ChargingSessionData",
        |xin, el, entries| {
            entries.push(read_session(xin, el)?);
            Ok(())
        },
    )?;
    Ok(Response::GetChargingSessionData {
        outcome: page.outcome,
        sessions: page.entries,
        more: page.more,
    })
}

/// One `ChargingSessionData`. Energy absent reads as 0 kWh; station, session and start are required.
pub(crate) fn read_session<'a>(
    xin: &mut XmlIn<'a>,
    el: &Element<'a>,
) -> Result<ChargingSession, XmlError> {
    let mut station_id = None;
    let mut session_id = None;
    let mut start_time = None;
    let mut s = ChargingSession {
        station_id: StationId::new(""),
        station_name: None,
        port: None,
        address: None,
        city: None,
        state: None,
        country: None,
        postal_code: None,
        session_id: 0,
        energy: 0.0,
        start_time: chrono::DateTime::UNIX_EPOCH,
        end_time: None,
        user_id: None,
        record_number: None,
        credential_id: None,
        refused: Vec::new(),
    };
    xin.children(el, |xin, el| {
        match el.local() {
            "stationID" => station_id = xin.opt_string(&el)?,
            "stationName" => s.station_name = xin.opt_text(&el)?,
            "portNumber" => s.port = opt_port(xin, &el)?,
            "Address" => s.address = xin.opt_string(&el)?,
            "City" => s.city = xin.opt_text(&el)?,
            "State" => s.state = xin.opt_text(&el)?,
            "Country" => s.country = xin.opt_text(&el)?,
            "postalCode" => s.postal_code = xin.opt_text(&el)?,
            "sessionID" => session_id = xin.opt_parse(&el)?,
            "Energy" => {
                let kwh = physical(
                    xin.opt_double(&el)?,
                    "Energy",
                    SESSION_ENERGY,
                    &mut s.refused,
                );
                s.energy = kwh.unwrap_or(0.0);
            }
            "startTime" => start_time = xin.opt_time(&el)?,
            "endTime" => s.end_time = xin.opt_time(&el)?,
            "userID" => s.user_id = xin.opt_string(&el)?,
            "recordNumber" => s.record_number = xin.opt_parse(&el)?,
            "credentialID" => s.credential_id = xin.opt_string(&el)?,
            _ => xin.skip(&el)?,
        }
        Ok(())
    })?;
    const PARENT: &str = "ChargingSessionData";
    s.station_id = StationId(required(station_id, "stationID", PARENT)?);
    s.session_id = required(session_id, "sessionID", PARENT)?;
    s.start_time = required(start_time, "startTime", PARENT)?;
    Ok(s)
}
