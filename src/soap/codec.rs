//! Whole SOAP messages to and from the typed [`Request`]/[`Response`]: the envelope from
//! `envelope`, each body from its `ops` module, and the meaning of `responseCode`.
//!
//! Reading is streaming (quick-xml, no DOM), refuses DTDs and entities, and caps the input size.
//! The client uses `write_request` and `read_response`; the simulator `read_request`,
//! `write_response` and `write_fault`.

use cp_actors::SoapError;
use cp_registry::ApiMethod;

use super::envelope::{self, Opened, UsernameToken};
use super::ops::{
    clear_alarms, clear_shed_state, codes, get_alarms, get_charging_session_data, get_load,
    get_station_rights, get_station_status, get_stations, shed_load, Outcome, Request, Response,
};
use super::xml::{XmlError, XmlIn};

pub use super::envelope::write_fault;

/// The largest message either side reads. A full getStations page (500 stations with ports and
/// pricing) is about 1 MiB and a 1,000-station status page about 0.4 MiB; 16 MiB leaves ample
/// room while keeping a hostile or broken peer from making us buffer without bound.
pub const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;

/// The `SOAPAction` header value for `method`, quotes included.
pub fn soap_action(method: ApiMethod) -> String {
    format!(
        "\"urn:provider/interface/chargepointservices/{}\"",
        method.name()
    )
}

/// Why the simulator could not take a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// Not XML, not well-formed, too large, or not a SOAP envelope with a body: answer with a
    /// `soap:Client` fault.
    #[error("not a SOAP request: {detail}")]
    NotSoap { detail: String },
    /// A SOAP body naming an operation this service does not offer: answer with a fault.
    #[error("unknown operation <{name}>")]
    UnknownOperation { name: String },
    /// A known operation whose content is unacceptable: answer that operation's response with
    /// [`codes::INVALID_INPUT`] and `detail` as `responseText`.
    #[error("{method}: invalid request: {detail}")]
    Invalid { method: ApiMethod, detail: String },
}

impl RequestError {
    /// The whole answer the service gives to this error: a `soap:Client` fault, or the
    /// operation's response carrying [`codes::INVALID_INPUT`].
    pub fn to_reply(&self) -> Vec<u8> {
        match self {
            RequestError::NotSoap { .. } | RequestError::UnknownOperation { .. } => {
                write_fault(envelope::CLIENT_FAULT_CODE, &self.to_string())
            }
            RequestError::Invalid { method, detail } => write_response(&Response::empty(
                *method,
                Outcome::new(codes::INVALID_INPUT, detail.clone()),
            )),
        }
    }
}

/// A whole request message: envelope, security header, body.
pub fn write_request(request: &Request, token: &UsernameToken) -> Vec<u8> {
    envelope::write_envelope(Some(token), 512, |out| match request {
        Request::GetStationStatus {
            query,
            start_record,
            num_stations,
        } => get_station_status::write_request(out, query, *start_record, *num_stations),
        Request::GetLoad(query) => get_load::write_request(out, query),
        Request::GetAlarms {
            query,
            start_record,
            num_transactions,
        } => get_alarms::write_request(out, query, *start_record, *num_transactions),
        Request::ClearAlarms(query) => clear_alarms::write_request(out, query),
        Request::GetStationRights {
            query,
            start_record,
        } => get_station_rights::write_request(out, query, *start_record),
        Request::GetChargingSessionData {
            query,
            start_record,
        } => get_charging_session_data::write_request(out, query, *start_record),
        Request::GetStations {
            query,
            start_record,
            num_stations,
        } => get_stations::write_request(out, query, *start_record, *num_stations),
        Request::ShedLoad(request) => shed_load::write_request(out, request),
        Request::ClearShedState(request) => clear_shed_state::write_request(out, request),
    })
}

/// Reads a request message, with the credentials of its `UsernameToken` if it has one.
///
/// # Errors
/// [`RequestError`] says which of the three kinds of bad request this is.
pub fn read_request(bytes: &[u8]) -> Result<(Request, Option<UsernameToken>), RequestError> {
    let not_soap = |e: XmlError| RequestError::NotSoap {
        detail: e.detail().to_string(),
    };
    let mut xin = XmlIn::new(capped(bytes).map_err(not_soap)?);
    let Opened { token, body } = envelope::open(&mut xin).map_err(not_soap)?;
    let Some(method) = ApiMethod::from_name(body.local()) else {
        return Err(RequestError::UnknownOperation {
            name: body.local().to_string(),
        });
    };
    let read = match method {
        ApiMethod::GetStationStatus => get_station_status::read_request(&mut xin, &body),
        ApiMethod::GetLoad => get_load::read_request(&mut xin, &body),
        ApiMethod::GetAlarms => get_alarms::read_request(&mut xin, &body),
        ApiMethod::ClearAlarms => clear_alarms::read_request(&mut xin, &body),
        ApiMethod::GetStationRights => get_station_rights::read_request(&mut xin, &body),
        ApiMethod::GetChargingSessionData => {
            get_charging_session_data::read_request(&mut xin, &body)
        }
        ApiMethod::GetStations => get_stations::read_request(&mut xin, &body),
        ApiMethod::ShedLoad => shed_load::read_request(&mut xin, &body),
        ApiMethod::ClearShedState => clear_shed_state::read_request(&mut xin, &body),
    };
    let request = read.and_then(|r| xin.finish().map(|()| r));
    match request {
        Ok(request) => Ok((request, token)),
        Err(e @ XmlError::Syntax(_)) => Err(not_soap(e)),
        Err(XmlError::Content(detail)) => Err(RequestError::Invalid { method, detail }),
    }
}

/// A whole response message (no header: ChargePoint's responses carry none).
pub fn write_response(response: &Response) -> Vec<u8> {
    // Bytes per station a little over what the simulator's 2-port stations take (380, 1,820
    // and 600), so a 500-station page is written without growing its buffer.
    let capacity = match response {
        Response::GetStationStatus { stations, .. } => stations.len() * 400,
        Response::GetStations { stations, .. } => stations.len() * 2000,
        Response::GetLoad { report, .. } => report.stations.len() * 640,
        _ => 1024,
    };
    envelope::write_envelope(None, capacity, |out| match response {
        Response::GetStationStatus {
            outcome,
            stations,
            more,
        } => get_station_status::write_response(out, outcome, stations, *more),
        Response::GetLoad { outcome, report } => get_load::write_response(out, outcome, report),
        Response::GetAlarms {
            outcome,
            alarms,
            more,
        } => get_alarms::write_response(out, outcome, alarms, *more),
        Response::ClearAlarms { outcome } => clear_alarms::write_response(out, outcome),
        Response::GetStationRights {
            outcome,
            rights,
            more,
        } => get_station_rights::write_response(out, outcome, rights, *more),
        Response::GetChargingSessionData {
            outcome,
            sessions,
            more,
        } => get_charging_session_data::write_response(out, outcome, sessions, *more),
        Response::GetStations {
            outcome,
            stations,
            more,
        } => get_stations::write_response(out, outcome, stations, *more),
        Response::ShedLoad { outcome, ack } => shed_load::write_response(out, outcome, ack),
        Response::ClearShedState { outcome, ack } => {
            clear_shed_state::write_response(out, outcome, ack)
        }
    })
}

/// Reads the response to a `method` call and gives `responseCode` its meaning: success, and
/// the "no data" codes (136 for sessions, 153 for alarms and clearAlarms), are `Ok`; everything
/// else is the matching [`SoapError`]. A SOAP Fault in the body is an error too.
///
/// For getStations, 102 ("no matching station") stays an error (`SoapError::Response`): the
/// caller asked about a station by ID and should learn that ChargePoint does not know it.
///
/// # Errors
/// `Malformed` for anything unreadable or too large, `Auth`/`RateLimited`/`Fault` for faults,
/// `PlanRights`/`InvalidInput`/`RateLimited`/`Response` for error codes.
pub fn read_response(method: ApiMethod, bytes: &[u8]) -> Result<Response, SoapError> {
    let malformed = |e: XmlError| SoapError::Malformed {
        op: method,
        detail: e.detail().to_string(),
    };
    let mut xin = XmlIn::new(capped(bytes).map_err(malformed)?);
    let Opened { body, .. } = envelope::open(&mut xin).map_err(malformed)?;
    if body.local() == "Fault" {
        let fault = envelope::read_fault(&mut xin, &body).map_err(malformed)?;
        xin.finish().map_err(malformed)?;
        return Err(fault.into_error(method));
    }
    let expected = format!("{}Response", method.name());
    if body.local() != expected {
        return Err(SoapError::Malformed {
            op: method,
            detail: format!("expected <{expected}>, found <{}>", body.local()),
        });
    }
    let response = match method {
        ApiMethod::GetStationStatus => get_station_status::read_response(&mut xin, &body),
        ApiMethod::GetLoad => get_load::read_response(&mut xin, &body),
        ApiMethod::GetAlarms => get_alarms::read_response(&mut xin, &body),
        ApiMethod::ClearAlarms => clear_alarms::read_response(&mut xin, &body),
        ApiMethod::GetStationRights => get_station_rights::read_response(&mut xin, &body),
        ApiMethod::GetChargingSessionData => {
            get_charging_session_data::read_response(&mut xin, &body)
        }
        ApiMethod::GetStations => get_stations::read_response(&mut xin, &body),
        ApiMethod::ShedLoad => shed_load::read_response(&mut xin, &body),
        ApiMethod::ClearShedState => clear_shed_state::read_response(&mut xin, &body),
    }
    .map_err(malformed)?;
    xin.finish().map_err(malformed)?;
    check_outcome(response)
}

/// Turns a non-success `responseCode` into its error, and the "no data" codes into an empty
/// answer.
fn check_outcome(response: Response) -> Result<Response, SoapError> {
    let op = response.method();
    let Outcome { code, text } = response.outcome().clone();
    let no_data = match op {
        ApiMethod::GetChargingSessionData => code == codes::NO_SESSIONS,
        ApiMethod::GetAlarms | ApiMethod::ClearAlarms => code == codes::NO_ALARMS,
        _ => false,
    };
    if code == codes::SUCCESS {
        return Ok(response);
    }
    if no_data {
        return Ok(Response::empty(op, Outcome { code, text }));
    }
    let text = text.unwrap_or_default();
    Err(match code.as_str() {
        codes::PLAN_RIGHTS => SoapError::PlanRights { op, code, text },
        codes::INVALID_INPUT => SoapError::InvalidInput { op, code, text },
        codes::RATE_LIMITED => SoapError::RateLimited {
            op,
            retry_after: None,
        },
        _ => SoapError::Response { op, code, text },
    })
}

/// The message, if it is within [`MAX_RESPONSE_BYTES`].
fn capped(bytes: &[u8]) -> Result<&[u8], XmlError> {
    if bytes.len() > MAX_RESPONSE_BYTES {
        return Err(XmlError::Syntax(format!(
            "message of {} bytes is over the {MAX_RESPONSE_BYTES}-byte limit",
            bytes.len()
        )));
    }
    Ok(bytes)
}
