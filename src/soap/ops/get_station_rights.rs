//! getStationRights: the rights profiles the account holds on each station, one `rightsData`
//! per station group; paged with `startRecord` and `moreFlag`.

use std::collections::HashMap;

use cp_actors::RightsQuery;
use cp_registry::{ApiMethod, RightsProfile, StationId, StationRights, Text};

use super::wire::{query_children, read_page, request_body, response_body};
use super::{Outcome, Request, Response};
use crate::soap::xml::{Element, XmlError, XmlIn, XmlOut};

const METHOD: ApiMethod = ApiMethod::GetStationRights;

pub(crate) fn write_request(out: &mut XmlOut, query: &RightsQuery, start_record: Option<i64>) {
    request_body(out, METHOD, |out| {
        out.element("searchQuery", |out| {
            out.leaf_opt(
                "stationID",
                query.station_id.as_ref().map(StationId::as_str),
            )
            .leaf_opt("sgID", query.group_id.as_deref())
            .leaf_num_opt("startRecord", start_record);
        });
    });
}

pub(crate) fn read_request<'a>(xin: &mut XmlIn<'a>, op: &Element<'a>) -> Result<Request, XmlError> {
    let mut query = RightsQuery::default();
    let mut start_record = None;
    query_children(xin, op, "searchQuery", |xin, el| {
        match el.local() {
            "stationID" => query.station_id = xin.opt_string(&el)?.map(StationId),
            "sgID" => query.group_id = xin.opt_string(&el)?,
            "startRecord" => start_record = xin.opt_parse(&el)?,
            _ => xin.skip(&el)?,
        }
        Ok(())
    })?;
    Ok(Request::GetStationRights {
        query,
        start_record,
    })
}

/// Writes one `rightsData` per (station, profile), the shape ChargePoint's sample shows.
pub(crate) fn write_response(
    out: &mut XmlOut,
    outcome: &Outcome,
    rights: &[StationRights],
    more: bool,
) {
    response_body(out, METHOD, outcome, |out| {
        for station in rights {
            for profile in &station.profiles {
                out.element("rightsData", |out| {
                    out.leaf_opt("sgID", profile.group_id.as_deref())
                        .leaf_opt("sgName", profile.group_name.as_deref())
                        .leaf("stationRightsProfile", &profile.profile)
                        .element("stationData", |out| {
                            out.leaf("stationID", station.station_id.as_str())
                                .leaf_opt("stationName", station.station_name.as_deref())
                                .leaf_opt("stationSerialNum", station.station_serial_num.as_deref())
                                .leaf_opt("stationMacAddr", station.station_mac_addr.as_deref());
                        });
                });
            }
        }
        out.leaf_num("moreFlag", u8::from(more));
    });
}

pub(crate) fn read_response<'a>(
    xin: &mut XmlIn<'a>,
    op: &Element<'a>,
) -> Result<Response, XmlError> {
    let page = read_page(xin, op, METHOD, "rightsData", |xin, el, entries| {
        entries.extend(read_rights_data(xin, el)?);
        Ok(())
    })?;
    Ok(Response::GetStationRights {
        outcome: page.outcome,
        rights: merge_by_station(page.entries),
        more: page.more,
    })
}

/// One `rightsData`: a profile and the stations it covers, as one entry per station.
pub(crate) fn read_rights_data<'a>(
    xin: &mut XmlIn<'a>,
    el: &Element<'a>,
) -> Result<Vec<StationRights>, XmlError> {
    let mut profile = RightsProfile {
        group_id: None,
        group_name: None,
        profile: Text::default(),
    };
    let mut stations = Vec::new();
    xin.children(el, |xin, el| {
        match el.local() {
            "sgID" => profile.group_id = xin.opt_text(&el)?,
            "sgName" => profile.group_name = xin.opt_text(&el)?,
            "stationRightsProfile" => {
                let text = xin.text(&el)?;
                profile.profile = xin.share(&text);
            }
            "stationData" => stations.push(read_station(xin, &el)?),
            _ => xin.skip(&el)?,
        }
        Ok(())
    })?;
    if profile.profile.is_empty() && !stations.is_empty() {
        return Err(XmlError::missing("stationRightsProfile", "rightsData"));
    }
    // One profile each (merging across pages adds the others): an exact Vec, as rights are
    // held for hours by the gateway and the station.
    for station in &mut stations {
        station.profiles = vec![profile.clone()];
    }
    Ok(stations)
}

fn read_station<'a>(xin: &mut XmlIn<'a>, el: &Element<'a>) -> Result<StationRights, XmlError> {
    let mut station_id = None;
    let mut rights = StationRights {
        station_id: StationId::new(""),
        station_name: None,
        station_serial_num: None,
        station_mac_addr: None,
        profiles: Vec::new(),
    };
    xin.children(el, |xin, el| {
        match el.local() {
            "stationID" => station_id = xin.opt_string(&el)?,
            "stationName" => rights.station_name = xin.opt_string(&el)?,
            "stationSerialNum" => rights.station_serial_num = xin.opt_string(&el)?,
            "stationMacAddr" => rights.station_mac_addr = xin.opt_string(&el)?,
            _ => xin.skip(&el)?,
        }
        Ok(())
    })?;
    rights.station_id = StationId(super::wire::required(
        station_id,
        "stationID",
        "stationData",
    )?);
    Ok(rights)
}

/// Folds entries that name the same station into one, keeping the order stations first
/// appear in and every profile in order. The client calls it again across pages.
pub fn merge_by_station(entries: Vec<StationRights>) -> Vec<StationRights> {
    let mut merged: Vec<StationRights> = Vec::with_capacity(entries.len());
    let mut index: HashMap<StationId, usize> = HashMap::with_capacity(entries.len());
    for entry in entries {
        match index.get(&entry.station_id) {
            Some(&i) => {
                let into = &mut merged[i];
                into.profiles.extend(entry.profiles);
                into.station_name = into.station_name.take().or(entry.station_name);
                into.station_serial_num =
                    into.station_serial_num.take().or(entry.station_serial_num);
                into.station_mac_addr = into.station_mac_addr.take().or(entry.station_mac_addr);
            }
            None => {
                index.insert(entry.station_id.clone(), merged.len());
                merged.push(entry);
            }
        }
    }
    // Held for hours: a station's profiles without the room their merging grew.
    for station in &mut merged {
        station.profiles.shrink_to_fit();
    }
    merged
}
