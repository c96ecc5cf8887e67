//! getAlarms: active alarms, filtered by station, group, port and time; paged with
//! `startRecord`/`numTransactions` and `moreFlag`.

use cp_actors::AlarmQuery;
use cp_registry::{Alarm, ApiMethod, GroupId, StationId};

use super::wire::{opt_port, query_children, read_page, request_body, required, response_body};
use super::{Outcome, Request, Response};
use crate::soap::xml::{Element, XmlError, XmlIn, XmlOut};

const METHOD: ApiMethod = ApiMethod::GetAlarms;

pub(crate) fn write_request(
    out: &mut XmlOut,
    query: &AlarmQuery,
    start_record: Option<i32>,
    num_transactions: Option<i32>,
) {
    request_body(out, METHOD, |out| {
        out.element("searchQuery", |out| {
            out.leaf_opt(
                "stationID",
                query.station_id.as_ref().map(StationId::as_str),
            )
            .leaf_num_opt("sgID", query.group_id.map(|g| g.0))
            .leaf_time_opt("startTime", query.start_time.as_ref())
            .leaf_time_opt("endTime", query.end_time.as_ref())
            .leaf_num_opt("portNumber", query.port)
            .leaf_num_opt("startRecord", start_record)
            .leaf_num_opt("numTransactions", num_transactions);
        });
    });
}

pub(crate) fn read_request<'a>(xin: &mut XmlIn<'a>, op: &Element<'a>) -> Result<Request, XmlError> {
    let mut query = AlarmQuery::default();
    let mut start_record = None;
    let mut num_transactions = None;
    query_children(xin, op, "searchQuery", |xin, el| {
        match el.local() {
            "stationID" => query.station_id = xin.opt_string(&el)?.map(StationId),
            "sgID" => query.group_id = xin.opt_parse::<i32>(&el)?.map(GroupId),
            "startTime" => query.start_time = xin.opt_time(&el)?,
            "endTime" => query.end_time = xin.opt_time(&el)?,
            "portNumber" => query.port = opt_port(xin, &el)?,
            "startRecord" => start_record = xin.opt_parse(&el)?,
            "numTransactions" => num_transactions = xin.opt_parse(&el)?,
            _ => xin.skip(&el)?,
        }
        Ok(())
    })?;
    Ok(Request::GetAlarms {
        query,
        start_record,
        num_transactions,
    })
}

pub(crate) fn write_response(out: &mut XmlOut, outcome: &Outcome, alarms: &[Alarm], more: bool) {
    response_body(out, METHOD, outcome, |out| {
        for alarm in alarms {
            out.element("Alarms", |out| {
                out.leaf("stationID", alarm.station_id.as_str())
                    .leaf_opt("stationName", alarm.station_name.as_deref())
                    .leaf_opt("stationModel", alarm.station_model.as_deref())
                    .leaf_opt("orgID", alarm.org_id.as_deref())
                    .leaf_opt("organizationName", alarm.organization_name.as_deref())
                    .leaf_opt("stationManufacturer", alarm.station_manufacturer.as_deref())
                    .leaf_opt("stationSerialNum", alarm.station_serial_num.as_deref())
                    .leaf_num_opt("portNumber", alarm.port)
                    .leaf("alarmType", &alarm.alarm_type)
                    .leaf_time_opt("alarmTime", Some(&alarm.alarm_time))
                    .leaf_num_opt("recordNumber", alarm.record_number);
            });
        }
        out.leaf_num("moreFlag", u8::from(more));
    });
}

pub(crate) fn read_response<'a>(
    xin: &mut XmlIn<'a>,
    op: &Element<'a>,
) -> Result<Response, XmlError> {
    let page = read_page(xin, op, METHOD, "Alarms", |xin, el, entries| {
        entries.push(read_alarm(xin, el)?);
        Ok(())
    })?;
    Ok(Response::GetAlarms {
        outcome: page.outcome,
        alarms: page.entries,
        more: page.more,
    })
}

/// One `Alarms` entry (ChargePoint names each entry in the plural).
pub(crate) fn read_alarm<'a>(xin: &mut XmlIn<'a>, el: &Element<'a>) -> Result<Alarm, XmlError> {
    let mut station_id = None;
    let mut alarm_type = None;
    let mut alarm_time = None;
    let mut alarm = Alarm {
        station_id: StationId::new(""),
        station_name: None,
        station_model: None,
        org_id: None,
        organization_name: None,
        station_manufacturer: None,
        station_serial_num: None,
        port: None,
        alarm_type: String::new(),
        alarm_time: chrono::DateTime::UNIX_EPOCH,
        record_number: None,
    };
    xin.children(el, |xin, el| {
        match el.local() {
            "stationID" => station_id = xin.opt_string(&el)?,
            "stationName" => alarm.station_name = xin.opt_string(&el)?,
            "stationModel" => alarm.station_model = xin.opt_string(&el)?,
            "orgID" => alarm.org_id = xin.opt_string(&el)?,
            "organizationName" => alarm.organization_name = xin.opt_string(&el)?,
            "stationManufacturer" => alarm.station_manufacturer = xin.opt_string(&el)?,
            "stationSerialNum" => alarm.station_serial_num = xin.opt_string(&el)?,
            "portNumber" => alarm.port = opt_port(xin, &el)?,
            "alarmType" => alarm_type = xin.opt_string(&el)?,
            "alarmTime" => alarm_time = xin.opt_time(&el)?,
            "recordNumber" => alarm.record_number = xin.opt_parse(&el)?,
            _ => xin.skip(&el)?,
        }
        Ok(())
    })?;
    alarm.station_id = StationId(required(station_id, "stationID", "Alarms")?);
    alarm.alarm_type = required(alarm_type, "alarmType", "Alarms")?;
    alarm.alarm_time = required(alarm_time, "alarmTime", "Alarms")?;
    Ok(alarm)
}
