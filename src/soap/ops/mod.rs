//! The nine operations as wire-level messages: one request and one response type per
//! operation, shared by the client (writes requests, reads responses) and the simulator
//! (reads requests, writes responses) so the two cannot drift apart.
//!
//! A request here is the trait-level query plus the paging fields that the client fills in
//! while it follows `moreFlag`. A response is one page as it was on the wire.
//!
//! Paging, as client and simulator agree on it: `startRecord` is 1-based, the index of the first
//! record of the page; the client asks for the next page at `startRecord` + the number of records
//! it just received while `moreFlag` (`MoreFlag` for sessions) is 1. A record is a station
//! (getStationStatus, getStations), an alarm, a session, or for getStationRights one
//! (station, profile) pair, i.e. one `rightsData` entry as the writer emits them.
//!
//! Each operation's file holds its four directions: write request, read request, write
//! response, read response.

pub(crate) mod clear_alarms;
pub(crate) mod clear_shed_state;
pub(crate) mod get_alarms;
pub(crate) mod get_charging_session_data;
pub(crate) mod get_load;
pub(crate) mod get_station_rights;
pub(crate) mod get_station_status;
pub(crate) mod get_stations;
pub(crate) mod shed_load;
pub(crate) mod wire;

pub use clear_shed_state::check_clear;
pub use get_station_rights::merge_by_station;
pub use shed_load::check_shed;

use cp_actors::{
    AlarmQuery, ClearAlarmsQuery, ClearShedAck, ClearShedRequest, LoadQuery, RightsQuery,
    SessionQuery, ShedAck, ShedRequest, StationsQuery, StatusQuery,
};
use cp_registry::{
    Alarm, ApiMethod, ChargingSession, LoadReport, StationInfo, StationRights, StationStatus,
};

/// One operation's request body (the element inside `soap:Body`).
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    GetStationStatus {
        query: StatusQuery,
        start_record: Option<i32>,
        num_stations: Option<i32>,
    },
    GetLoad(LoadQuery),
    GetAlarms {
        query: AlarmQuery,
        start_record: Option<i32>,
        num_transactions: Option<i32>,
    },
    ClearAlarms(ClearAlarmsQuery),
    GetStationRights {
        query: RightsQuery,
        start_record: Option<i64>,
    },
    GetChargingSessionData {
        query: SessionQuery,
        start_record: Option<i64>,
    },
    GetStations {
        query: StationsQuery,
        start_record: Option<i32>,
        num_stations: Option<i32>,
    },
    /// Our client always sends `timeInterval`. When the simulator reads a request from a
    /// client that left it empty or out (VOLTTRON's driver does), it reads 0: "until cleared".
    ShedLoad(ShedRequest),
    ClearShedState(ClearShedRequest),
}

impl Request {
    pub fn method(&self) -> ApiMethod {
        match self {
            Request::GetStationStatus { .. } => ApiMethod::GetStationStatus,
            Request::GetLoad(_) => ApiMethod::GetLoad,
            Request::GetAlarms { .. } => ApiMethod::GetAlarms,
            Request::ClearAlarms(_) => ApiMethod::ClearAlarms,
            Request::GetStationRights { .. } => ApiMethod::GetStationRights,
            Request::GetChargingSessionData { .. } => ApiMethod::GetChargingSessionData,
            Request::GetStations { .. } => ApiMethod::GetStations,
            Request::ShedLoad(_) => ApiMethod::ShedLoad,
            Request::ClearShedState(_) => ApiMethod::ClearShedState,
        }
    }
}

/// `responseCode` and `responseText`, present in every response.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub code: String,
    pub text: Option<String>,
}

/// One operation's response body, one page.
#[derive(Debug, Clone, PartialEq)]
pub enum Response {
    GetStationStatus {
        outcome: Outcome,
        stations: Vec<StationStatus>,
        more: bool,
    },
    GetLoad {
        outcome: Outcome,
        report: LoadReport,
    },
    GetAlarms {
        outcome: Outcome,
        alarms: Vec<Alarm>,
        more: bool,
    },
    ClearAlarms {
        outcome: Outcome,
    },
    /// Writers emit one `rightsData` per (station, profile); readers merge the entries that
    /// name the same station, so each station appears once with all its profiles.
    GetStationRights {
        outcome: Outcome,
        rights: Vec<StationRights>,
        more: bool,
    },
    GetChargingSessionData {
        outcome: Outcome,
        sessions: Vec<ChargingSession>,
        more: bool,
    },
    GetStations {
        outcome: Outcome,
        stations: Vec<StationInfo>,
        more: bool,
    },
    ShedLoad {
        outcome: Outcome,
        ack: ShedAck,
    },
    ClearShedState {
        outcome: Outcome,
        ack: ClearShedAck,
    },
}

impl Outcome {
    /// `100`, "API input request executed successfully.": what ChargePoint answers on success.
    pub fn success() -> Self {
        Outcome {
            code: codes::SUCCESS.to_string(),
            text: Some("API input request executed successfully.".to_string()),
        }
    }

    /// Any other code, with its text.
    pub fn new(code: impl Into<String>, text: impl Into<String>) -> Self {
        Outcome {
            code: code.into(),
            text: Some(text.into()),
        }
    }
}

impl Response {
    pub fn method(&self) -> ApiMethod {
        match self {
            Response::GetStationStatus { .. } => ApiMethod::GetStationStatus,
            Response::GetLoad { .. } => ApiMethod::GetLoad,
            Response::GetAlarms { .. } => ApiMethod::GetAlarms,
            Response::ClearAlarms { .. } => ApiMethod::ClearAlarms,
            Response::GetStationRights { .. } => ApiMethod::GetStationRights,
            Response::GetChargingSessionData { .. } => ApiMethod::GetChargingSessionData,
            Response::GetStations { .. } => ApiMethod::GetStations,
            Response::ShedLoad { .. } => ApiMethod::ShedLoad,
            Response::ClearShedState { .. } => ApiMethod::ClearShedState,
        }
    }

    pub fn outcome(&self) -> &Outcome {
        match self {
            Response::GetStationStatus { outcome, .. }
            | Response::GetLoad { outcome, .. }
            | Response::GetAlarms { outcome, .. }
            | Response::ClearAlarms { outcome }
            | Response::GetStationRights { outcome, .. }
            | Response::GetChargingSessionData { outcome, .. }
            | Response::GetStations { outcome, .. }
            | Response::ShedLoad { outcome, .. }
            | Response::ClearShedState { outcome, .. } => outcome,
        }
    }

    /// A response to `method` that carries only `outcome`: no records, no more pages. The
    /// simulator answers error codes (and 136/153 "no data") with it.
    pub fn empty(method: ApiMethod, outcome: Outcome) -> Response {
        match method {
            ApiMethod::GetStationStatus => Response::GetStationStatus {
                outcome,
                stations: Vec::new(),
                more: false,
            },
            ApiMethod::GetLoad => Response::GetLoad {
                outcome,
                report: LoadReport::default(),
            },
            ApiMethod::GetAlarms => Response::GetAlarms {
                outcome,
                alarms: Vec::new(),
                more: false,
            },
            ApiMethod::ClearAlarms => Response::ClearAlarms { outcome },
            ApiMethod::GetStationRights => Response::GetStationRights {
                outcome,
                rights: Vec::new(),
                more: false,
            },
            ApiMethod::GetChargingSessionData => Response::GetChargingSessionData {
                outcome,
                sessions: Vec::new(),
                more: false,
            },
            ApiMethod::GetStations => Response::GetStations {
                outcome,
                stations: Vec::new(),
                more: false,
            },
            ApiMethod::ShedLoad => Response::ShedLoad {
                outcome,
                ack: ShedAck::default(),
            },
            ApiMethod::ClearShedState => Response::ClearShedState {
                outcome,
                ack: ClearShedAck::default(),
            },
        }
    }
}

/// The `responseCode` values this project gives meaning to.
///
/// ChargePoint publishes no code table (see `SERVICE-FACTS.md`): 100, 101, 102, 136 and 153 are
/// what public clients of the live service see; `INVALID_INPUT` and `RATE_LIMITED` are this
/// project's own choice, used by the simulator and understood by the client.
pub mod codes {
    /// "API input request executed successfully."
    pub const SUCCESS: &str = "100";
    /// The account's plan does not grant this method.
    pub const PLAN_RIGHTS: &str = "101";
    /// No station matches the request.
    pub const NO_STATION: &str = "102";
    /// The request's content was not acceptable (our choice of code).
    pub const INVALID_INPUT: &str = "120";
    /// No charging sessions match: an empty result, not an error.
    pub const NO_SESSIONS: &str = "136";
    /// The account is over its request rate (our choice of code).
    pub const RATE_LIMITED: &str = "140";
    /// No alarms (getAlarms) or nothing to clear (clearAlarms): an empty result, not an error.
    pub const NO_ALARMS: &str = "153";
}
