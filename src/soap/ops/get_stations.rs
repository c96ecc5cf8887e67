//! getStations: each station's static description (`stationDataExtended`), at most 500 a
//! page, paged with `startRecord`/`numStations` and `moreFlag`.

use cp_actors::StationsQuery;
use cp_registry::{ApiMethod, PortInfo, Pricing, StationId, StationInfo};

use super::wire::{opt_port, query_children, read_page, request_body, required, response_body};
use super::{Outcome, Request, Response};
use crate::soap::xml::{Element, XmlError, XmlIn, XmlOut};

const METHOD: ApiMethod = ApiMethod::GetStations;

/// The schema allows at most two `Pricing` entries per station (maxOccurs="2").
const MAX_PRICING: usize = 2;

pub(crate) fn write_request(
    out: &mut XmlOut,
    query: &StationsQuery,
    start_record: Option<i32>,
    num_stations: Option<i32>,
) {
    request_body(out, METHOD, |out| {
        out.element("searchQuery", |out| {
            out.leaf_opt(
                "stationID",
                query.station_id.as_ref().map(StationId::as_str),
            )
            .leaf_opt("sgID", query.group_id.as_deref())
            .leaf_num_opt("startRecord", start_record)
            .leaf_num_opt("numStations", num_stations);
        });
    });
}

pub(crate) fn read_request<'a>(xin: &mut XmlIn<'a>, op: &Element<'a>) -> Result<Request, XmlError> {
    let mut query = StationsQuery::default();
    let mut start_record = None;
    let mut num_stations = None;
    query_children(xin, op, "searchQuery", |xin, el| {
        match el.local() {
            "stationID" => query.station_id = xin.opt_string(&el)?.map(StationId),
            "sgID" => query.group_id = xin.opt_string(&el)?,
            "startRecord" => start_record = xin.opt_parse(&el)?,
            "numStations" => num_stations = xin.opt_parse(&el)?,
            _ => xin.skip(&el)?,
        }
        Ok(())
    })?;
    Ok(Request::GetStations {
        query,
        start_record,
        num_stations,
    })
}

pub(crate) fn write_response(
    out: &mut XmlOut,
    outcome: &Outcome,
    stations: &[StationInfo],
    more: bool,
) {
    response_body(out, METHOD, outcome, |out| {
        for station in stations {
            out.element("stationData", |out| write_station(out, station));
        }
        out.leaf_num("moreFlag", u8::from(more));
    });
}

/// `stationDataExtended`: `getStationData`'s sequence, then orgID and organizationName
/// (required), sgID and sgName.
fn write_station(out: &mut XmlOut, s: &StationInfo) {
    out.leaf_opt("stationID", s.station_id.as_ref().map(StationId::as_str))
        .leaf_opt("stationManufacturer", s.manufacturer.as_deref())
        .leaf_opt("stationModel", s.model.as_deref())
        .leaf_opt("stationMacAddr", s.mac_addr.as_deref())
        .leaf_opt("stationSerialNum", s.serial_num.as_deref())
        .leaf_time_opt("stationActivationDate", s.activation_date.as_ref())
        .leaf_opt("Address", s.address.as_deref())
        .leaf_opt("City", s.city.as_deref())
        .leaf_opt("State", s.state.as_deref())
        .leaf_opt("Country", s.country.as_deref())
        .leaf_opt("postalCode", s.postal_code.as_deref());
    for port in &s.ports {
        out.element("Port", |out| write_port(out, port));
    }
    for pricing in s.pricing.iter().take(MAX_PRICING) {
        out.element("Pricing", |out| write_pricing(out, pricing));
    }
    out.leaf_num_opt("numPorts", s.num_ports)
        .leaf_opt("mainPhone", s.main_phone.as_deref())
        .leaf_opt("currencyCode", s.currency_code.as_deref())
        .leaf("orgID", &s.org_id)
        .leaf("organizationName", &s.organization_name)
        .leaf_opt("sgID", s.group_id.as_deref())
        .leaf_opt("sgName", s.group_name.as_deref());
}

fn write_port(out: &mut XmlOut, p: &PortInfo) {
    out.leaf_num_opt("portNumber", p.port)
        .leaf_opt("stationName", p.station_name.as_deref());
    // geoData requires both Lat and Long.
    if let (Some(lat), Some(long)) = (&p.lat, &p.long) {
        out.element("Geo", |out| {
            out.leaf("Lat", lat).leaf("Long", long);
        });
    }
    out.leaf_opt("Description", p.description.as_deref())
        .leaf_num_opt("Reservable", p.reservable)
        .leaf_opt("Status", p.status.as_deref())
        .leaf_opt("Level", p.level.as_deref())
        .leaf_opt("Mode", p.mode.as_deref())
        .leaf_opt("Connector", p.connector.as_deref())
        .leaf_opt("Voltage", p.voltage.as_deref())
        .leaf_opt("Current", p.current.as_deref())
        .leaf_opt("Power", p.power.as_deref());
}

fn write_pricing(out: &mut XmlOut, p: &Pricing) {
    out.leaf_opt("Type", p.kind.as_deref())
        .leaf_opt("startTime", p.start_time.as_deref())
        .leaf_opt("endTime", p.end_time.as_deref())
        .leaf_double_opt("minPrice", p.min_price)
        .leaf_double_opt("maxPrice", p.max_price)
        .leaf_num_opt("initialUnitPriceDuration", p.initial_unit_price_duration)
        .leaf_double_opt("unitPricePerHour", p.unit_price_per_hour)
        .leaf_double_opt(
            "unitPricePerHourThereafter",
            p.unit_price_per_hour_thereafter,
        )
        .leaf_double_opt("unitPricePerSession", p.unit_price_per_session)
        .leaf_double_opt("unitPricePerKWh", p.unit_price_per_kwh)
        .leaf_opt("sessionTime", p.session_time.as_deref());
}

pub(crate) fn read_response<'a>(
    xin: &mut XmlIn<'a>,
    op: &Element<'a>,
) -> Result<Response, XmlError> {
    let page = read_page(xin, op, METHOD, "stationData", |xin, el, entries| {
        entries.push(read_station(xin, el)?);
        Ok(())
    })?;
    Ok(Response::GetStations {
        outcome: page.outcome,
        stations: page.entries,
        more: page.more,
    })
}

fn read_station<'a>(xin: &mut XmlIn<'a>, el: &Element<'a>) -> Result<StationInfo, XmlError> {
    let mut s = StationInfo::default();
    let mut org_id = None;
    let mut organization_name = None;
    xin.children(el, |xin, el| {
        match el.local() {
            "stationID" => s.station_id = xin.opt_string(&el)?.map(StationId),
            "stationManufacturer" => s.manufacturer = xin.opt_text(&el)?,
            "stationModel" => s.model = xin.opt_text(&el)?,
            "stationMacAddr" => s.mac_addr = xin.opt_string(&el)?,
            "stationSerialNum" => s.serial_num = xin.opt_string(&el)?,
            "stationActivationDate" => s.activation_date = xin.opt_time(&el)?,
            "Address" => s.address = xin.opt_string(&el)?,
            "City" => s.city = xin.opt_text(&el)?,
            "State" => s.state = xin.opt_text(&el)?,
            "Country" => s.country = xin.opt_text(&el)?,
            "postalCode" => s.postal_code = xin.opt_text(&el)?,
            "Port" => s.ports.push(read_port(xin, &el)?),
            "Pricing" => s.pricing.push(read_pricing(xin, &el)?),
            "numPorts" => s.num_ports = xin.opt_parse(&el)?,
            "mainPhone" => s.main_phone = xin.opt_text(&el)?,
            "currencyCode" => s.currency_code = xin.opt_text(&el)?,
            "orgID" => org_id = Some(xin.text(&el)?),
            "organizationName" => organization_name = Some(xin.text(&el)?),
            "sgID" => s.group_id = xin.opt_text(&el)?,
            "sgName" => s.group_name = xin.opt_text(&el)?,
            _ => xin.skip(&el)?,
        }
        Ok(())
    })?;
    // Held for hours by the gateway and the station: without the doubling's spare room (a
    // 2-port station's ports would take room for 4, ~600 bytes more).
    s.ports.shrink_to_fit();
    s.pricing.shrink_to_fit();
    s.org_id = xin.share(&required(org_id, "orgID", "stationData")?);
    s.organization_name = xin.share(&required(
        organization_name,
        "organizationName",
        "stationData",
    )?);
    Ok(s)
}

fn read_port<'a>(xin: &mut XmlIn<'a>, el: &Element<'a>) -> Result<PortInfo, XmlError> {
    let mut p = PortInfo::default();
    xin.children(el, |xin, el| {
        match el.local() {
            "portNumber" => p.port = opt_port(xin, &el)?,
            "stationName" => p.station_name = xin.opt_string(&el)?,
            "Geo" => xin.children(&el, |xin, el| {
                match el.local() {
                    "Lat" => p.lat = xin.opt_string(&el)?,
                    "Long" => p.long = xin.opt_string(&el)?,
                    _ => xin.skip(&el)?,
                }
                Ok(())
            })?,
            "Description" => p.description = xin.opt_text(&el)?,
            "Reservable" => p.reservable = xin.opt_parse(&el)?,
            "Status" => p.status = xin.opt_text(&el)?,
            "Level" => p.level = xin.opt_text(&el)?,
            "Mode" => p.mode = xin.opt_text(&el)?,
            "Connector" => p.connector = xin.opt_text(&el)?,
            "Voltage" => p.voltage = xin.opt_text(&el)?,
            "Current" => p.current = xin.opt_text(&el)?,
            "Power" => p.power = xin.opt_text(&el)?,
            _ => xin.skip(&el)?,
        }
        Ok(())
    })?;
    Ok(p)
}

fn read_pricing<'a>(xin: &mut XmlIn<'a>, el: &Element<'a>) -> Result<Pricing, XmlError> {
    let mut p = Pricing::default();
    xin.children(el, |xin, el| {
        match el.local() {
            "Type" => p.kind = xin.opt_text(&el)?,
            "startTime" => p.start_time = xin.opt_text(&el)?,
            "endTime" => p.end_time = xin.opt_text(&el)?,
            "minPrice" => p.min_price = xin.opt_double(&el)?,
            "maxPrice" => p.max_price = xin.opt_double(&el)?,
            "initialUnitPriceDuration" => p.initial_unit_price_duration = xin.opt_parse(&el)?,
            "unitPricePerHour" => p.unit_price_per_hour = xin.opt_double(&el)?,
            "unitPricePerHourThereafter" => {
                p.unit_price_per_hour_thereafter = xin.opt_double(&el)?
            }
            "unitPricePerSession" => p.unit_price_per_session = xin.opt_double(&el)?,
            "unitPricePerKWh" => p.unit_price_per_kwh = xin.opt_double(&el)?,
            "sessionTime" => p.session_time = xin.opt_text(&el)?,
            _ => xin.skip(&el)?,
        }
        Ok(())
    })?;
    Ok(p)
}
