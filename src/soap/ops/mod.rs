//! The nine operations as wire-level messages: one request and one response type per
//! operation, shared by the client (writes requests, reads responses) and the simulator
//! (reads requests, writes responses) so the two cannot drift apart.
//!
//! A request here is the trait-level query plus the paging fields that the client fills in
//! while it follows `moreFlag`. A response is one page as it was on the wire.

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
